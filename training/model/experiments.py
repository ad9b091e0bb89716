"""Lift tests in the model: what the curve predicts for each test, and the tests as evidence on
the shape, the effect sizes and each market's own effect.

A test of market m from week t1 to t2 holds a test arm at share s_T and a reference arm at s_R,
both following the market's own shares before t1. The curve predicts its lift of log outcome o
as slope_o x r_m x x(theta), with x(theta) the response added, averaged over the test's weeks:
mean_t [hill(adstock(T))_t - hill(adstock(R))_t] under the shape theta, r_m the market's
relative effect, and slope_o the app's effect on o (log time, log DAU, or log revenue: the
elasticity times the first two plus the direct term).

Calibration (`ImpactModel.fit(panel, experiments=...)`):
- the shape: the tests' likelihood given the panel, y ~ N(beta_hat(theta) r x(theta), diag(se^2)
  + V(theta) (r x)(r x)'), with beta_hat and V the panel's profile estimate and its variance
  under theta, is added to the shape's log posterior (`tests_loglik`);
- the effect sizes: each bootstrap replicate's panel estimate is combined with the tests, each
  test's result redrawn within its standard error, by precision (`calibrate_draws`), so the draws
  carry the tests' uncertainty;
- the markets' own effects: a test's lift over x measures slope x r_m (`market_measurements`),
  pooled with the market's own estimate.

A test whose result and the panel's prediction (`panel_predictions`) differ by more than
CONFLICT_Z standard errors of their difference is left out of the calibration and reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.exposure import lift_response
from training.model.effects import ResponseShape, ShapeLikelihood
from training.model.panel import AppPanel

LIFTS = ("log_time", "log_dau", "log_revenue")
SLOPE_OF = {"log_time": "time_spent_min", "log_dau": "dau", "log_revenue": "ad_revenue_usd"}
CONFLICT_Z = 3.0


@dataclass(frozen=True)
class AppTests:
    """One app's lift tests as arrays (n tests), with what the panel alone predicted for them."""

    rows: np.ndarray          # each test's row in the experiments file (from 1)
    market: np.ndarray        # index into the app's markets
    first: np.ndarray         # index of the test's first week on the app's calendar
    last: np.ndarray          # and of its last
    test: np.ndarray          # the test arm's share
    reference: np.ndarray     # the reference arm's share
    lift: np.ndarray          # n x LIFTS, NaN where a lift was not measured
    se: np.ndarray            # n x LIFTS
    source: tuple[str, ...]
    before_mean: np.ndarray   # n: the panel's prediction of the lift of log time per DAU
    before_sd: np.ndarray     # n: its standard deviation
    z: np.ndarray             # n: (measured - predicted) / sd of the difference
    used: np.ndarray          # n: taken into the calibration (|z| <= CONFLICT_Z)

    def __len__(self) -> int:
        return len(self.rows)

    def response_added(self, share: np.ndarray, shape: ResponseShape) -> np.ndarray:
        """x(theta) of every test (n) under `shape`, from the market's shares `share` (markets x weeks)."""
        return lift_response(share[self.market, :int(self.last.max()) + 1], self.first, self.last, self.test,
                             self.reference, shape.carryover, shape.half_saturation, shape.hill_exponent)

    def to_dict(self, markets: list[str], weeks: pd.DatetimeIndex) -> dict:
        """Plain data for model.json."""
        return {"rows": self.rows.tolist(), "market": [markets[m] for m in self.market],
                "first_week": [str(weeks[i].date()) for i in self.first],
                "last_week": [str(weeks[i].date()) for i in self.last],
                "test": self.test.tolist(), "reference": self.reference.tolist(),
                "lift": _nan_to_none(self.lift), "se": _nan_to_none(self.se), "source": list(self.source),
                "before_mean": self.before_mean.tolist(), "before_sd": self.before_sd.tolist(),
                "z": self.z.tolist(), "used": self.used.tolist()}

    @classmethod
    def from_dict(cls, values: dict, markets: list[str], weeks: pd.DatetimeIndex) -> "AppTests":
        position = {w: i for i, w in enumerate(str(w.date()) for w in weeks)}
        return cls(np.array(values["rows"], dtype=int), np.array([markets.index(m) for m in values["market"]], dtype=int),
                   np.array([position[w] for w in values["first_week"]], dtype=int),
                   np.array([position[w] for w in values["last_week"]], dtype=int),
                   np.array(values["test"], dtype=float), np.array(values["reference"], dtype=float),
                   _none_to_nan(values["lift"]), _none_to_nan(values["se"]), tuple(values["source"]),
                   np.array(values["before_mean"], dtype=float), np.array(values["before_sd"], dtype=float),
                   np.array(values["z"], dtype=float), np.array(values["used"], dtype=bool))


