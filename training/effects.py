"""Rollout effects from staggered timing: two-way fixed effects with market trends and seasons.

For one app, with Y and the rollout response X as markets x weeks arrays,

    y[m, t] = a_m . z_t  +  g_t  +  beta * x[m, t]  +  e[m, t]

where z_t holds an intercept, a linear trend and yearly Fourier terms (so every market has its
own level, trend and seasonal shape) and g_t is a week effect common to the app's markets.
Markets that launch at different times (and never-launched ones) identify beta against those
week effects. x = hill(adstock(share)) with carry-over and saturation chosen by time-blocked
cross-validation; uncertainty comes from a bootstrap that resamples whole markets, widened
by a simultaneous (max-t over the shape grid) critical value so the shape selection is paid for.

The nuisance terms are removed exactly: R(Y) = (I - J_w) Y (I - P_Z), with P_Z the projection
on z and J_w the (weighted) average over markets, so each fit is a few matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy import stats

from data.exposure import adstock, rollout_response
from training.arrays import AppPanel

OUTCOMES = ("log_time", "log_dau")


@dataclass(frozen=True)
class ResponseShape:
    """Carry-over and saturation of the rollout response."""

    carryover: float
    half_saturation: float
    shape: float

    def response(self, share: np.ndarray) -> np.ndarray:
        """hill(adstock(share)): the 0..1 response that multiplies an effect size."""
        return rollout_response(share, self.carryover, self.half_saturation, self.shape)

    def exposure(self, share: np.ndarray) -> np.ndarray:
        """The carried-over exposure (before saturation); its last week seeds a forecast."""
        return adstock(share, self.carryover)


DEFAULT_GRID = tuple(ResponseShape(c, k, s) for c, k, s in product(
    (0.0, 0.5, 0.7, 0.8, 0.9), (0.2, 0.35, 0.6, 1.5), (1.0, 1.5, 2.5)))


# ------------------------------------------------------------------------- residualising

def project_out_basis(values: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """values (I - P_Z) along the week axis: remove each market's level, trend and season."""
    coef = np.linalg.solve(basis.T @ basis, basis.T @ values.T)
    return values - (basis @ coef).T


