"""Rollout effects from staggered timing: two-way fixed effects with market trends and seasons.

For one app, with Y and the rollout response X as markets x weeks arrays,

    y[m, t] = a_m . z_t  +  g_t  +  beta * x[m, t]  +  e[m, t]

where z_t holds an intercept, a linear trend and yearly Fourier terms (so every market has its
own level, trend and seasonal shape) and g_t is a week effect common to the app's markets.
Markets that launch at different times (and never-launched ones) identify beta against those
week effects. x = hill(adstock(share)) with carry-over and saturation chosen by time-blocked
cross-validation; uncertainty comes from a bootstrap that resamples whole markets, widened
by a simultaneous (max-t over the shape grid) critical value so the shape selection is paid for.

Only the cells the panel holds enter (a market contributes the weeks it has). The nuisance
terms are removed exactly (`FixedEffects`): on a balanced panel R(Y) = (I - J_w) Y (I - P_Z),
with P_Z the projection on z and J_w the (weighted) average over markets; on an unbalanced one
each market's basis is projected out on its own weeks and the week effects solve a weeks x
weeks system. The bootstrap reads every replicate off one table of residual cross products.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from itertools import product

import numpy as np
from scipy import stats

from data.exposure import adstock, rollout_response
from training.model.panel import AppPanel

OUTCOMES = ("log_time", "log_dau")


@dataclass(frozen=True)
class ResponseShape:
    """Carry-over and saturation of the rollout response."""

    carryover: float
    half_saturation: float
    hill_exponent: float

    def response(self, share: np.ndarray) -> np.ndarray:
        """hill(adstock(share)): the 0..1 response that multiplies an effect size."""
        return rollout_response(share, self.carryover, self.half_saturation, self.hill_exponent)

    def exposure(self, share: np.ndarray) -> np.ndarray:
        """The carried-over exposure (before saturation); its last week seeds a forecast."""
        return adstock(share, self.carryover)


DEFAULT_GRID = tuple(ResponseShape(c, k, s) for c, k, s in product(
    (0.0, 0.5, 0.7, 0.8, 0.9), (0.2, 0.35, 0.6, 1.5), (1.0, 1.5, 2.5)))


# ------------------------------------------------------------------------- residualising

class FixedEffects:
    """The nuisance terms of one app's regression, on the cells the panel observes.

    Each market has its own level, trend and seasons (`basis`) fitted on its own observed
    weeks, and every week has an effect common to the markets observed in it. With a weight
    w_m per market (a bootstrap replicate), the residual cross product of two series is

        <a, b>_w = sum_m w_m <M_m a_m, M_m b_m>  -  s_a(w)' A(w)^+ s_b(w)

    where M_m removes market m's basis on its weeks, s_a(w) = sum_m w_m M_m a_m (a vector
    over weeks) and A(w) = sum_m w_m M_m restricted to m's weeks (the weeks' Gram matrix, a
    pseudo-inverse because the week effects and the market bases overlap). On a balanced panel
    A(w)^+ = M / sum(w), which the code uses directly; unbalanced panels solve A(w) per replicate.
    """

    def __init__(self, basis: np.ndarray, observed: np.ndarray | None = None):
        self.basis = basis
        self.observed = np.ones((1, len(basis)), dtype=bool) if observed is None else np.asarray(observed, bool)
        self.balanced = bool(self.observed.all())
        n_markets, n_weeks = self.observed.shape
        self.q = np.zeros((n_markets, n_weeks, basis.shape[1]))   # orthonormal basis on each market's weeks
        for m, rows in enumerate(self.observed):
            self.q[m, rows] = np.linalg.qr(basis[rows])[0]

    def within(self, values: np.ndarray) -> np.ndarray:
        """Each market's own level, trend and season removed on its observed weeks; 0 elsewhere."""
        values = np.where(self.observed, values, 0.0)
        if self.balanced:       # one basis for every market
            q = self.q[0]
            return values - (values @ q) @ q.T
        return values - np.einsum("mtk,mk->mt", self.q, np.einsum("mtk,mt->mk", self.q, values))

    def week_gram(self, weights: np.ndarray) -> np.ndarray:
        """A(w) = sum_m w_m M_m on the calendar: weeks x weeks."""
        counts = self.observed.T @ weights
        scaled = (self.q * np.sqrt(weights)[:, None, None]).transpose(1, 0, 2).reshape(self.q.shape[1], -1)
        return np.diag(counts) - scaled @ scaled.T

    def week_effects(self, sums: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """A(w)^+ sums: the week effects of weighted sums over markets (weeks x series)."""
        if self.balanced:
            return sums / weights.sum()
        return _pinv_psd(self.week_gram(weights)) @ sums

    @cached_property
    def _unit_week_solver(self) -> np.ndarray:
        """A(1)^+: the week effects' solver with every market once (the point estimates)."""
        return _pinv_psd(self.week_gram(np.ones(len(self.observed))))

    def residualise(self, values: np.ndarray) -> np.ndarray:
        """Residuals of every observed cell after both sets of nuisance terms (0 elsewhere)."""
        within = self.within(values)
        if self.balanced:
            return within - within.mean(axis=0, keepdims=True)
        weeks = self._unit_week_solver @ within.sum(axis=0)
        return within - self.within(np.broadcast_to(weeks, within.shape))

    def gram(self, series: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Residual cross products of `series` (series x markets x weeks, already `within`) under
        each replicate's market weights (replicates x markets): replicates x series x series."""
        per_market = np.einsum("smt,umt->msu", series, series)
        first = np.tensordot(weights, per_market, axes=(1, 0))
        sums = np.einsum("rm,smt->rts", weights, series)                  # replicates x weeks x series
        if self.balanced:
            second = np.einsum("rts,rtu->rsu", sums, sums) / weights.sum(axis=1)[:, None, None]
        else:
            second = np.stack([s.T @ self.week_effects(s, w) for s, w in zip(sums, weights)])
        return first - second


def _pinv_psd(matrix: np.ndarray) -> np.ndarray:
    """Pseudo-inverse of a symmetric positive semi-definite matrix (its null space dropped)."""
    values, vectors = np.linalg.eigh(matrix)
    keep = values > values.max() * 1e-10
    return (vectors[:, keep] / values[keep]) @ vectors[:, keep].T


def residualise(values: np.ndarray, basis: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
    """Two-way residuals of `values` (markets x weeks) on their observed cells."""
    return FixedEffects(basis, observed if observed is not None else np.ones(values.shape, bool)).residualise(values)


# ------------------------------------------------------------------------- point estimates

def ols_on_residuals(ry: np.ndarray, rxs: list[np.ndarray]) -> np.ndarray:
    """Coefficients of residualised y on residualised regressors (Frisch-Waugh-Lovell)."""
    gram = np.array([[np.vdot(a, b) for b in rxs] for a in rxs])
    return np.linalg.solve(gram, np.array([np.vdot(a, ry) for a in rxs]))


@dataclass(frozen=True)
class EffectEstimate:
    """Point estimates for one app: log effects at full exposure and the revenue link."""

    log_time: float
    log_dau: float
    revenue_elasticity: float
    direct_log_revenue: float

    @property
    def log_minutes(self) -> float:
        return self.log_time + self.log_dau

    @property
    def log_revenue_total(self) -> float:
        """Total log revenue effect at full exposure: via engagement plus direct."""
        return self.revenue_elasticity * self.log_minutes + self.direct_log_revenue


def estimate_effects(app_panel: AppPanel, response: np.ndarray, fe: FixedEffects) -> EffectEstimate:
    """Point estimates on the observed cells: each log outcome on the response, and log revenue on
    log minutes (the elasticity) and the response (the direct term)."""
    rx = fe.residualise(response)
    beta_time = ols_on_residuals(fe.residualise(app_panel.log_time), [rx])[0]
    beta_dau = ols_on_residuals(fe.residualise(app_panel.log_dau), [rx])[0]
    elasticity, direct = ols_on_residuals(fe.residualise(app_panel.log_revenue),
                                          [fe.residualise(app_panel.log_minutes), rx])
    return EffectEstimate(float(beta_time), float(beta_dau), float(elasticity), float(direct))


# ------------------------------------------------------------------------- cross-validation

def cv_folds(app_panel: AppPanel, block_weeks: int = 26, n_blocks: int = 6) -> list[np.ndarray]:
    """Week blocks that cover the rollout: the last `n_blocks` blocks from the first launch on."""
    launched = np.flatnonzero(((app_panel.share > 0) & app_panel.observed).any(axis=0))
    if len(launched) == 0:
        return []
    first = launched[0]
    n_weeks = app_panel.share.shape[1]
    starts = list(range(first, n_weeks - block_weeks // 2, block_weeks))[-n_blocks:]
    return [np.arange(s, min(s + block_weeks, n_weeks)) for s in starts]


@dataclass
class CVFold:
    """What one held-out block needs whatever the shape: the fit weeks' nuisance terms, the
    residualised outcomes, and each market's projection of its own terms onto the held weeks."""

    held: np.ndarray
    keep: np.ndarray
    usable: np.ndarray       # markets with enough fitted weeks (twice their basis)
    seen: np.ndarray         # markets x held weeks: observed and usable
    fe: FixedEffects         # on the usable markets and the kept weeks
    residual: dict           # outcome -> residualised usable markets x kept weeks
    predictor: np.ndarray    # markets x held x kept weeks: z_out pinv(z_fit) on each market's own weeks


def cv_design(app_panel: AppPanel, basis: np.ndarray, folds: list[np.ndarray]) -> list[CVFold]:
    observed = app_panel.observed
    design = []
    for held in folds:
        keep = np.setdiff1d(np.arange(observed.shape[1]), held)
        usable = observed[:, keep].sum(axis=1) >= 2 * basis.shape[1]
        fe = FixedEffects(basis[keep], observed[usable][:, keep])
        predictor = np.zeros((len(observed), len(held), len(keep)))
        for m in np.flatnonzero(usable):
            rows = observed[m, keep]
            predictor[m][:, rows] = basis[held] @ np.linalg.pinv(basis[keep][rows])
        residual = {o: fe.residualise(getattr(app_panel, o)[usable][:, keep]) for o in OUTCOMES}
        design.append(CVFold(held, keep, usable, observed[:, held] & usable[:, None], fe, residual, predictor))
    return design


def cv_score(app_panel: AppPanel, shape: ResponseShape, design: list[CVFold]) -> float:
    """Mean squared error of held-out weeks of launched markets, predicted from the other weeks.

    Each fold leaves a block of weeks out of the fit; the week effects of the held-out weeks come
    from markets with no exposure in them (never or not yet launched), as in an imputation DiD.
    Only observed cells are fitted and scored.
    """
    response = shape.response(app_panel.share)
    errors = []
    for fold in design:
        held, keep, seen = fold.held, fold.keep, fold.seen
        exposed = np.where(seen, response[:, held], 0.0)
        controls = seen.any(axis=1) & (exposed == 0).all(axis=1)
        treated = (exposed > 0).any(axis=1)
        if controls.sum() < 2 or treated.sum() == 0:
            continue
        rx = fold.fe.residualise(response[fold.usable][:, keep])
        for outcome in OUTCOMES:
            y = getattr(app_panel, outcome)
            beta = ols_on_residuals(fold.residual[outcome], [rx])[0]
            cleaned = np.where(app_panel.observed[:, keep], y[:, keep] - beta * response[:, keep], 0.0)
            own = np.einsum("mhk,mk->mh", fold.predictor, cleaned)                # each market's own terms
            held_y = np.where(seen, y[:, held] - beta * response[:, held] - own, np.nan)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)                 # weeks with no control
                week_effect = np.nanmean(np.where(controls[:, None], held_y, np.nan), axis=0)
            error = (held_y[treated] - week_effect) ** 2
            errors.append(error[np.isfinite(error)])
    return float(np.mean(np.concatenate(errors))) if errors else np.nan


def select_shape(app_panel: AppPanel, basis: np.ndarray, grid=DEFAULT_GRID) -> tuple[ResponseShape, dict]:
    """The grid point with the lowest time-blocked CV error, and every point's score."""
    design = cv_design(app_panel, basis, cv_folds(app_panel))
    scores = {shape: cv_score(app_panel, shape, design) for shape in grid}
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    if not finite:  # no launched market or no controls: fall back to the in-sample fit
        fe = FixedEffects(basis, app_panel.observed)
        finite = {shape: _in_sample_sse(app_panel, shape, fe) for shape in grid}
        scores = finite
    best = min(finite, key=finite.get)
    return best, scores


def _in_sample_sse(app_panel: AppPanel, shape: ResponseShape, fe: FixedEffects) -> float:
    rx = fe.residualise(shape.response(app_panel.share))
    if not np.any(rx):
        return float("inf")
    sse = 0.0
    for outcome in OUTCOMES:
        ry = fe.residualise(getattr(app_panel, outcome))
        beta = ols_on_residuals(ry, [rx])[0]
        sse += float(np.sum((ry - beta * rx) ** 2))
    return sse


# ------------------------------------------------------------------------- bootstrap

def market_bootstrap_weights(n_markets: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Resampling whole markets with replacement: how often each market is drawn, per replicate."""
    draws = rng.integers(0, n_markets, size=(n_boot, n_markets))
    return np.stack([np.bincount(d, minlength=n_markets) for d in draws]).astype(float)


BOOTSTRAP_SERIES = ("log_time", "log_dau", "log_minutes", "log_revenue")


@dataclass
class BootstrapGram:
    """Residual cross products, per replicate, of the outcomes and every candidate shape's response.

    Rows and columns: BOOTSTRAP_SERIES, then the shapes in grid order. `full` is the same with
    every market once (the full sample). Everything the bootstrap needs is read off these.
    """

    replicates: np.ndarray   # replicates x series x series
    full: np.ndarray         # series x series

    def cross(self, a: str | int, b: str | int, full: bool = False) -> np.ndarray:
        """<a, b> per replicate (or for the full sample); a shape is named by its grid index."""
        i, j = (_series_index(v) for v in (a, b))
        return self.full[i, j] if full else self.replicates[:, i, j]


def _series_index(name: str | int) -> int:
    return BOOTSTRAP_SERIES.index(name) if isinstance(name, str) else len(BOOTSTRAP_SERIES) + int(name)


def bootstrap_gram(app_panel: AppPanel, shapes: list[ResponseShape], fe: FixedEffects,
                   weights: np.ndarray) -> BootstrapGram:
    """The cross products of every replicate of market weights (replicates x markets)."""
    series = np.stack([fe.within(getattr(app_panel, name)) for name in BOOTSTRAP_SERIES]
                      + [fe.within(shape.response(app_panel.share)) for shape in shapes])
    ones = np.ones((1, weights.shape[1]))
    return BootstrapGram(fe.gram(series, weights), fe.gram(series, ones)[0])


def bootstrap_fit_gain(gram: BootstrapGram, n_shapes: int) -> np.ndarray:
    """How well each shape fits each replicate (shapes x replicates): the share of each
    outcome's residual variance the response explains, summed over outcomes.
    """
    gain = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for s in range(n_shapes):
            xx = gram.cross(s, s)
            gain.append(sum(gram.cross(o, s) ** 2 / xx / gram.cross(o, o) for o in OUTCOMES))
    return np.nan_to_num(np.array(gain), nan=-np.inf)


def bootstrap_effects(gram: BootstrapGram, choice: np.ndarray) -> dict[str, np.ndarray]:
    """Effect estimates of each replicate under the shape `choice[b]` (an index into the grid).

    Each replicate's shape is the one that fits it best (`bootstrap_fit_gain`, or pooled over
    apps), so the draws carry the uncertainty of carry-over and saturation. Returns per-replicate
    arrays, `shape_index` included; replicates where an effect is not estimable are dropped.
    """
    rows = np.arange(len(choice))
    x = len(BOOTSTRAP_SERIES) + np.asarray(choice)
    index = {name: BOOTSTRAP_SERIES.index(name) for name in BOOTSTRAP_SERIES}
    g = gram.replicates

    def cross(a, b):
        return g[rows, a, b]

    xx = cross(x, x)
    m, r = index["log_minutes"], index["log_revenue"]
    mm, mr, mx, xr = g[:, m, m], g[:, m, r], cross(m, x), cross(x, r)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {outcome: cross(index[outcome], x) / xx for outcome in OUTCOMES}
        det = mm * xx - mx**2
        out["revenue_elasticity"] = (xx * mr - mx * xr) / det
        out["direct_log_revenue"] = (mm * xr - mx * mr) / det
    out["shape_index"] = np.asarray(choice)
    valid = np.all([np.isfinite(v) for v in out.values()], axis=0)
    return {k: v[valid] for k, v in out.items()}


# ------------------------------------------------------------------------- selection-adjusted intervals

def max_t_over_shapes(gram: BootstrapGram, n_shapes: int) -> np.ndarray:
    """Per replicate, the largest |t| of the log-minutes effect over every candidate shape.

    t = (replicate estimate - full-sample estimate) / bootstrap standard deviation, per shape.
    Its quantiles give simultaneous critical values over the grid: an interval built with them
    holds whichever shape the data selected, so choosing the shape by CV does not make the
    interval too narrow (without it, null worlds contained zero in only ~80% of cases).
    """
    t_max = np.zeros(len(gram.replicates))
    for s in range(n_shapes):
        xx_full = gram.cross(s, s, full=True)
        if xx_full <= 0:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = gram.cross("log_minutes", s) / gram.cross(s, s)
        beta_full = gram.cross("log_minutes", s, full=True) / xx_full
        sd = np.nanstd(beta)
        if np.isfinite(sd) and sd > 0:
            t_max = np.fmax(t_max, np.abs(beta - beta_full) / sd)
    return t_max


def interval_inflation(max_t: np.ndarray, level: float) -> float:
    """How much to widen bootstrap paths around the estimate for a `level` interval (at least 1).

    The ratio of the simultaneous critical value over shapes to the normal one at that level.
    """
    return max(1.0, float(np.quantile(max_t, level) / stats.norm.ppf(0.5 + level / 2.0)))
