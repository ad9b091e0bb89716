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
- the effect sizes and the markets' own effects: the draws are moved by an ensemble Kalman
  update on the tests, each result redrawn within its standard error (`calibrate_draws`), so the
  draws carry the tests' uncertainty, and a design's expected narrowing (`training.design_test`)
  is the same update's.

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
from training.model.paths import EFFECT_NAMES, slopes

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

    def added_by_draw(self, share: np.ndarray, shapes: tuple[ResponseShape, ...], shape_index: np.ndarray) -> np.ndarray:
        """x of every test under each draw's shape (tests x draws; draw b's shape `shapes[shape_index[b]]`)."""
        added = {s: self.response_added(share, shapes[s]) for s in np.unique(shape_index)}
        return np.array([added[s] for s in shape_index]).T

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
                    shapes: tuple[ResponseShape, ...], market_draws: np.ndarray | None,
                    seed: int) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The draws (effects, and the markets' relative effects `market_draws`) updated on the used
    tests as an ensemble Kalman update: each draw b moves by K (y + e_b - L_b).

    L_b holds draw b's prediction of every measured lift (`predicted_lifts`: its slope times its
    market's relative effect times the response the test adds under its shape), y the results,
    e_b ~ N(0, R) each result redrawn within its standard error (R = diag se^2), and
    K = C_thetaL (C_LL + R)^-1 from the draws' own covariances. So the tests move every effect as
    far as the draws say it goes with the tests' results (log DAU and revenue too, through their
    covariance with log time), the draws keep the posterior's spread, and a test read exactly
    leaves only what the shapes and the other parameters leave open. A market's relative effect
    is moved only by its own tests: the markets' draws are independent, so their sample
    covariance with another market's test is noise (localisation)."""
    used = tests.used
    if not used.any():
        return draws, market_draws
    rng = np.random.default_rng(seed)
    predicted, measured, error, market = predicted_lifts(draws, tests, share, shapes, market_draws)
    innovation = measured[None, :] + error[None, :] * rng.standard_normal(predicted.shape) - predicted
    centred = predicted - predicted.mean(axis=0)
    n = len(predicted)
    gain_solve = np.linalg.solve(centred.T @ centred / n + np.diag(error**2), innovation.T)   # obs x draws
    out = dict(draws)
    for name in EFFECT_NAMES:
        values = draws[name]
        covariance = (values - values.mean()) @ centred / n                                   # obs
        out[name] = values + covariance @ gain_solve
    if market_draws is None:
        return out, None
    markets = market_draws.copy()
    for m in np.unique(market):
        own = market == m                                     # localised: only the market's own tests
        values = market_draws[m]
        covariance = np.where(own, (values - values.mean()) @ centred / n, 0.0)
        markets[m] = values + covariance @ gain_solve
    return out, markets


def predicted_lifts(draws: dict[str, np.ndarray], tests: AppTests, share: np.ndarray,
                    shapes: tuple[ResponseShape, ...], market_draws: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every measured lift of the used tests (one per test and outcome): each draw's prediction
    (draws x lifts), the results, their standard errors and the tests' markets (lifts)."""
    used = np.flatnonzero(tests.used)
    added = tests.added_by_draw(share, shapes, draws["shape_index"])[used]          # used tests x draws
    columns, measured, error, market = [], [], [], []
    for o, name in enumerate(LIFTS):
        seen = ~np.isnan(tests.lift[used, o])
        columns.append(draw_lifts(draws, market_draws, added[seen], tests.market[used[seen]], name).T)
        measured.append(tests.lift[used[seen], o])
        error.append(tests.se[used[seen], o])
        market.append(tests.market[used[seen]])
    return (np.concatenate(columns, axis=1), np.concatenate(measured), np.concatenate(error),
            np.concatenate(market))


def draw_lifts(draws: dict[str, np.ndarray], market_draws: np.ndarray | None, added: np.ndarray,
               markets: np.ndarray, lift: str = "log_time") -> np.ndarray:
    """Each draw's prediction of tests' lifts of `lift` (one of LIFTS; tests x draws): its slope
    times its market's relative effect (`market_draws`, markets x draws; None: 1) times the
    response the test adds under its shape (`added`, tests x draws, in the markets `markets`)."""
    x = added if market_draws is None else added * market_draws[markets]
    return slopes(draws)[SLOPE_OF[lift]][None, :] * x