def _nan_to_none(values: np.ndarray) -> list:
    return [[None if np.isnan(v) else float(v) for v in row] for row in values]


def _none_to_nan(values: list) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float).reshape(-1, len(LIFTS))


def app_tests(experiments: pd.DataFrame, app_panel: AppPanel) -> AppTests | None:
    """The tests of `experiments` (as `data.experiments.read_experiments` gives them, already
    checked against the panel) that concern this app, before any prediction; None if there are none."""
    mine = experiments.reset_index(drop=True)
    mine = mine.assign(row=np.arange(1, len(mine) + 1))[mine["app"] == app_panel.app]
    if mine.empty:
        return None
    weeks = {w: i for i, w in enumerate(app_panel.weeks)}
    n = len(mine)
    return AppTests(mine["row"].to_numpy(), np.array([app_panel.markets.index(m) for m in mine["market"]]),
                    np.array([weeks[pd.Timestamp(w)] for w in mine["first_week"]]),
                    np.array([weeks[pd.Timestamp(w)] for w in mine["last_week"]]),
                    mine["test_share"].to_numpy(float), mine["reference_share"].to_numpy(float),
                    mine[[f"lift_{name}" for name in LIFTS]].to_numpy(float),
                    mine[[f"se_{name}" for name in LIFTS]].to_numpy(float), tuple(mine["source"]),
                    np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan), np.ones(n, dtype=bool))


def panel_predictions(tests: AppTests, likelihood: ShapeLikelihood, share: np.ndarray,
                      shapes: tuple[ResponseShape, ...], relative: np.ndarray) -> AppTests:
    """`tests` with what the panel alone predicts for their lift of log time per DAU (over the
    panel's posterior `shapes`, each with the profile estimate of the effect and its variance, and
    the markets' `relative` effects), the z of each measured lift against it, and which tests agree
    with the panel well enough (|z| <= CONFLICT_Z) to calibrate it."""
    predictions, variances = [], []
    for shape in shapes:
        beta, variance = likelihood.effect(shape)
        x = tests.response_added(share, shape) * relative[tests.market]
        predictions.append(beta[0] * x)
        variances.append(variance[0] * x**2)
    predictions, variances = np.array(predictions), np.array(variances)
    mean = predictions.mean(axis=0)
    sd = np.sqrt(variances.mean(axis=0) + predictions.var(axis=0))
    z = (tests.lift[:, 0] - mean) / np.sqrt(tests.se[:, 0] ** 2 + sd**2)
    return AppTests(**{**vars(tests), "before_mean": mean, "before_sd": sd, "z": z,
                       "used": np.abs(z) <= CONFLICT_Z})


