"""Rollout effects from staggered timing: two-way fixed effects with market trends and seasons.

For one app, with Y and the rollout response X as markets x weeks arrays,

    y[m, t] = a_m . z_t  +  g_t  +  beta * x[m, t]  +  e[m, t]

where z_t holds an intercept, a linear trend and yearly Fourier terms (so every market has its
own level, trend and seasonal shape) and g_t is a week effect common to the app's markets.
Markets that launch at different times (and never-launched ones) identify beta against those
week effects. x = hill(adstock(share)) with carry-over, half-saturation and Hill exponent estimated as continuous
parameters by profile likelihood (`ShapeLikelihood`, `fit_shape`), their uncertainty a Laplace
posterior from which the bootstrap replicates draw their shapes (`posterior_shapes`); effect
sizes come from a bootstrap that resamples whole markets, widened by a simultaneous (max-t over
the drawn shapes) critical value. Every point is the mean over those draws, so a point and its
band are one model.

Only the cells the panel holds enter (a market contributes the weeks it has). The nuisance
terms are removed exactly (`FixedEffects`): on a balanced panel R(Y) = (I - J_w) Y (I - P_Z),
with P_Z the projection on z and J_w the (weighted) average over markets; on an unbalanced one
each market's basis is projected out on its own weeks and the week effects solve a weeks x
weeks system. The bootstrap reads every replicate off one table of residual cross products.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from itertools import product

import numpy as np
from scipy import optimize, stats

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


# ------------------------------------------------------------------------- the shape as continuous parameters

MAX_CARRYOVER = 0.98          # carry-over is searched in (0, MAX_CARRYOVER)
SHAPE_PRIOR_CENTRE = (0.6, 0.5, 1.5)   # carry-over, half-saturation, Hill exponent at the prior's centre
SHAPE_PRIOR_SD = 2.0          # prior sd of each transformed parameter (logit carry-over, log k, log exponent)
MAX_RESTARTS = 5              # Nelder-Mead searches of the shape, each from the last one's optimum
POSTERIOR_SHAPES = 32         # shapes drawn from the posterior (a power of 2, for Sobol); replicate b uses shape b mod this


def shape_parameters(shape: ResponseShape) -> np.ndarray:
    """theta = (logit(c / MAX_CARRYOVER), log half-saturation, log Hill exponent): unbounded coordinates."""
    c = min(max(shape.carryover / MAX_CARRYOVER, 1e-4), 1 - 1e-4)
    return np.array([np.log(c / (1 - c)), np.log(shape.half_saturation), np.log(shape.hill_exponent)])


def shape_from_parameters(theta: np.ndarray) -> ResponseShape:
    """The inverse of `shape_parameters`."""
    theta = np.clip(np.asarray(theta, dtype=float), -12.0, 12.0)
    return ResponseShape(float(MAX_CARRYOVER / (1 + np.exp(-theta[0]))), float(np.exp(theta[1])),
                         float(np.exp(theta[2])))


class ShapeLikelihood:
    """One app's profile log likelihood of the response shape, the effect sizes and nuisance terms
    profiled out: for each outcome o (log time, log DAU), -n_o / 2 log RSS_o(shape), where RSS_o
    is the residual sum of squares of the two-way residualised outcome on the residualised
    response (each market's times `multiplier`, its effect over the app's: 1 where markets share
    the app's effect) and n_o the effective number of cells, n (1 - rho) / (1 + rho) with rho the lag-1
    autocorrelation of the residuals at `reference` (the noise is autocorrelated week to week)."""

    def __init__(self, app_panel: AppPanel, fe: FixedEffects, multiplier: np.ndarray | None = None):
        self.markets = list(app_panel.markets)
        self.share = app_panel.share
        self.multiplier = np.ones(len(self.markets)) if multiplier is None else np.asarray(multiplier, float)
        self.observed = app_panel.observed
        self.fe = fe
        self.outcomes = np.stack([fe.residualise(getattr(app_panel, o)) for o in OUTCOMES])
        self.n_effective = np.full(len(OUTCOMES), float(self.observed.sum()))

    def set_reference(self, reference: ResponseShape) -> None:
        """Set the effective sample sizes from the residuals' autocorrelation at `reference`."""
        _, residuals = self._fit(reference)
        observed = self.observed
        pairs = observed[:, 1:] & observed[:, :-1]
        rho = np.array([np.sum((r[:, 1:] * r[:, :-1])[pairs]) / max(np.sum(r[:, :-1][pairs] ** 2), 1e-300)
                        for r in residuals])
        rho = np.clip(rho, 0.0, 0.95)
        self.n_effective = observed.sum() * (1 - rho) / (1 + rho)

    def _response(self, shape: ResponseShape) -> np.ndarray:
        """The residualised response, each market's times its effect multiplier."""
        return self.fe.residualise(self.multiplier[:, None] * shape.response(self.share))

    def _fit(self, shape: ResponseShape) -> tuple[np.ndarray, np.ndarray]:
        rx = self._response(shape)
        xx = np.vdot(rx, rx)
        beta = np.einsum("omt,mt->o", self.outcomes, rx) / xx if xx > 0 else np.zeros(len(OUTCOMES))
        residuals = self.outcomes - beta[:, None, None] * rx
        return np.einsum("omt,omt->o", residuals, residuals), residuals

    def loglik(self, shape: ResponseShape) -> float:
        return float(-np.sum(self.n_effective / 2 * np.log(self._fit(shape)[0])))

    def effect(self, shape: ResponseShape) -> tuple[np.ndarray, np.ndarray]:
        """Per outcome, the profile estimate of the effect under `shape` and its variance,
        RSS / (n_effective <x, x>) (the effective cells account for autocorrelated weeks)."""
        rx = self._response(shape)
        xx = np.vdot(rx, rx)
        if xx <= 0:
            return np.zeros(len(OUTCOMES)), np.full(len(OUTCOMES), np.inf)
        beta = np.einsum("omt,mt->o", self.outcomes, rx) / xx
        residuals = self.outcomes - beta[:, None, None] * rx
        rss = np.einsum("omt,omt->o", residuals, residuals)
        return beta, rss / (self.n_effective * xx)

    def market_scores(self, theta: np.ndarray, step: float) -> np.ndarray:
        """Each market's share of the log likelihood's gradient at theta (markets x 3): the
        derivative of -n_o / 2 log RSS_o taken through that market's own residual sum of squares
        (d log RSS = dRSS / RSS), by central differences."""
        rss = self._fit(shape_from_parameters(theta))[0]
        out = np.empty((len(self.markets), len(theta)))
        for i, unit in enumerate(np.eye(len(theta)) * step):
            up, down = (np.einsum("omt,omt->om", r, r) for r in
                        (self._fit(shape_from_parameters(theta + sign * unit))[1] for sign in (1, -1)))
            out[:, i] = np.sum(-self.n_effective[:, None] / (2 * rss[:, None]) * (up - down) / (2 * step), axis=0)
        return out


def fit_shape(likelihoods: list[ShapeLikelihood], starts: tuple[ResponseShape, ...],
              extra: Callable[[ResponseShape], float] | None = None) -> tuple[ResponseShape, np.ndarray, np.ndarray]:
    """The posterior mode of the shape under the summed log likelihoods of `likelihoods` (apps that
    share a shape) and a weak normal prior on theta (`SHAPE_PRIOR_SD` around SHAPE_PRIOR_CENTRE),
    searched from the best of `starts` by Nelder-Mead, restarted from its optimum until a restart gains
    under 0.01 (a collapsed simplex stops short); and the Laplace approximation: theta's mode
    and a covariance robust to how cells depend on each other within a market: the sandwich
    H^-1 J H^-1, H the Hessian of the negative log posterior (central differences), J the outer
    products of the markets' scores (a market is one cluster across the apps, as in the bootstrap).
    `extra` adds a log likelihood of other evidence (lift tests), its Hessian counted in J as
    well. A single start is taken as known: no search and a zero covariance."""
    if len(starts) == 1:
        return starts[0], shape_parameters(starts[0]), np.zeros((3, 3))
    centre = shape_parameters(ResponseShape(*SHAPE_PRIOR_CENTRE))

    def negative_log_posterior(theta: np.ndarray) -> float:
        shape = shape_from_parameters(theta)
        prior = 0.5 * np.sum(((theta - centre) / SHAPE_PRIOR_SD) ** 2)
        evidence = 0.0 if extra is None else extra(shape)
        return prior - sum(likelihood.loglik(shape) for likelihood in likelihoods) - evidence

    mode = min((shape_parameters(s) for s in starts), key=negative_log_posterior)
    value = np.inf
    for _ in range(MAX_RESTARTS):       # a simplex can collapse before the optimum: restart until it stays
        result = optimize.minimize(negative_log_posterior, mode, method="Nelder-Mead",
                                   options={"xatol": 1e-3, "fatol": 1e-3, "maxfev": 600})
        mode, gained, value = result.x, value - result.fun, result.fun
        if gained < 1e-2:
            break
    hessian = _hessian(negative_log_posterior, mode, step=0.02)
    values, vectors = np.linalg.eigh((hessian + hessian.T) / 2)
    values = np.maximum(values, 1.0 / SHAPE_PRIOR_SD**2)         # at most the prior's spread in any direction
    bread = (vectors / values) @ vectors.T
    clusters: dict[str, np.ndarray] = {}
    for likelihood in likelihoods:
        for market, score in zip(likelihood.markets, likelihood.market_scores(mode, step=0.02)):
            clusters[market] = clusters.get(market, 0.0) + score
    scores = np.array(list(clusters.values()))
    meat = scores.T @ scores * len(scores) / max(len(scores) - 1, 1)
    if extra is not None:                  # the tests are independent of the panel's markets
        meat = meat + _hessian(lambda theta: -extra(shape_from_parameters(theta)), mode, step=0.02)
    covariance = bread @ meat @ bread
    values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
    values = np.clip(values, 0.0, SHAPE_PRIOR_SD**2)
    return shape_from_parameters(mode), mode, (vectors * values) @ vectors.T


def _hessian(f, x: np.ndarray, step: float) -> np.ndarray:
    """Central-difference Hessian of a scalar function."""
    n = len(x)
    out = np.empty((n, n))
    f0 = f(x)
    unit = np.eye(n) * step
    for i in range(n):
        for j in range(i, n):
            if i == j:
                out[i, i] = (f(x + unit[i]) - 2 * f0 + f(x - unit[i])) / step**2
            else:
                out[i, j] = out[j, i] = (f(x + unit[i] + unit[j]) - f(x + unit[i] - unit[j])
                                         - f(x - unit[i] + unit[j]) + f(x - unit[i] - unit[j])) / (4 * step**2)
    return out


def posterior_shapes(mode: np.ndarray, covariance: np.ndarray, n: int, seed: int) -> tuple[ResponseShape, ...]:
    """`n` shapes drawn from the Laplace posterior N(mode, covariance) of theta, by a scrambled
    Sobol sequence (even coverage of the posterior with few draws); one shape if it is known."""
    if not np.any(covariance):
        return (shape_from_parameters(mode),)
    uniform = stats.qmc.Sobol(3, scramble=True, seed=seed).random(n)
    normal = stats.norm.ppf(np.clip(uniform, 1e-6, 1 - 1e-6))
    root = np.linalg.cholesky(covariance + 1e-12 * np.eye(3))
    return tuple(shape_from_parameters(mode + root @ z) for z in normal)


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
        if np.all(weights == 1):
            return self._unit_week_solver @ sums
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


def bootstrap_effects(gram: BootstrapGram, choice: np.ndarray) -> dict[str, np.ndarray]:
    """Effect estimates of each replicate under the shape `choice[b]` (an index into the grid).

    Each replicate's shape is drawn from the shape's posterior (`posterior_shapes`), so the draws
    carry the uncertainty of carry-over and saturation as well as of the effect sizes. Returns per-replicate
    arrays, `shape_index` included; replicates where an effect is not estimable are dropped.
    """
    out = _effects_of(gram, choice)
    valid = np.all([np.isfinite(v) for v in out.values()], axis=0)
    return {k: v[valid] for k, v in out.items()}


def _effects_of(gram: BootstrapGram, choice: np.ndarray) -> dict[str, np.ndarray]:
    """`bootstrap_effects` before the replicates that cannot be estimated are dropped."""
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
    return out


# ------------------------------------------------------------------------- selection-adjusted intervals

def max_t_over_shapes(gram: BootstrapGram, n_shapes: int) -> np.ndarray:
    """Per replicate, the largest |t| of the log-minutes effect over the `n_shapes` shapes of `gram`.

    t = (replicate estimate - full-sample estimate) / bootstrap standard deviation, per shape.
    Its quantiles give simultaneous critical values over the shapes drawn from the posterior:
    an interval built with them holds whichever of them is the truth. Close shapes (a narrow
    posterior) give a factor near 1.
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


def searched_max_t(app_panel: AppPanel, shapes: list[ResponseShape], fe: FixedEffects,
                   weights: np.ndarray) -> np.ndarray:
    """`max_t_over_shapes` over `shapes` (the grid the shape search starts from) under the
    replicates' market `weights`: the simultaneous critical value over the shapes searched, the
    price of having chosen the mode among them (without it, attribution's 90% interval held 87%
    of 60 worlds and the optimiser's value bands 82-87%; with it 97% and 94-97%)."""
    return max_t_over_shapes(bootstrap_gram(app_panel, shapes, fe, weights), len(shapes))


def interval_inflation(max_t: np.ndarray, level: float) -> float:
    """How much to widen bootstrap paths around the estimate for a `level` interval (at least 1).

    The ratio of the simultaneous critical value over shapes to the normal one at that level.
    """
    return max(1.0, float(np.quantile(max_t, level) / stats.norm.ppf(0.5 + level / 2.0)))


# ------------------------------------------------------------------------- market effects, partially pooled

SPLIT_WEEKS = 13          # market effects: the history split into alternating blocks of this many weeks
MIN_SPREAD_Z = 1.645      # the spread between markets counts when its split estimate is this many se above 0
MIN_EFFECT_T = 2.0        # ... and the app's own effect is this many se away from 0


@dataclass(frozen=True)
class MarketEffects:
    """Each market's effect relative to its app's (1 is the app's), partially pooled.

    A market's own estimate b_m (its cells' slope of the residualised log time per DAU on the
    residualised response) is shrunk towards the app's by s_m = T^2 / (T^2 + V_m): T the spread
    of the true relative effects between markets, V_m the variance of the market's own estimate.
    Both come from splitting the history into alternating blocks of `SPLIT_WEEKS` weeks, whose
    noise is nearly independent: the mean cross product of the markets' deviations in the two
    halves estimates T^2 (noise drops out of it), and the halves' squared differences calibrate
    V_m (the market's effect drops out of them), which the textbook variance understates because
    weeks are autocorrelated. T is 0 unless its estimate is `MIN_SPREAD_Z` standard errors above
    0 and the app's effect `MIN_EFFECT_T` from 0, so a world whose markets share one effect keeps
    it. A market with little rollout history gets the app's effect and the spread T as its sd.
    """

    relative: np.ndarray      # markets: posterior mean of the market's effect over the app's
    sd: np.ndarray            # markets: its posterior sd
    own: np.ndarray           # markets: the market's own estimate over the app's (nan where it has none)
    spread: float             # T
    spread_z: float           # the split estimate of T^2 over its standard error
    variance_factor: float    # the calibration of V_m (1 for independent weeks)

    @property
    def pooled(self) -> bool:
        return self.spread > 0

    @classmethod
    def shared(cls, n_markets: int, own: np.ndarray | None = None, spread_z: float = 0.0,
               variance_factor: float = 1.0) -> "MarketEffects":
        """Every market with its app's effect (no spread found, or none looked for)."""
        own = np.full(n_markets, np.nan) if own is None else own
        return cls(np.ones(n_markets), np.zeros(n_markets), own, 0.0, spread_z, variance_factor)

    def draws(self, n: int, seed: int) -> np.ndarray:
        """Markets x n relative effects from the posterior (all 1 when the markets share the app's)."""
        if not self.pooled:
            return np.ones((len(self.relative), n))
        noise = np.random.default_rng(seed).standard_normal((len(self.relative), n))
        return self.relative[:, None] + self.sd[:, None] * noise


def market_slopes(values: np.ndarray, response: np.ndarray, fe: FixedEffects) -> tuple[np.ndarray, np.ndarray]:
    """Each market's own slope of `values` on `response` (markets x weeks, on the cells `fe`
    observes) with the week effects estimated jointly, so that no market's estimate is pulled
    towards the others' through them; and each slope's variance over the noise variance (the
    diagonal of the inverse normal matrix). With u_m, v_m the series with their market's basis
    removed, A+ the week effects' solver and V the v_m as columns, the slopes solve
    (diag(|v_m|^2) - V' A+ V) b = (<u_m, v_m>)_m - V' A+ sum_m u_m. A market whose response never
    moves has nan and an infinite variance."""
    u, v = fe.within(values), fe.within(response)
    solved = fe.week_effects(v.T, np.ones(len(v)))                  # A+ V: weeks x markets
    normal = np.diag(np.sum(v * v, axis=1)) - v @ solved
    right = np.sum(u * v, axis=1) - solved.T @ u.sum(axis=0)
    moved = np.sum(v * v, axis=1) > 1e-10 * max(float(np.sum(v * v, axis=1).max()), 1e-300)
    slopes, variance = np.full(len(v), np.nan), np.full(len(v), np.inf)
    if moved.any():
        inverse = np.linalg.pinv(normal[np.ix_(moved, moved)])
        slopes[moved], variance[moved] = inverse @ right[moved], np.maximum(np.diag(inverse), 0.0)
    return slopes, variance


def market_effects(app_panel: AppPanel, fe: FixedEffects, shape: ResponseShape) -> MarketEffects:
    """`MarketEffects` of one app at the response `shape` (see there)."""
    observed = app_panel.observed
    values, response = np.where(observed, app_panel.log_time, 0.0), shape.response(app_panel.share)
    y, x = fe.residualise(values), fe.residualise(response)
    n_markets = len(observed)
    none = MarketEffects.shared(n_markets)
    xx = np.vdot(x, x)
    if xx <= 0:
        return none
    beta = np.vdot(x, y) / xx
    residual = np.where(observed, y - beta * x, 0.0)
    noise = np.sum(residual**2, axis=1) / np.maximum(observed.sum(axis=1) - 1, 1)     # per market
    own, own_variance = market_slopes(values, response, fe)
    half = (np.arange(observed.shape[1]) // SPLIT_WEEKS) % 2 == 0
    (first, var_first), (second, var_second) = (       # each half on its own weeks (balanced if the panel is)
        market_slopes(values[:, weeks], response[:, weeks], FixedEffects(fe.basis[weeks], observed[:, weeks]))
        for weeks in (half, ~half))
    in_both = np.isfinite(var_first) & np.isfinite(var_second)
    in_both &= (var_first < 20 * np.nanmin(np.where(in_both, var_first, np.inf))) \
        & (var_second < 20 * np.nanmin(np.where(in_both, var_second, np.inf)))
    if in_both.sum() < 4:
        return none
    var_first, var_second = noise * var_first, noise * var_second
    factor = float(np.mean((first - second)[in_both] ** 2 / (var_first + var_second)[in_both]))
    centre = [np.average(b[in_both], weights=1 / v[in_both]) for b, v in ((first, var_first), (second, var_second))]
    products = (first[in_both] - centre[0]) * (second[in_both] - centre[1])
    z = float(products.mean() / max(products.std(ddof=1) / np.sqrt(len(products)), 1e-300))
    effect_t = abs(beta) / np.sqrt(factor * noise.mean() / xx)
    has_own = np.isfinite(own_variance)
    own_relative = own / beta
    if z < MIN_SPREAD_Z or effect_t < MIN_EFFECT_T:
        return MarketEffects.shared(n_markets, own_relative, z, factor)
    spread2 = float(products.mean()) / beta**2
    own_variance = factor * noise * np.where(has_own, own_variance, 1.0) / beta**2
    precision = 1 / spread2 + np.where(has_own, 1 / own_variance, 0.0)       # the prior around 1, the own estimate
    weighted = 1 / spread2 + np.where(has_own, np.nan_to_num(own_relative) / own_variance, 0.0)
    return MarketEffects(weighted / precision, np.sqrt(1 / precision), own_relative, float(np.sqrt(spread2)), z,
                         factor)
