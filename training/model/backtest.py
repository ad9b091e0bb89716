"""Rolling-origin backtests of the baselines, and the calibration of their intervals where they are read.

At each origin the baselines are refitted on the history up to it and forecast `horizon`
weeks; errors are scored on weekly total minutes and ad revenue per market, against
seasonal-naive (the value 52 weeks earlier). MASE uses each series' in-sample seasonal-naive
error as its scale.

Intervals are calibrated on the rows people read: each market, and the markets together (`ALL`).
A market's error path is s_c(h) C + s_i(h) I_m (see `baseline`): the common component C is
scaled so that the ALL band holds, then the markets' own parts I_m so that the market bands
hold given it. Each scale is a `ScaleLaw`, k(level) exp(a) h^b: the growth with the horizon
step h is fitted over all steps (a and b from the mean scores per step), and k is the
split-conformal quantile of the scores pooled over origins, markets and steps at each level,
so 0.5 to 0.99 are each calibrated even with few origins. Held-out coverage leaves each origin
out of the calibration in turn; the scales kept for serving are calibrated on all origins. Per
quantity the common component's kind ("ar" or "walk") with the better total interval score at
the backtest level is kept. The two kinds differ less in each step's width, which the scale law
fits either way, than in persistence: the band of the horizon's total (`/forecast` totals) is
narrow when shared errors revert and wide when they persist, so the kind is chosen by the
interval score of that total.

Known one-off breaks (a launch that multiplied a series, declared by the user as week spans per
quantity) are not ordinary forecast error: origins whose forecast window crosses one are still
scored for MASE and the trend choice, but left out of the calibration of that quantity's bands
(`calibration_skipped`), which would otherwise be as wide as the break for years after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.calendar import DAYS_PER_WEEK
from training.model.baseline import COMMON_KINDS, FACTOR, MONTHLY, TRENDS, fit_baselines
from training.model.panel import PanelShapeError, window_bounds
from training.model.paths import VALUED

SEASON = 52
OUTCOMES = {"minutes": [0, 1], "ad_revenue_usd": [2]}   # outcomes (time, dau, revenue) of each quantity
QUANTITY_OF_OUTCOME = ("minutes", "minutes", "ad_revenue_usd")
HEADLINE_HORIZON = 13   # weeks: the promotion gate's MASE
SCALE_LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)
GROWTH_LIMITS = (0.0, 1.0)    # the fitted exponent b of a scale's growth with the horizon step
ROWS = ("market", "ALL", "total")
WEEKS_AHEAD = ((1, 4), (5, 13), (14, 26))
"""The buckets of weeks ahead that bands are read by (next month, the quarter, the half-year)."""
# The trend kinds each quantity chooses among. Revenue's app-wide movement is the ad price index
# (a trend that bends each January, a Q4 season) more than shocks that accumulate: the factor
# kind won its backtests at the January bends but forecast the held-out half-years worse than
# "ct" (median APE 3.4% against 1.8% for Facebook's revenue on default worlds), so revenue
# keeps the per-series kinds.
# Time spent has no calendar of prices: its season stays smooth ("ct_monthly" is revenue's).
CANDIDATE_TRENDS = {"minutes": tuple(t for t in TRENDS if t != MONTHLY),
                    "ad_revenue_usd": tuple(t for t in TRENDS if t != FACTOR)}


def reported_horizons(horizon: int) -> tuple[int, ...]:
    """The horizons a backtest of `horizon` weeks reports: 13, 26 where reached, and its own."""
    return tuple(sorted({h for h in (HEADLINE_HORIZON, 26) if h <= horizon} | {horizon}))


def _quantities(log_series: np.ndarray) -> dict[str, np.ndarray]:
    """Log weekly minutes and log ad revenue from (log time, log dau, log revenue) on axis 0."""
    return {"minutes": log_series[0] + log_series[1] + np.log(DAYS_PER_WEEK), "ad_revenue_usd": log_series[2]}


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ceil((n + 1) level)-th smallest score."""
    scores = np.sort(scores[np.isfinite(scores)])
    rank = min(int(np.ceil((len(scores) + 1) * level)), len(scores)) - 1
    return float(scores[rank])