def tests_loglik(tests: AppTests, likelihood: ShapeLikelihood, share: np.ndarray, shape: ResponseShape,
                 relative: np.ndarray) -> float:
    """The log likelihood of the used tests' lifts of log time and log DAU given the panel, under
    `shape`: per outcome N(beta_hat x, diag(se^2) + V x x'), x the response each test adds times its
    market's relative effect (Sherman-Morrison for the rank-one part)."""
    x = tests.response_added(share, shape) * relative[tests.market]
    beta, variance = likelihood.effect(shape)
    total = 0.0
    for o in range(2):                                   # log time per DAU, log DAU: the panel's outcomes
        keep = tests.used & ~np.isnan(tests.lift[:, o])
        if not keep.any():
            continue
        residual, d, u = tests.lift[keep, o] - beta[o] * x[keep], tests.se[keep, o] ** 2, x[keep]
        scale = 1.0 + variance[o] * np.sum(u * u / d)
        quadratic = np.sum(residual**2 / d) - variance[o] * np.sum(u * residual / d) ** 2 / scale
        total -= 0.5 * (quadratic + np.sum(np.log(d)) + np.log(scale))
    return float(total)


def calibrate_draws(draws: dict[str, np.ndarray], tests: AppTests, share: np.ndarray,
                    shapes: tuple[ResponseShape, ...], deviations: dict[str, np.ndarray],
                    relative: np.ndarray | None, seed: int) -> dict[str, np.ndarray]:
    """Each bootstrap replicate's effects combined with the used tests by precision.

    Per replicate b (its shape, its markets' relative effects): the panel's estimate of log time
    (log DAU) with variance V, the spread of the replicates around the full sample's estimate
    under their own shapes (`deviations`), and each test's lift redrawn as y + se z_b, a
    measurement of slope x r x with variance se^2: the posterior mean (beta_b / V + sum w y_b) /
    (1 / V + sum w x^2). Log revenue's lifts then update the direct term given the calibrated
    time and DAU effects. Over the replicates the draws have the posterior's mean and spread."""
    used = tests.used
    if not used.any():
        return draws
    rng = np.random.default_rng(seed)
    index = draws["shape_index"]
    added = {s: tests.response_added(share, shapes[s])[used] for s in np.unique(index)}
    x = np.array([added[s] for s in index])                                   # replicates x used tests
    if relative is not None:
        x = x * relative[tests.market[used]].T
    lift, se = tests.lift[used], tests.se[used]
    redrawn = lift[None, :, :] + se[None, :, :] * rng.standard_normal((len(index), *lift.shape))
    out = dict(draws)

    def update(prior: np.ndarray, spread: float, y: np.ndarray, error: np.ndarray, slope_x: np.ndarray) -> np.ndarray:
        ok = ~np.isnan(y)
        weight = np.where(ok, 1.0 / np.where(ok, error, 1.0) ** 2, 0.0)
        y = np.where(ok, y, 0.0)
        precision = 1.0 / spread + np.sum(weight * slope_x**2, axis=-1)
        return (prior / spread + np.sum(weight * slope_x * y, axis=-1)) / precision

    for o, name in enumerate(("log_time", "log_dau")):
        spread = max(float(np.var(deviations[name])), 1e-300)
        out[name] = update(draws[name], spread, redrawn[:, :, o], np.broadcast_to(se[:, o], redrawn[:, :, o].shape), x)
    engagement = out["revenue_elasticity"] * (out["log_time"] + out["log_dau"])
    spread = max(float(np.var(deviations["direct_log_revenue"])), 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        direct_y = redrawn[:, :, 2] / x - engagement[:, None]             # what the revenue lift says of the direct term
        direct_se = se[None, :, 2] / np.abs(x)
    usable = np.isfinite(direct_y) & np.isfinite(direct_se)
    out["direct_log_revenue"] = update(draws["direct_log_revenue"], spread, np.where(usable, direct_y, np.nan),
                                       np.where(usable, direct_se, 1.0), np.ones_like(x))
    return out


def market_measurements(tests: AppTests, share: np.ndarray, shape: ResponseShape
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the used tests of log time say of their markets' effects at the mode: (market index,
    lift / x, its variance), the market's effect on log time per unit of response."""
    keep = tests.used & ~np.isnan(tests.lift[:, 0])
    x = tests.response_added(share, shape)[keep]
    ok = np.abs(x) > 0
    return tests.market[keep][ok], tests.lift[keep, 0][ok] / x[ok], (tests.se[keep, 0][ok] / x[ok]) ** 2