def demean_markets(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Remove the (weighted) average over markets of each week: the common week effects."""
    if weights is None:
        return values - values.mean(axis=0, keepdims=True)
    return values - (weights @ values / weights.sum())[None, :]


def residualise(values: np.ndarray, basis: np.ndarray) -> np.ndarray:
    return demean_markets(project_out_basis(values, basis))


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


def estimate_effects(app_panel: AppPanel, response: np.ndarray, basis: np.ndarray) -> EffectEstimate:
    rx = residualise(response, basis)
    beta_time = ols_on_residuals(residualise(app_panel.log_time, basis), [rx])[0]
    beta_dau = ols_on_residuals(residualise(app_panel.log_dau, basis), [rx])[0]
    elasticity, direct = ols_on_residuals(residualise(app_panel.log_revenue, basis),
                                          [residualise(app_panel.log_minutes, basis), rx])
    return EffectEstimate(float(beta_time), float(beta_dau), float(elasticity), float(direct))


# ------------------------------------------------------------------------- cross-validation

def cv_folds(app_panel: AppPanel, block_weeks: int = 26, n_blocks: int = 6) -> list[np.ndarray]:
    """Week blocks that cover the rollout: the last `n_blocks` blocks from the first launch on."""
    launched = np.flatnonzero((app_panel.share > 0).any(axis=0))
    if len(launched) == 0:
        return []
    first = launched[0]
    n_weeks = app_panel.share.shape[1]
    starts = list(range(first, n_weeks - block_weeks // 2, block_weeks))[-n_blocks:]
    return [np.arange(s, min(s + block_weeks, n_weeks)) for s in starts]


def cv_score(app_panel: AppPanel, shape: ResponseShape, basis: np.ndarray, folds: list[np.ndarray]) -> float:
    """Mean squared error of held-out weeks of launched markets, predicted from the other weeks.

    Each fold leaves a block of weeks out of the fit; the week effects of the held-out weeks come
    from markets with no exposure in them (never or not yet launched), as in an imputation DiD.
    """
    response = shape.response(app_panel.share)
    errors = []
    for held in folds:
        keep = np.setdiff1d(np.arange(response.shape[1]), held)
        controls = (response[:, held] == 0).all(axis=1)
        treated = ~controls & (response[:, held] > 0).any(axis=1)
        if controls.sum() < 2 or treated.sum() == 0:
            continue
        z_fit, z_out = basis[keep], basis[held]
        rx = residualise(response[:, keep], z_fit)
        for outcome in OUTCOMES:
            y = getattr(app_panel, outcome)
            beta = ols_on_residuals(residualise(y[:, keep], z_fit), [rx])[0]
            cleaned = y[:, keep] - beta * response[:, keep]
            coef = np.linalg.solve(z_fit.T @ z_fit, z_fit.T @ cleaned.T)       # each market's own terms
            own = (z_out @ coef).T                                             # markets x held weeks
            held_y = y[:, held] - beta * response[:, held] - own
            week_effect = held_y[controls].mean(axis=0)
            errors.append(((held_y[treated] - week_effect) ** 2).ravel())
    return float(np.mean(np.concatenate(errors))) if errors else np.nan


def select_shape(app_panel: AppPanel, basis: np.ndarray, grid=DEFAULT_GRID) -> tuple[ResponseShape, dict]:
    """The grid point with the lowest time-blocked CV error, and every point's score."""
    folds = cv_folds(app_panel)
    scores = {shape: cv_score(app_panel, shape, basis, folds) for shape in grid}
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    if not finite:  # no launched market or no controls: fall back to the in-sample fit
        finite = {shape: _in_sample_sse(app_panel, shape, basis) for shape in grid}
        scores = finite
    best = min(finite, key=finite.get)
    return best, scores


def _in_sample_sse(app_panel: AppPanel, shape: ResponseShape, basis: np.ndarray) -> float:
    response = shape.response(app_panel.share)
    rx = residualise(response, basis)
    if not np.any(rx):
        return float("inf")
    sse = 0.0
    for outcome in OUTCOMES:
        ry = residualise(getattr(app_panel, outcome), basis)
        beta = ols_on_residuals(ry, [rx])[0]
        sse += float(np.sum((ry - beta * rx) ** 2))
    return sse


# ------------------------------------------------------------------------- bootstrap

def market_bootstrap_weights(n_markets: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Resampling whole markets with replacement: how often each market is drawn, per replicate."""
    draws = rng.integers(0, n_markets, size=(n_boot, n_markets))
    return np.stack([np.bincount(d, minlength=n_markets) for d in draws]).astype(float)


def _weighted_cross(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_m w_m <a_m - abar_w, b_m - bbar_w> for every replicate's weights (rows of `weights`)."""
    total = weights.sum(axis=1)
    abar = weights @ a / total[:, None]
    bbar = weights @ b / total[:, None]
    return weights @ np.einsum("mt,mt->m", a, b) - total * np.einsum("bt,bt->b", abar, bbar)


def bootstrap_fit_gain(app_panel: AppPanel, shapes: list[ResponseShape], basis: np.ndarray,
                       weights: np.ndarray) -> np.ndarray:
    """How well each shape fits each replicate (shapes x replicates): the share of each
    outcome's residual variance the response explains, summed over outcomes.
    """
    ys = {o: project_out_basis(getattr(app_panel, o), basis) for o in OUTCOMES}
    yy = {o: _weighted_cross(y, y, weights) for o, y in ys.items()}
    gain = []
    for shape in shapes:
        x = project_out_basis(shape.response(app_panel.share), basis)
        xx = _weighted_cross(x, x, weights)
        with np.errstate(invalid="ignore", divide="ignore"):
            gain.append(sum(_weighted_cross(y, x, weights) ** 2 / xx / yy[o] for o, y in ys.items()))
    return np.nan_to_num(np.array(gain), nan=-np.inf)


def bootstrap_effects(app_panel: AppPanel, shapes: list[ResponseShape], basis: np.ndarray,
                      weights: np.ndarray, choice: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Effect estimates for each replicate of market weights (replicates x markets).

    Each replicate uses the shape `choice[b]` (an index into `shapes`), by default the one that
    fits that replicate best (`bootstrap_fit_gain`), so the draws carry the uncertainty of
    carry-over and saturation. The basis projection acts within markets, so it is done once;
    only the week effects depend on which markets were drawn. Returns per-replicate arrays,
    `shape_index` included; replicates where an effect is not estimable are dropped.
    """
    if choice is None:
        choice = np.argmax(bootstrap_fit_gain(app_panel, shapes, basis, weights), axis=0)
    ys = {o: project_out_basis(getattr(app_panel, o), basis) for o in OUTCOMES}
    m = project_out_basis(app_panel.log_minutes, basis)
    r = project_out_basis(app_panel.log_revenue, basis)
    mm, mr = _weighted_cross(m, m, weights), _weighted_cross(m, r, weights)
    out = {k: np.full(len(weights), np.nan) for k in ("log_time", "log_dau", "revenue_elasticity",
                                                      "direct_log_revenue")}
    with np.errstate(invalid="ignore", divide="ignore"):
        for s in np.unique(choice):
            rows = choice == s
            w = weights[rows]
            x = project_out_basis(shapes[s].response(app_panel.share), basis)
            xx = _weighted_cross(x, x, w)
            for outcome in OUTCOMES:
                out[outcome][rows] = _weighted_cross(ys[outcome], x, w) / xx
            mx, xr = _weighted_cross(m, x, w), _weighted_cross(x, r, w)
            det = mm[rows] * xx - mx**2
            out["revenue_elasticity"][rows] = (xx * mr[rows] - mx * xr) / det
            out["direct_log_revenue"][rows] = (mm[rows] * xr - mx * mr[rows]) / det
    out["shape_index"] = np.asarray(choice)
    valid = np.all([np.isfinite(v) for v in out.values()], axis=0)
    return {k: v[valid] for k, v in out.items()}


# ------------------------------------------------------------------------- selection-adjusted intervals

def max_t_over_shapes(app_panel: AppPanel, shapes: list[ResponseShape], basis: np.ndarray,
                      weights: np.ndarray) -> np.ndarray:
    """Per replicate, the largest |t| of the log-minutes effect over every candidate shape.

    t = (replicate estimate - full-sample estimate) / bootstrap standard deviation, per shape.
    Its quantiles give simultaneous critical values over the grid: an interval built with them
    holds whichever shape the data selected, so choosing the shape by CV does not make the
    interval too narrow (without it, null worlds contained zero in only ~80% of cases).
    """
    y = project_out_basis(app_panel.log_minutes, basis)
    ones = np.ones((1, weights.shape[1]))
    t_max = np.zeros(len(weights))
    for shape in shapes:
        x = project_out_basis(shape.response(app_panel.share), basis)
        xx = _weighted_cross(x, x, weights)
        xx_full = _weighted_cross(x, x, ones)[0]
        if xx_full <= 0:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = _weighted_cross(y, x, weights) / xx
        beta_full = _weighted_cross(y, x, ones)[0] / xx_full
        sd = np.nanstd(beta)
        if np.isfinite(sd) and sd > 0:
            t_max = np.fmax(t_max, np.abs(beta - beta_full) / sd)
    return t_max


def interval_inflation(max_t: np.ndarray, level: float) -> float:
    """How much to widen bootstrap paths around the estimate for a `level` interval (at least 1).

    The ratio of the simultaneous critical value over shapes to the normal one at that level.
    """
    return max(1.0, float(np.quantile(max_t, level) / stats.norm.ppf(0.5 + level / 2.0)))