@dataclass
class ScaleLaw:
    """A noise multiplier at horizon step h = 1, 2, ...: k(level, h) exp(a) h^b.

    exp(a) h^b is the growth with the step; k is the conformal factor of each level, per
    calibrated step (`k_step`, levels x steps, each step's scores pooled with its neighbours')
    and held at the last one's past them; without `k_step`, one k per level for every step.
    """

    k: list[float]
    a: float = 0.0
    b: float = 0.0
    k_step: list[list[float]] | None = None

    def at(self, level: float, horizon: int) -> np.ndarray:
        """The multiplier at steps 1..horizon for a `level` interval (k interpolated between levels)."""
        steps = np.arange(1, horizon + 1)
        growth = np.exp(self.a) * steps ** self.b
        if self.k_step is None:
            return float(np.interp(level, SCALE_LEVELS, self.k)) * growth
        table = np.asarray(self.k_step)
        per_step = np.array([np.interp(level, SCALE_LEVELS, column) for column in table.T])
        return per_step[np.minimum(steps, table.shape[1]) - 1] * growth

    @classmethod
    def unit(cls) -> "ScaleLaw":
        return cls(k=[1.0] * len(SCALE_LEVELS))


def neighbouring_steps(step: int, steps: int, reach: int | None = None) -> slice:
    """The steps (0-based slice of 1..steps) pooled to calibrate `step`: itself and its neighbours
    within `reach` (default max(2, step // 3)), so near steps are read on their own and far ones
    on wider windows."""
    reach = max(2, step // 3) if reach is None else reach
    return slice(max(step - reach, 1) - 1, min(step + reach, steps))


def step_factor(normalised: np.ndarray, step: int, level: float) -> float:
    """The conformal factor of `level` at `step` from scores (units x steps, divided by the growth):
    the step's neighbouring scores, the window widened until it holds the 1 / (1 - level) scores
    that a `level` quantile needs (0.99 on the few scores of an ALL row pools more steps)."""
    steps = normalised.shape[-1]
    finite = np.concatenate([[0], np.cumsum(np.isfinite(normalised).sum(axis=0))])    # scores up to each step
    needed = int(np.ceil(1 / (1 - level)))
    reach = max(2, step // 3)
    window = neighbouring_steps(step, steps, reach)
    while reach < steps and finite[window.stop] - finite[window.start] < needed:
        reach += 1
        window = neighbouring_steps(step, steps, reach)
    return max(conformal_quantile(normalised[:, window].ravel(), level), 1e-6)


def fit_scale_law(scores: list[np.ndarray]) -> ScaleLaw:
    """Calibrate a ScaleLaw on scores: per origin, levels x units x steps of |error| / half-width.

    Growth: log of the mean score per step (at the 0.8 level) regressed on log step; then per
    level, k is the conformal quantile of the scores divided by that growth: pooled over every
    step (`k`), and per step over its neighbours (`k_step`, `step_factor`), so that the bands
    hold at each distance ahead, not only on average over the horizon.
    """
    pooled = np.concatenate([s.reshape(len(SCALE_LEVELS), -1, s.shape[-1]) for s in scores], axis=1)
    steps = np.arange(1, pooled.shape[-1] + 1)
    middle = np.log(np.maximum(np.nanmean(pooled[SCALE_LEVELS.index(0.8)], axis=0), 1e-3))
    if len(steps) > 1:
        b, a = np.polyfit(np.log(steps), middle, 1)
        b = float(np.clip(b, *GROWTH_LIMITS))
        a = float(np.mean(middle - b * np.log(steps)))
    else:
        a, b = float(middle[0]), 0.0
    normalised = pooled / (np.exp(a) * steps ** b)
    k = [max(conformal_quantile(normalised[i].ravel(), level), 1e-6) for i, level in enumerate(SCALE_LEVELS)]
    k_step = [[step_factor(normalised[i], int(h), level) for h in steps] for i, level in enumerate(SCALE_LEVELS)]
    return ScaleLaw(k=k, a=a, b=b, k_step=k_step)


@dataclass
class OriginScores:
    """One origin's errors (log actual - log forecast) and unscaled error paths for one quantity."""

    all_error: np.ndarray          # steps: the markets together
    market_error: np.ndarray       # markets x steps
    total_error: float             # the markets together, summed over the steps
    step_weights: np.ndarray       # steps: each step's share of the forecast total
    common_paths: dict[str, np.ndarray]   # common kind -> paths x steps
    own_width: np.ndarray          # levels x markets x steps: half-widths of the own parts' bands

    def __post_init__(self) -> None:
        self.common_width = {kind: _half_widths(paths) for kind, paths in self.common_paths.items()}

    def all_scores(self, kind: str) -> np.ndarray:
        return np.abs(self.all_error)[None, None, :] / self.common_width[kind][:, None, :]

    def own_scores(self, kind: str, common: ScaleLaw) -> np.ndarray:
        """The own-part multiplier each market-step needs to be covered once the common part is scaled."""
        covered_by_common = self._common_half_width(kind, common)
        return np.sqrt(np.maximum(self.market_error[None] ** 2 - covered_by_common ** 2, 0.0)) / self.own_width

    def total_half_width(self, kind: str, common: ScaleLaw, level: float) -> float:
        """Half-width of the horizon total's `level` band (log scale) on the scaled common paths:
        how persistent the common component is decides it, not only its width at each step."""
        steps = len(self.all_error)
        totals = np.log(np.exp(common.at(level, steps) * self.common_paths[kind]) @ self.step_weights)
        lo, hi = np.quantile(totals, [(1 - level) / 2, (1 + level) / 2])
        return float((hi - lo) / 2)

    def covered(self, kind: str, common: ScaleLaw, own: ScaleLaw) -> dict[str, np.ndarray]:
        """levels x units x steps (x 1 x 1 for the total): whether the calibrated bands hold the actual."""
        steps = len(self.all_error)
        c = self._common_half_width(kind, common)
        o = np.array([own.at(level, steps) for level in SCALE_LEVELS])[:, None, :] * self.own_width
        total = [abs(self.total_error) <= self.total_half_width(kind, common, level) for level in SCALE_LEVELS]
        return {"ALL": np.abs(self.all_error)[None, None, :] <= c,
                "market": self.market_error[None] ** 2 <= c ** 2 + o ** 2,
                "total": np.array(total)[:, None, None]}

    def total_interval_score(self, kind: str, common: ScaleLaw, level: float) -> float:
        """Interval (Winkler) score of the horizon total's `level` band."""
        half = self.total_half_width(kind, common, level)
        return 2 * half + 2 / (1 - level) * max(abs(self.total_error) - half, 0.0)

    def _common_half_width(self, kind: str, common: ScaleLaw) -> np.ndarray:
        steps = len(self.all_error)
        law = np.array([common.at(level, steps) for level in SCALE_LEVELS])
        return (law * self.common_width[kind])[:, None, :]


def calibrate(origins: list[OriginScores], kind: str) -> tuple[ScaleLaw, ScaleLaw]:
    """The common and own ScaleLaws of a common kind, fitted on `origins`."""
    common = fit_scale_law([o.all_scores(kind) for o in origins])
    own = fit_scale_law([o.own_scores(kind, common) for o in origins])
    return common, own


def held_out_covered(origins: list[OriginScores], kind: str, borrowed: list[OriginScores] = ()
                     ) -> list[dict[str, np.ndarray]] | None:
    """Each origin's `covered` under bands calibrated on the other origins and `borrowed` (None
    with fewer than two origins): what `coverage_by_steps` and `coverage_by_weeks_ahead` read."""
    if len(origins) < 2:
        return None
    return [origin.covered(kind, *calibrate(origins[:k] + origins[k + 1:] + list(borrowed), kind))
            for k, origin in enumerate(origins)]


def coverage_by_steps(covered: list[dict[str, np.ndarray]] | None, report_at: tuple[int, ...]
                      ) -> dict[int, dict[str, dict[float, float]]]:
    """Steps -> row kind -> level -> share of held-out (origin, unit, step < steps) points held."""
    return {h: {row: _held_share(covered, row, slice(0, h)) for row in ROWS} for h in report_at}


def coverage_by_weeks_ahead(covered: list[dict[str, np.ndarray]] | None, horizon: int
                            ) -> dict[str, dict[str, dict[float, float]]]:
    """Row kind (market, ALL) -> bucket of weeks ahead ("1-4", ...; WEEKS_AHEAD within `horizon`) ->
    level -> share of held-out points held."""
    return {row: {f"{first}-{last}": _held_share(covered, row, slice(first - 1, last))
                  for first, last in WEEKS_AHEAD if last <= horizon} for row in ("market", "ALL")}


def _held_share(covered: list[dict[str, np.ndarray]] | None, row: str, steps: slice) -> dict[float, float]:
    """Level -> share of the held-out points of `row` at `steps` held (NaN without a held-out origin)."""
    if covered is None:
        return {level: float("nan") for level in SCALE_LEVELS}
    return {level: float(np.concatenate([c[row][i, :, steps].ravel() for c in covered]).mean())
            for i, level in enumerate(SCALE_LEVELS)}


def _half_widths(paths: np.ndarray) -> np.ndarray:
    """levels x ...: half the width of each level's central band over paths (axis 0)."""
    probs = [p for level in SCALE_LEVELS for p in ((1 - level) / 2, (1 + level) / 2)]
    bands = np.quantile(paths, probs, axis=0)
    return (bands[1::2] - bands[0::2]) / 2


def _log_total(logs: np.ndarray) -> np.ndarray:
    """log of the sum over markets (axis 0)."""
    return np.log(np.exp(logs).sum(axis=0))


@dataclass
class BacktestResult:
    horizon: int
    origins: list[str]
    mase: dict[str, dict[int, float]]                 # quantity -> {horizon: the baseline's MASE}
    mase_seasonal_naive: dict[str, dict[int, float]]
    coverage: dict[str, dict[int, float]]             # held-out coverage of the market bands at `level`
    scales: dict[str, dict[str, ScaleLaw]]            # quantity -> {"common": law, "own": law}
    level: float
    trend: dict[str, str] | None = None               # quantity -> the baseline's trend kind
    common: dict[str, str] | None = None              # quantity -> the common component's kind
    coverage_all: dict[str, dict[int, float]] = field(default_factory=dict)   # the same for ALL rows
    coverage_levels: dict[str, dict[str, dict[float, float]]] = field(default_factory=dict)
    """row kind ("market", "ALL") -> quantity -> level -> held-out coverage over the whole horizon"""
    example: dict | None = None                       # last origin, all markets: weeks, actual, forecast, lo, hi
    calibration_skipped: dict[str, list[str]] = field(default_factory=dict)
    """quantity -> origins (last week seen) left out of the band calibration: their forecast
    window crosses a known one-off break"""
    coverage_weeks_ahead: dict[str, dict[str, dict[str, dict[float, float]]]] = field(default_factory=dict)
    """row kind (market, ALL) -> quantity -> bucket of weeks ahead -> level -> held-out coverage"""

    def common_kind(self, quantity: str) -> str:
        return (self.common or {}).get(quantity, "ar")


def rolling_origin_backtest(log_series: np.ndarray, weeks: pd.DatetimeIndex, horizon: int = 26,
                            n_origins: int = 8, spacing: int = 13, fit_weeks: int = 156,
                            n_paths: int = 300, level: float = 0.9, report_at: tuple[int, ...] | None = None,
                            trends: tuple[str, ...] | None = None, seed: int = 0,
                            known_breaks: dict[str, list[tuple[int, int]]] | None = None) -> BacktestResult:
    """Backtest baselines of de-effected (log time, log dau, log revenue) x markets x weeks.

    Origins are `spacing` weeks apart, the last one `horizon` weeks before the end. At each
    origin, every series with enough history of its own before it (a season plus half the fit
    window) and `horizon` observed weeks after it is scored; the others sit that origin out.
    Every trend kind (TRENDS) is fitted at every origin; per quantity the kind of its
    CANDIDATE_TRENDS with the lowest MASE over the whole horizon is chosen, unless `trends` (per
    outcome) fixes them; the bands are calibrated on each origin forecast by the kind the other
    origins choose, leaving out the origins whose forecast window crosses one of the quantity's
    `known_breaks` (week index spans, first and last week included); at least two must remain.
    Scores are reported over the first h steps for each h in `report_at` (default
    `reported_horizons(horizon)`). Raises PanelShapeError when no origin has a series to score.
    """
    report_at = tuple(report_at or reported_horizons(horizon))
    first, last = window_bounds(np.isfinite(log_series).all(axis=0))
    n_weeks = log_series.shape[-1]
    candidates = [n_weeks - horizon - spacing * k for k in range(n_origins)][::-1]
    plan = [(o, np.flatnonzero((o - first - fit_weeks // 2 > SEASON) & (last >= o + horizon - 1)))
            for o in candidates]
    plan = [(o, markets) for o, markets in plan if len(markets)]
    if not plan:
        raise PanelShapeError(f"no backtest origin: no series has {SEASON + fit_weeks // 2 + 1} weeks of history "
                              f"and {horizon} more after any of the {n_origins} origins; lower backtest_horizon "
                              "or baseline_fit_weeks, or set backtest_origins=0")
    rng = np.random.default_rng(seed)
    origins = [_score_origin(log_series, weeks, origin, markets, horizon, fit_weeks, n_paths, rng, seed,
                             outcome_breaks(known_breaks)) for origin, markets in plan]
    naive = {q: {h: _mean_over_steps([o["naive_errors"][q] for o in origins], h) for h in report_at}
             for q in VALUED}
    if trends is None:
        chosen = {q: _best_kind(origins, q, horizon) for q in VALUED}
    else:
        chosen = {q: trends[OUTCOMES[q][0]] for q in VALUED}
    scales, common_kinds, coverage, coverage_all, coverage_levels = {}, {}, {}, {}, {row: {} for row in ROWS}
    skipped, weeks_ahead, scored = {}, {}, {}
    for q in VALUED:
        # each origin is scored with the kind the other origins choose: the kind that won on an
        # origin's own errors would make the bands as optimistic as its win was lucky
        honest = [chosen[q] if trends is not None or len(origins) < 3
                  else _best_kind(origins[:i] + origins[i + 1:], q, horizon) for i in range(len(origins))]
        crossing = [_crosses(o["origin"], horizon, (known_breaks or {}).get(q, [])) for o in origins]
        skipped[q] = [str(weeks[o["origin"] - 1].date()) for o, crosses in zip(origins, crossing) if crosses]
        if len(origins) - len(skipped[q]) < min(2, len(origins)):
            raise PanelShapeError(f"the known breaks of {q} leave {len(origins) - len(skipped[q])} of {len(origins)} "
                                  "backtest origins to calibrate the bands on; at least 2 are needed: declare a "
                                  "shorter break or backtest on more origins")
        scored[q] = [_origin_scores(o, q, kind) for o, kind, crosses in zip(origins, honest, crossing) if not crosses]
    for q in VALUED:
        # a quantity left with fewer origins than another (a known break) borrows the other's
        # scores: its few origins would set its bands alone, each one's quirks at full weight
        borrowed = [o for other in VALUED if len(scored[other]) > len(scored[q]) for o in scored[other]]
        laws = {kind: calibrate(scored[q] + borrowed, kind) for kind in COMMON_KINDS}
        score = {kind: np.mean([o.total_interval_score(kind, laws[kind][0], level) for o in scored[q]])
                 for kind in COMMON_KINDS}
        kind = min(COMMON_KINDS, key=lambda k: score[k])
        common_kinds[q] = kind
        scales[q] = {"common": laws[kind][0], "own": laws[kind][1]}
        covered = held_out_covered(scored[q], kind, borrowed)
        by_steps = coverage_by_steps(covered, tuple(sorted(set(report_at) | {horizon})))
        for row, buckets in coverage_by_weeks_ahead(covered, horizon).items():
            weeks_ahead.setdefault(row, {})[q] = buckets
        coverage[q] = {h: c["market"][level] for h, c in by_steps.items()}
        coverage_all[q] = {h: c["ALL"][level] for h, c in by_steps.items()}
        for row in ROWS:
            coverage_levels[row][q] = by_steps[horizon][row]
    last_scored = _origin_scores(origins[-1], "minutes", chosen["minutes"])
    return BacktestResult(
        horizon=horizon,
        origins=[str(weeks[o - 1].date()) for o, _ in plan],   # last week each fit saw
        mase={q: {h: _mean_over_steps([o["kinds"][chosen[q]]["errors"][q] for o in origins], h) for h in report_at}
              for q in VALUED},
        mase_seasonal_naive=naive,
        coverage=coverage,
        coverage_all=coverage_all,
        coverage_levels=coverage_levels,
        scales=scales,
        common=common_kinds,
        level=level,
        trend=chosen,
        calibration_skipped=skipped,
        coverage_weeks_ahead=weeks_ahead,
        example=_example(origins[-1], last_scored, chosen["minutes"], weeks, horizon, scales["minutes"],
                         common_kinds["minutes"], level),
    )


def parse_known_break(text: str) -> tuple[str, str, pd.Timestamp, pd.Timestamp]:
    """"app:quantity:first:last" (ISO dates, first <= last) -> its parts; ValueError naming what is wrong."""
    parts = text.split(":")
    if len(parts) != 4:
        raise ValueError(f"known break '{text}' must be app:quantity:first:last, e.g. "
                         "whatsapp:ad_revenue_usd:2025-06-16:2025-12-15")
    app, quantity, first, last = parts
    if quantity not in VALUED:
        raise ValueError(f"known break '{text}': quantity must be one of {', '.join(VALUED)}")
    try:
        first, last = pd.Timestamp(first), pd.Timestamp(last)
    except ValueError:
        raise ValueError(f"known break '{text}': first and last must be dates (YYYY-MM-DD)") from None
    if first > last:
        raise ValueError(f"known break '{text}': first is after last")
    return app, quantity, first, last


def break_spans(known_breaks: tuple[str, ...], app: str, weeks: pd.DatetimeIndex) -> dict[str, list[tuple[int, int]]]:
    """The known breaks of `app` as week index spans per quantity: the first week on or after its
    first date and the last on or before its last, counted on the weekly calendar of `weeks`, so
    a break that runs on past the last week (a launch still ramping) keeps its declared end, and
    the baselines' ramp finishes there (`baseline.break_ramps`)."""
    spans: dict[str, list[tuple[int, int]]] = {}
    week = pd.Timedelta(days=DAYS_PER_WEEK)
    for text in known_breaks:
        name, quantity, first, last = parse_known_break(text)
        if name == app:
            span = (int(np.ceil((first - weeks[0]) / week)), int(np.floor((last - weeks[0]) / week)))
            spans.setdefault(quantity, []).append(span)
    return spans


def outcome_breaks(known_breaks: dict[str, list[tuple[int, int]]] | None) -> dict[int, list[tuple[int, int]]]:
    """Known breaks per quantity as spans per outcome of the (time, dau, revenue) stack."""
    return {o: spans for q, spans in (known_breaks or {}).items() for o in OUTCOMES[q]}


def _crosses(origin: int, horizon: int, spans: list[tuple[int, int]]) -> bool:
    """Whether the forecast window [origin, origin + horizon) meets any (first, last) week span."""
    return any(first < origin + horizon and last >= origin for first, last in spans)


def _best_kind(origins: list[dict], quantity: str, horizon: int) -> str:
    """The trend kind with the lowest MASE of `quantity` over the whole horizon at these origins."""
    return min(CANDIDATE_TRENDS[quantity],
               key=lambda kind: _mean_over_steps([o["kinds"][kind]["errors"][quantity] for o in origins], horizon))


def _score_origin(log_series: np.ndarray, weeks: pd.DatetimeIndex, origin: int, markets: np.ndarray, horizon: int,
                  fit_weeks: int, n_paths: int, rng: np.random.Generator, seed: int,
                  breaks: dict[int, list[tuple[int, int]]]) -> dict:
    """One origin: every trend kind's forecast, errors and unscaled noise summaries, and the actuals."""
    series = log_series[:, markets]
    actual = _quantities(series[:, :, origin:origin + horizon])
    history = _quantities(series[:, :, max(0, origin - fit_weeks):origin])
    season_ago = _quantities(series[:, :, origin - SEASON:origin - SEASON + horizon])
    scale, naive_errors = {}, {}
    for q in VALUED:
        level_hist = np.exp(history[q])
        scale[q] = np.nanmean(np.abs(level_hist[:, SEASON:] - level_hist[:, :-SEASON]), axis=1, keepdims=True)
        naive_errors[q] = np.abs(np.exp(season_ago[q]) - np.exp(actual[q])) / scale[q]
    kinds = {}
    for kind in TRENDS:
        # an outcome whose quantity cannot choose this kind is fitted "ct" (its record is never read)
        per_outcome = tuple(kind if kind in CANDIDATE_TRENDS[q] else "ct" for q in QUANTITY_OF_OUTCOME)
        fit = fit_baselines(series[:, :, :origin], weeks[:origin], horizon, fit_weeks, per_outcome, seed=seed,
                            breaks=breaks)
        parts = fit.noise_parts(horizon, n_paths, rng)
        point = _quantities(fit.mean)
        kinds[kind] = {
            "point": point,
            "errors": {q: np.abs(np.exp(point[q]) - np.exp(actual[q])) / scale[q] for q in VALUED},
            "common": {q: {c: parts.common[c][:, OUTCOMES[q]].sum(axis=1) for c in COMMON_KINDS} for q in VALUED},
            "own": {q: parts.own[:, OUTCOMES[q]].sum(axis=1) for q in VALUED},
        }
    return {"origin": origin, "actual": actual, "naive_errors": naive_errors, "kinds": kinds}


def _origin_scores(origin: dict, quantity: str, trend: str) -> OriginScores:
    """The scores of one origin for `quantity` forecast by trend kind `trend`."""
    record, actual = origin["kinds"][trend], origin["actual"][quantity]
    point = record["point"][quantity]
    forecast_all = np.exp(point).sum(axis=0)
    return OriginScores(
        all_error=_log_total(actual) - np.log(forecast_all),
        market_error=actual - point,
        total_error=float(np.log(np.exp(actual).sum() / forecast_all.sum())),
        step_weights=forecast_all / forecast_all.sum(),
        common_paths=record["common"][quantity],
        own_width=_half_widths(record["own"][quantity]))


def _example(origin: dict, scored: OriginScores, trend: str, weeks: pd.DatetimeIndex, horizon: int,
             laws: dict[str, ScaleLaw], kind: str, level: float) -> dict:
    """Total minutes over the scored markets at the last origin, with the calibrated band."""
    record = origin["kinds"][trend]
    noise = ((laws["common"].at(level, horizon) * scored.common_paths[kind])[:, None, :]
             + laws["own"].at(level, horizon) * record["own"]["minutes"])
    point = record["point"]["minutes"]
    totals = np.exp(point[None] + noise).sum(axis=1)
    lo, hi = np.quantile(totals, [(1 - level) / 2, (1 + level) / 2], axis=0)
    start = origin["origin"]
    return {"weeks": [str(w.date()) for w in weeks[start:start + horizon]],
            "actual": np.exp(origin["actual"]["minutes"]).sum(axis=0).tolist(),
            "forecast": np.exp(point).sum(axis=0).tolist(), "lo": lo.tolist(), "hi": hi.tolist()}


def _mean_over_steps(per_origin: list[np.ndarray], steps: int) -> float:
    """Mean of every (origin, market, step < steps) error."""
    return float(np.mean(np.concatenate([e[:, :steps].ravel() for e in per_origin])))


def headline_mase(backtests: dict[str, BacktestResult], at: int = HEADLINE_HORIZON) -> tuple[float, float]:
    """Mean 13-week MASE over apps and quantities (minutes, ad revenue): the model's and seasonal-naive's."""
    model = [b.mase[q][at] for b in backtests.values() for q in VALUED]
    naive = [b.mase_seasonal_naive[q][at] for b in backtests.values() for q in VALUED]
    return float(np.mean(model)), float(np.mean(naive))


def uncalibrated_backtest(horizon: int) -> BacktestResult:
    """No backtest run: unit noise scale, no scores (for attribution-only fits)."""
    nan = {q: {h: float("nan") for h in reported_horizons(horizon)} for q in VALUED}
    return BacktestResult(horizon=horizon, origins=[], mase=nan, mase_seasonal_naive=nan, coverage=nan,
                          coverage_all=nan, scales={q: {"common": ScaleLaw.unit(), "own": ScaleLaw.unit()}
                                                    for q in VALUED},
                          level=0.9, trend={q: "ct" for q in VALUED}, common={q: "ar" for q in VALUED})
