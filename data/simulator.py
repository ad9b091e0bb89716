"""The causal simulator: a weekly panel whose rollout effects are known exactly.

Every (app, market) series gets a baseline (level, trend, yearly seasonality, holidays,
app-wide common shocks, autocorrelated noise), a rollout path (ramps, plateaus below 1,
withdrawals), and an effect of that rollout on log time-per-DAU and log DAU through
carry-over and saturation (`data.exposure`). Ad revenue responds to total minutes with an
elasticity below 1, plus a direct monetisation effect, with a Q4 price season.

The counterfactual is the same world with zero rollout and the same noise, so the true
incremental minutes and revenue are exact. All randomness comes from one seed, drawn in a
fixed order that does not depend on the rollout: a plan played forward changes only what
the rollout causes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from data.calendar import DAYS_PER_WEEK, holiday_weeks, year_angle, years_since
from data.experiments import ARM_SHARE, arm_standard_error
from data.exposure import lift_response, rollout_response
from data.markets import APPS, MARKETS, US_BETA_SHARE, US_BROAD_LAUNCH, WITHDRAWALS, Market, Withdrawal

@dataclass(frozen=True)
class EffectTruth:
    """The true effect of the rollout, per app. Log effects are at full (saturated) exposure."""

    carryover: float = 0.75
    half_saturation: float = 0.35
    hill_exponent: float = 1.5
    log_time_per_dau: dict[str, float] = field(
        default_factory=lambda: {"facebook": 0.065, "instagram": 0.058, "whatsapp": 0.02})
    log_dau: dict[str, float] = field(
        default_factory=lambda: {"facebook": 0.008, "instagram": 0.012, "whatsapp": 0.004})
    direct_log_revenue: dict[str, float] = field(
        default_factory=lambda: {"facebook": 0.015, "instagram": 0.02, "whatsapp": 0.01})
    revenue_elasticity: float = 0.8
    # Each market's effect sizes are the app's times 1 + market_spread * u, u uniform on [-1, 1]
    # drawn per (app, market): 0 gives every market its app's effect.
    market_spread: float = 0.0
    response: str = "default"    # the name of the response design (RESPONSES) these effects follow

    def scaled(self, factor: float) -> "EffectTruth":
        """The same world with every effect multiplied by `factor` (0 gives the null world)."""
        return replace(
            self,
            log_time_per_dau={k: v * factor for k, v in self.log_time_per_dau.items()},
            log_dau={k: v * factor for k, v in self.log_dau.items()},
            direct_log_revenue={k: v * factor for k, v in self.direct_log_revenue.items()},
        )


RESPONSES: dict[str, dict] = {
    "default": {},
    "saturating": {"carryover": 0.6, "half_saturation": 0.12, "hill_exponent": 1.2},
    "linear": {"carryover": 0.65, "half_saturation": 4.0, "hill_exponent": 1.0},
    "threshold": {"carryover": 0.72, "half_saturation": 0.55, "hill_exponent": 4.0},
    "slow_carryover": {"carryover": 0.95, "half_saturation": 0.8, "hill_exponent": 1.1},
    "market_varied": {"market_spread": 0.5},
}
"""Worlds of several dose-responses (`response_effects`), so the curve is not only judged on the
shape the model was built around; none sits on a point of the estimator's grid:

- default: carry-over 0.75, half-saturation 0.35, Hill exponent 1.5 (the world above);
- saturating: 91% of the full effect is reached at half the share;
- linear: nearly straight (57% of the effect at half the share);
- threshold: an S-curve, 9% of the effect at 30% share and 44% at half;
- slow_carryover: carry-over 0.95, so a new level takes about half a year to reach 85% of its effect;
- market_varied: the default shape, each market's effect sizes drawn within +-50% of its app's.
"""


def response_effects(name: str) -> "EffectTruth":
    """The true effects of the response design `name` (RESPONSES), or ValueError naming the choices."""
    if name not in RESPONSES:
        raise ValueError(f"unknown response '{name}': use one of {', '.join(RESPONSES)}")
    return replace(EffectTruth(), response=name, **RESPONSES[name])


CROSS_CARRYOVER = 0.5     # the carry-over of an app's exposure in the other apps' outcomes
CROSS_DAU_RATIO = 0.25    # a cross effect on log DAU, as a share of the one on log time per DAU
CANNIBALISING = {"facebook": {"instagram": -0.01, "whatsapp": -0.005},
                 "instagram": {"facebook": -0.008, "whatsapp": -0.01},
                 "whatsapp": {"facebook": -0.002, "instagram": -0.003}}
CROSS: dict[str, dict] = {
    "none": {},
    "cannibalising": {"matrix": CANNIBALISING, "stagger_weeks": 26},
    "complementary": {"matrix": {target: {source: -v for source, v in row.items()}
                                 for target, row in CANNIBALISING.items()}, "stagger_weeks": 26},
    "same_week": {"matrix": CANNIBALISING, "same_week": True},
}
"""Worlds where one app's assistant moves the others' time (`WorldSpec.cross`): the matrix holds,
per app, the log effect on its time per DAU of each other app's full exposure in the same market
(CROSS_DAU_RATIO of it on log DAU), through the source app's saturation with a carry-over of
CROSS_CARRYOVER:

- none: today's worlds, each app moved by its own rollout alone;
- cannibalising: part of an app's gain comes out of the others (e.g. WhatsApp's assistant answers
  what people looked up on Instagram), each app's launch in a market lagging Facebook's by up to
  `stagger_weeks` more weeks, so the launches' differences identify the split;
- complementary: the same sizes with the other sign, the same staggering;
- same_week: cannibalising, and every app launches in the same week with the same ramp and no
  app-specific withdrawal, so the split between the apps is not identified (their family total is).
"""

DESIGNS = ("default", "random_walk", "trend_break", "heavy_tails", "stepped_season")
"""Worlds of more than one design, so a model is not only judged on the world it was built around:

- default: app-wide shocks and market noise are stationary AR(1) processes;
- random_walk: app-wide shocks accumulate (a random walk per app and outcome), so the level of
  a whole app wanders persistently;
- trend_break: as default, and the trend of each app's time per DAU changes slope at random
  weeks (`breaks_per_year` on average, each change normal with sd `break_slope_sd` log points a
  year), like Prophet's changepoints; one more bend of `break_slope_per_year` falls
  `break_weeks_before_end` weeks before the end, in the weeks a held-back test forecasts. The
  history shows bends of that size, so a band can learn how far the trend may turn (a bend no
  history shows is beyond any band fitted to the history);
- heavy_tails: as default with Student-t innovations (`tail_df`) in every noise process;
- stepped_season: as default, and the ad price season moves in steps when a month starts
  (`month_price_season`, a sharper Q4), not smoothly through the year.
"""


@dataclass(frozen=True)
class WorldSpec:
    """Everything that defines a simulated world except its seed."""

    start: date = date(2021, 1, 4)
    end: date = date(2026, 10, 26)
    apps: tuple[str, ...] = APPS
    markets: tuple[Market, ...] = MARKETS
    withdrawals: tuple[Withdrawal, ...] = WITHDRAWALS
    effects: EffectTruth = field(default_factory=EffectTruth)
    # Minutes per DAU per day in 2021 and their yearly drift, per app.
    base_minutes: dict[str, float] = field(
        default_factory=lambda: {"facebook": 31.0, "instagram": 28.0, "whatsapp": 24.0})
    minutes_trend: dict[str, float] = field(
        default_factory=lambda: {"facebook": -0.010, "instagram": 0.025, "whatsapp": 0.010})
    # Ad revenue per minute relative to Facebook; WhatsApp earns little until Updates-tab ads.
    app_price: dict[str, float] = field(
        default_factory=lambda: {"facebook": 1.0, "instagram": 1.15, "whatsapp": 0.015})
    whatsapp_ads_start: date = date(2025, 6, 16)
    whatsapp_ads_multiplier: float = 4.0
    whatsapp_ads_ramp_weeks: int = 26
    # USD per minute in the US on Facebook at the start (sets the revenue level).
    usd_per_minute: float = 0.0107
    # Global ad price index, log level on 1 January of each year (the 2022 slowdown, then growth).
    price_index_knots: dict[int, float] = field(
        default_factory=lambda: {2021: 0.0, 2022: 0.01, 2023: 0.0, 2024: 0.18,
                                 2025: 0.33, 2026: 0.48, 2027: 0.60})
    # Ad price season: (day of year, log multiplier), interpolated periodically. Q4 peak.
    price_season: tuple[tuple[int, float], ...] = (
        (15, -0.13), (120, 0.0), (196, -0.03), (288, 0.03), (340, 0.16))
    # Share of Meta's ad revenue that the modelled markets earn (for comparisons with
    # company-wide figures).
    modelled_revenue_share: float = 0.80
    # Early-launching markets also grow faster (rollout is not random).
    early_launch_trend_bonus: float = 0.012
    early_launch_before: date = date(2024, 7, 1)
    noise_time_sd: float = 0.010
    noise_time_ar: float = 0.5
    noise_dau_sd: float = 0.004
    noise_dau_ar: float = 0.7
    noise_revenue_sd: float = 0.015
    noise_revenue_ar: float = 0.5
    common_shock_sd: float = 0.006
    common_shock_ar: float = 0.85
    # The design of the world's baselines (DESIGNS): how app-wide shocks and noise behave.
    design: str = "default"
    # trend_break: from this many weeks before the end, each app's time per DAU bends by this
    # many log points a year (the break falls in the weeks a held-back test forecasts), after
    # earlier bends at `breaks_per_year` random weeks of normal size `break_slope_sd`.
    break_weeks_before_end: int = 26
    break_slope_per_year: float = -0.05
    breaks_per_year: float = 1.0
    break_slope_sd: float = 0.05
    # heavy_tails: noise innovations from a Student t with this many degrees of freedom.
    tail_df: float = 3.0
    # stepped_season: the ad price season's log multiplier in each calendar month, January first.
    month_price_season: tuple[float, ...] = (-0.15, -0.10, -0.05, 0.0, 0.0, -0.02,
                                             -0.04, -0.03, 0.0, 0.05, 0.15, 0.22)
    # How the apps move each other's time (CROSS): none, cannibalising, complementary, same_week.
    cross: str = "none"

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"unknown design '{self.design}': use one of {', '.join(DESIGNS)}")
        if self.cross not in CROSS:
            raise ValueError(f"unknown cross design '{self.cross}': use one of {', '.join(CROSS)}")

    def cross_matrix(self, null: bool = False) -> np.ndarray:
        """The cross effects on log time per DAU, apps x apps ([target, source]; 0 on the diagonal)."""
        rows = CROSS[self.cross].get("matrix", {})
        matrix = np.array([[rows.get(target, {}).get(source, 0.0) for source in self.apps] for target in self.apps])
        return matrix * (0.0 if null else 1.0)

    def weeks(self) -> pd.DatetimeIndex:
        return pd.date_range(pd.Timestamp(self.start), pd.Timestamp(self.end), freq="7D", unit="ns")

    @property
    def noise_tail_df(self) -> float | None:
        """Degrees of freedom of the noise innovations' Student t, or None for normal ones."""
        return self.tail_df if self.design == "heavy_tails" else None

    @property
    def known_breaks(self) -> tuple[str, ...]:
        """The one-off breaks a user of this world knows of, as `ImpactModel(known_breaks=...)`
        takes them: WhatsApp's ads launch ramping its revenue (public: Updates-tab ads, 2025)."""
        last = pd.Timestamp(self.whatsapp_ads_start) + pd.Timedelta(weeks=self.whatsapp_ads_ramp_weeks - 1)
        return (f"whatsapp:ad_revenue_usd:{self.whatsapp_ads_start.isoformat()}:{last.date().isoformat()}",)


@dataclass
class SimulatedWorld:
    """A simulated panel, its zero-rollout counterfactual, and the truth behind it."""

    panel: pd.DataFrame
    counterfactual: pd.DataFrame
    truth: dict

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write panel.parquet, panel.csv and truth.json into `out_dir` (created if needed)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"parquet": out / "panel.parquet", "csv": out / "panel.csv", "truth": out / "truth.json"}
        table = self.panel.assign(week=self.panel["week"].dt.date)
        _atomic_write(paths["parquet"], lambda p: table.to_parquet(p, index=False))
        _atomic_write(paths["csv"], lambda p: table.to_csv(p, index=False))
        _atomic_write(paths["truth"], lambda p: p.write_text(json.dumps(self.truth, indent=2, default=str)))
        return paths


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    tmp.replace(path)


# ---------------------------------------------------------------------------------------
# Pure pieces


def _innovations(rng: np.random.Generator, size, sd: float, tail_df: float | None) -> np.ndarray:
    """Zero-mean draws with standard deviation `sd`: normal, or Student t (`tail_df` > 2) rescaled."""
    if tail_df is None:
        return rng.normal(0.0, sd, size=size)
    return rng.standard_t(tail_df, size=size) * sd / np.sqrt(tail_df / (tail_df - 2.0))


def ar1(rng: np.random.Generator, shape: tuple[int, int], sd: float, rho: float,
        tail_df: float | None = None) -> np.ndarray:
    """Stationary AR(1) noise along the last axis with marginal standard deviation `sd`
    (normal innovations, or Student t with `tail_df` degrees of freedom)."""
    shocks = _innovations(rng, shape, sd * np.sqrt(1.0 - rho**2), tail_df)
    out = np.empty(shape)
    out[:, 0] = _innovations(rng, shape[0], sd, tail_df)
    for t in range(1, shape[1]):
        out[:, t] = rho * out[:, t - 1] + shocks[:, t]
    return out


def random_walk(rng: np.random.Generator, shape: tuple[int, int], step_sd: float) -> np.ndarray:
    """A random walk along the last axis from 0, with normal steps of standard deviation `step_sd`."""
    return np.cumsum(rng.normal(0.0, step_sd, size=shape), axis=-1)


def common_shocks(rng: np.random.Generator, shape: tuple[int, int], sd: float, spec: "WorldSpec") -> np.ndarray:
    """App-wide shocks of the world's design: stationary AR(1) with marginal `sd`, or (random_walk)
    a random walk whose steps are that AR(1)'s innovations, so the shocks accumulate."""
    rho = spec.common_shock_ar
    if spec.design == "random_walk":
        return random_walk(rng, shape, sd * np.sqrt(1.0 - rho**2))
    return ar1(rng, shape, sd, rho, spec.noise_tail_df)


def trend_break(rng: np.random.Generator, weeks: pd.DatetimeIndex, n_apps: int, spec: "WorldSpec") -> np.ndarray:
    """The bends of log time per DAU added by the trend_break design, apps x weeks (zeros in
    the other designs): earlier bends at random weeks, then the last one `break_weeks_before_end`
    weeks before the end."""
    out = np.zeros((n_apps, len(weeks)))
    if spec.design != "trend_break":
        return out
    years = years_since(weeks, weeks[0])
    last = years[len(weeks) - spec.break_weeks_before_end]
    for app in range(n_apps):
        times = rng.uniform(0.0, last, rng.poisson(spec.breaks_per_year * last))
        sizes = rng.normal(0.0, spec.break_slope_sd, len(times))
        for when, size in zip(np.append(times, last), np.append(sizes, spec.break_slope_per_year)):
            out[app] += size * np.maximum(years - when, 0.0)
    return out


def ramp_path(n_weeks: int, phases: list[tuple[int, float, int]]) -> np.ndarray:
    """A share path from zero: each phase (start week, target, ramp weeks) moves linearly to its target."""
    path = np.zeros(n_weeks)
    level = 0.0
    phases = sorted(phases)
    for k, (start, target, ramp) in enumerate(phases):
        if start >= n_weeks:
            break
        stop = min(phases[k + 1][0] if k + 1 < len(phases) else n_weeks, n_weeks)
        steps = np.arange(1, stop - start + 1)
        path[start:stop] = level + (target - level) * np.minimum(steps / max(ramp, 1), 1.0)
        level = path[stop - 1]
    return path


def price_season(day_of_year: np.ndarray, anchors: tuple[tuple[int, float], ...]) -> np.ndarray:
    """Periodic piecewise-linear log price multiplier over the year."""
    days = np.array([d for d, _ in anchors], dtype=float)
    values = np.array([v for _, v in anchors])
    days = np.concatenate([days - 365.0, days, days + 365.0])
    values = np.tile(values, 3)
    return np.interp(day_of_year, days, values)


def season_of_prices(weeks: pd.DatetimeIndex, day_of_year: np.ndarray, spec: "WorldSpec") -> np.ndarray:
    """The ad price season's log multiplier each week: `price_season` through the year, or in the
    stepped_season design the multiplier of the month the week starts in."""
    if spec.design == "stepped_season":
        return np.asarray(spec.month_price_season)[weeks.month.to_numpy() - 1]
    return price_season(day_of_year, spec.price_season)


def price_index(weeks: pd.DatetimeIndex, knots: dict[int, float]) -> np.ndarray:
    """Log ad price index interpolated linearly between 1 January knots."""
    knot_days = np.array([f"{y}-01-01" for y in knots], dtype="datetime64[D]").astype(float)
    return np.interp(_day_numbers(weeks), knot_days, np.array(list(knots.values())))


def _day_numbers(weeks: pd.DatetimeIndex) -> np.ndarray:
    """Days since the epoch, independent of the index's time unit."""
    return weeks.to_numpy().astype("datetime64[D]").astype(float)


def _week_index(weeks: pd.DatetimeIndex, day: date) -> int:
    """Index of the first week on or after `day`."""
    return int(np.searchsorted(_day_numbers(weeks), np.datetime64(day, "D").astype(float)))


# ---------------------------------------------------------------------------------------
# The world


def default_rollout(spec: WorldSpec, rng: np.random.Generator,
                    rng_stagger: np.random.Generator | None = None) -> np.ndarray:
    """Rollout shares (series x weeks) following the launch history, with ramps and withdrawals;
    the cross designs stagger the apps' launches (drawn from `rng_stagger`) or align them."""
    weeks = spec.weeks()
    n_weeks = len(weeks)
    design = CROSS[spec.cross]
    same_week, stagger = design.get("same_week", False), design.get("stagger_weeks", 0)
    plateau_market = rng.uniform(0.80, 0.97, size=len(spec.markets))
    shares = np.zeros((len(spec.apps) * len(spec.markets), n_weeks))
    first_ramp = {}
    for a, app in enumerate(spec.apps):
        for m, market in enumerate(spec.markets):
            app_factor = rng.uniform(0.95, 1.0)
            lag = {"facebook": 0, "instagram": int(rng.integers(0, 3))}.get(app, int(rng.integers(0, 5)))
            ramp = int(rng.integers(6, 17))
            if stagger and a > 0 and rng_stagger is not None:
                lag += int(rng_stagger.integers(0, stagger + 1))
            if same_week:
                lag, app_factor, ramp = 0, 1.0, first_ramp.setdefault(m, ramp)
            if market.launch is None:
                continue
            plateau = min(plateau_market[m] * app_factor, 0.98)
            phases = []
            if market.launch < US_BROAD_LAUNCH:
                phases.append((_week_index(weeks, market.launch) + lag, US_BETA_SHARE, 4))
                phases.append((_week_index(weeks, US_BROAD_LAUNCH) + lag, plateau, ramp))
            else:
                phases.append((_week_index(weeks, market.launch) + lag, plateau, ramp))
            path = ramp_path(n_weeks, phases)
            for w in () if same_week else spec.withdrawals:
                if w.app == app and market.code in w.markets:
                    path = _apply_withdrawal(path, weeks, w)
            shares[a * len(spec.markets) + m] = path
    return shares


def _apply_withdrawal(path: np.ndarray, weeks: pd.DatetimeIndex, w: Withdrawal) -> np.ndarray:
    start = _week_index(weeks, w.start)
    stop = _week_index(weeks, w.end) if w.end else len(weeks)
    factor = np.ones_like(path)
    down = np.arange(start, min(stop, len(path)))
    factor[down] = 1.0 - (1.0 - w.factor) * np.minimum((down - start + 1) / 2.0, 1.0)
    return path * factor


def _override_rollout(shares: np.ndarray, spec: WorldSpec, rollout: pd.DataFrame) -> np.ndarray:
    """Replace default shares with the (app, market, week, rollout_share) rows given."""
    weeks = spec.weeks()
    series = {(a, m.code): i for i, (a, m) in enumerate((a, m) for a in spec.apps for m in spec.markets)}
    shares = shares.copy()
    week_pos = weeks.get_indexer(pd.to_datetime(rollout["week"]))
    if (week_pos < 0).any():
        raise ValueError("rollout weeks must be Mondays inside the world's date range")
    for (app, market, share), t in zip(rollout[["app", "market", "rollout_share"]].itertuples(index=False), week_pos):
        shares[series[(app, market)], t] = share
    return np.clip(shares, 0.0, 1.0)


def simulate_world(seed: int = 0, null: bool = False, spec: WorldSpec | None = None,
                   rollout: pd.DataFrame | None = None) -> SimulatedWorld:
    """Simulate the world for `seed`. `null=True` removes every effect (placebo worlds).

    `rollout` optionally overrides shares for some (app, market, week) rows, to play a plan
    forward in the same world (same noise, same baselines).
    """
    spec = spec or WorldSpec()
    effects = spec.effects.scaled(0.0) if null else spec.effects
    weeks = spec.weeks()
    apps, markets = spec.apps, spec.markets
    n_apps, n_markets, n_weeks = len(apps), len(markets), len(weeks)
    n_series = n_apps * n_markets
    app_of = np.repeat(np.arange(n_apps), n_markets)
    market_of = np.tile(np.arange(n_markets), n_apps)

    streams = np.random.SeedSequence(seed).spawn(9)     # the first seven as before the response designs
    rng_struct, rng_rollout, rng_common, rng_time, rng_dau, rng_rev, rng_breaks, rng_markets, rng_stagger = (
        np.random.default_rng(s) for s in streams)

    years = years_since(weeks, pd.Timestamp(spec.start))[None, :]
    doy = weeks.day_of_year.to_numpy(dtype=float) + 3.0  # mid-week
    angle = year_angle(weeks)
    south = np.array([m.southern for m in markets])[market_of]
    early = np.array([m.launch is not None and m.launch < spec.early_launch_before for m in markets])[market_of]

    # Structure: levels, trends, seasonal shapes (time per DAU and DAU).
    level_time = rng_struct.normal(0.0, 0.15, n_series)
    trend_time = (np.array([spec.minutes_trend[a] for a in apps])[app_of]
                  + rng_struct.normal(0.0, 0.012, n_series) + spec.early_launch_trend_bonus * early)
    winter = np.where(south, -1.0, 1.0) * rng_struct.uniform(0.015, 0.035, n_series)
    seas_coef = np.column_stack([winter, rng_struct.normal(0, 0.008, n_series),
                                 rng_struct.normal(0, 0.006, n_series), rng_struct.normal(0, 0.006, n_series)])
    harmonics = np.vstack([np.cos(angle), np.sin(angle), np.cos(2 * angle), np.sin(2 * angle)])
    seasonal_time = seas_coef @ harmonics
    holiday_lift = rng_struct.uniform(0.02, 0.05, n_series)[:, None] * holiday_weeks(weeks)[None, :]
    dau_growth = np.array([m.dau_growth for m in markets])[market_of] + rng_struct.normal(0, 0.01, n_series)
    seasonal_dau = (0.3 * seas_coef) @ harmonics
    dau_start = np.array([m.dau_millions[a] * 1e6 for a in apps for m in markets])
    price = np.array([m.price for m in markets])[market_of] * np.array([spec.app_price[a] for a in apps])[app_of]

    shares = default_rollout(spec, rng_rollout, rng_stagger)
    if rollout is not None and len(rollout):
        shares = _override_rollout(shares, spec, rollout)

    common_time = common_shocks(rng_common, (n_apps, n_weeks), spec.common_shock_sd, spec)[app_of]
    common_dau = common_shocks(rng_common, (n_apps, n_weeks), spec.common_shock_sd / 2, spec)[app_of]
    common_rev = common_shocks(rng_common, (n_apps, n_weeks), 2 * spec.common_shock_sd, spec)[app_of]
    noise_time = ar1(rng_time, (n_series, n_weeks), spec.noise_time_sd, spec.noise_time_ar, spec.noise_tail_df)
    noise_dau = ar1(rng_dau, (n_series, n_weeks), spec.noise_dau_sd, spec.noise_dau_ar, spec.noise_tail_df)
    noise_rev = ar1(rng_rev, (n_series, n_weeks), spec.noise_revenue_sd, spec.noise_revenue_ar, spec.noise_tail_df)

    log_time_base = (np.log(np.array([spec.base_minutes[a] for a in apps]))[app_of, None] + level_time[:, None]
                     + trend_time[:, None] * years + seasonal_time + holiday_lift + common_time + noise_time
                     + trend_break(rng_breaks, weeks, n_apps, spec)[app_of])
    log_dau_base = (np.log(dau_start)[:, None] + dau_growth[:, None] * years + seasonal_dau
                    + common_dau + noise_dau)

    response = rollout_response(shares, effects.carryover, effects.half_saturation, effects.hill_exponent)
    market_effect = 1.0 + effects.market_spread * rng_markets.uniform(-1.0, 1.0, n_series)[:, None]
    beta_time = np.array([effects.log_time_per_dau[a] for a in apps])[app_of, None] * market_effect
    beta_dau = np.array([effects.log_dau[a] for a in apps])[app_of, None] * market_effect
    beta_direct = np.array([effects.direct_log_revenue[a] for a in apps])[app_of, None] * market_effect
    cross = cross_effects(shares, spec.cross_matrix(null), effects, n_apps)     # series x weeks, on log time

    # Revenue pieces that do not depend on the rollout.
    # A market's revenue level comes from its size and price, not from its random level of
    # minutes; the elasticity applies to minutes relative to that series' own start.
    log_minutes_nominal = (np.log(dau_start) + np.log(np.array([spec.base_minutes[a] for a in apps]))[app_of]
                           + np.log(DAYS_PER_WEEK))[:, None]
    log_minutes_ref = log_minutes_nominal + level_time[:, None]
    wa_ads = np.zeros(n_weeks)
    wa_start = _week_index(weeks, spec.whatsapp_ads_start)
    wa_ads[wa_start:] = np.log(spec.whatsapp_ads_multiplier) * np.minimum(
        np.arange(1, n_weeks - wa_start + 1) / spec.whatsapp_ads_ramp_weeks, 1.0)
    app_price_path = np.where(np.array(apps)[app_of] == "whatsapp", 1.0, 0.0)[:, None] * wa_ads[None, :]
    log_price = (np.log(spec.usd_per_minute * price)[:, None] + app_price_path
                 + price_index(weeks, spec.price_index_knots)[None, :]
                 + season_of_prices(weeks, doy, spec)[None, :] + common_rev + noise_rev)

    def outcomes(resp: np.ndarray, direct: np.ndarray, moved: np.ndarray) -> dict[str, np.ndarray]:
        log_time = log_time_base + beta_time * resp + moved
        log_dau = log_dau_base + beta_dau * resp + CROSS_DAU_RATIO * moved
        log_minutes = log_time + log_dau + np.log(DAYS_PER_WEEK)
        log_revenue = (log_price + log_minutes_nominal + effects.revenue_elasticity * (log_minutes - log_minutes_ref)
                       + direct * resp)
        return {"time_spent_min": np.exp(log_time), "dau": np.exp(log_dau),
                "minutes": np.exp(log_minutes), "ad_revenue_usd": np.exp(log_revenue)}

    none = np.zeros_like(response)
    actual = outcomes(response, beta_direct, cross)
    counterfactual = outcomes(none, beta_direct, none)
    engagement_only = outcomes(response, np.zeros_like(beta_direct), cross)
    own_only = outcomes(response, beta_direct, none)

    keys = pd.DataFrame({"week": np.tile(weeks.to_numpy(), n_series),
                         "app": np.repeat(np.array(apps)[app_of], n_weeks),
                         "market": np.repeat(np.array([m.code for m in markets])[market_of], n_weeks)})
    panel = keys.assign(
        rollout_share=np.round(shares.ravel(), 4),
        dau=np.round(actual["dau"].ravel()),
        time_spent_min=np.round(actual["time_spent_min"].ravel(), 4),
        ad_revenue_usd=np.round(actual["ad_revenue_usd"].ravel(), 2),
    )
    cf_panel = keys.assign(
        rollout_share=0.0,
        dau=counterfactual["dau"].ravel(),
        time_spent_min=counterfactual["time_spent_min"].ravel(),
        minutes=counterfactual["minutes"].ravel(),
        ad_revenue_usd=counterfactual["ad_revenue_usd"].ravel(),
        incremental_minutes=(actual["minutes"] - counterfactual["minutes"]).ravel(),
        incremental_ad_revenue_usd=(actual["ad_revenue_usd"] - counterfactual["ad_revenue_usd"]).ravel(),
        incremental_revenue_via_engagement=(engagement_only["ad_revenue_usd"] - counterfactual["ad_revenue_usd"]).ravel(),
        cross_minutes=(actual["minutes"] - own_only["minutes"]).ravel(),
        cross_ad_revenue_usd=(actual["ad_revenue_usd"] - own_only["ad_revenue_usd"]).ravel(),
    )
    truth = _truth(spec, seed, null, effects, cf_panel)
    truth["market_effect"] = {app: {m.code: float(market_effect[a * n_markets + k, 0]) for k, m in enumerate(markets)}
                              for a, app in enumerate(apps)}
    truth["cross"] = _cross_truth(spec, null, cf_panel)
    return SimulatedWorld(panel=panel, counterfactual=cf_panel, truth=truth)


def cross_effects(shares: np.ndarray, matrix: np.ndarray, effects: EffectTruth, n_apps: int) -> np.ndarray:
    """Each series' log time per DAU moved by the other apps' exposure in its market (series x
    weeks, app-major): sum over sources b of matrix[a, b] x the response of b's shares under b's
    saturation with a carry-over of CROSS_CARRYOVER."""
    if not matrix.any():
        return np.zeros_like(shares)
    source = rollout_response(shares, CROSS_CARRYOVER, effects.half_saturation, effects.hill_exponent)
    by_app = source.reshape(n_apps, -1, shares.shape[-1])                          # apps x markets x weeks
    return np.einsum("ts,smw->tmw", matrix, by_app).reshape(shares.shape)


def _cross_truth(spec: WorldSpec, null: bool, cf: pd.DataFrame) -> dict:
    """The cross design's truth: its matrix, and per app and for the family what the rollouts
    added over the history, split into the app's own part and what the other apps moved."""
    sums = cf.groupby("app")[["incremental_minutes", "incremental_ad_revenue_usd", "cross_minutes",
                              "cross_ad_revenue_usd"]].sum()
    per_app = {app: {"minutes": float(r["incremental_minutes"]), "ad_revenue_usd": float(r["incremental_ad_revenue_usd"]),
                     "cross_minutes": float(r["cross_minutes"]), "cross_ad_revenue_usd": float(r["cross_ad_revenue_usd"]),
                     "own_minutes": float(r["incremental_minutes"] - r["cross_minutes"]),
                     "own_ad_revenue_usd": float(r["incremental_ad_revenue_usd"] - r["cross_ad_revenue_usd"])}
               for app, r in sums.iterrows()}
    family = {key: float(sum(v[key] for v in per_app.values())) for key in next(iter(per_app.values()))}
    return {"design": spec.cross, "identified": not CROSS[spec.cross].get("same_week", False),
            "log_time_per_dau": {target: dict(zip(spec.apps, row.tolist()))
                                 for target, row in zip(spec.apps, spec.cross_matrix(null))},
            "dau_ratio": CROSS_DAU_RATIO, "carryover": CROSS_CARRYOVER, "incremental": per_app, "family": family}


LATE_ENTRANTS = {"NG": 100, "PL": 135, "ZA": 170}   # market -> weeks after the panel's start its data begins
ENDS_EARLY = {"TR": 30}                             # market -> weeks before the panel's end its data stops


def real_shaped(panel: pd.DataFrame, late: dict[str, int] | None = None,
                early: dict[str, int] | None = None) -> pd.DataFrame:
    """A simulated panel made unbalanced like real data by cutting rows: markets whose data
    starts late (`late`) and markets that stop reporting early (`early`), for every app. The
    world's truth per row (`counterfactual`) still holds for the rows kept."""
    late = LATE_ENTRANTS if late is None else late
    early = ENDS_EARLY if early is None else early
    weeks = np.sort(panel["week"].unique())
    keep = np.ones(len(panel), dtype=bool)
    for market, offset in late.items():
        keep &= ~((panel["market"] == market) & (panel["week"] < weeks[offset])).to_numpy()
    for market, offset in early.items():
        keep &= ~((panel["market"] == market) & (panel["week"] > weeks[-1 - offset])).to_numpy()
    return panel[keep].reset_index(drop=True)


def _truth(spec: WorldSpec, seed: int, null: bool, effects: EffectTruth, cf: pd.DataFrame) -> dict:
    by_app = cf.groupby("app")[["incremental_minutes", "incremental_ad_revenue_usd",
                                "incremental_revenue_via_engagement", "minutes", "ad_revenue_usd"]].sum()
    by_market = cf.groupby(["app", "market"])[["incremental_minutes", "incremental_ad_revenue_usd"]].sum()
    incremental = {}
    for app, row in by_app.iterrows():
        incremental[app] = {
            "minutes": float(row["incremental_minutes"]),
            "ad_revenue_usd": float(row["incremental_ad_revenue_usd"]),
            "ad_revenue_via_engagement": float(row["incremental_revenue_via_engagement"]),
            "ad_revenue_direct": float(row["incremental_ad_revenue_usd"] - row["incremental_revenue_via_engagement"]),
            "counterfactual_minutes": float(row["minutes"]),
            "counterfactual_ad_revenue_usd": float(row["ad_revenue_usd"]),
            "by_market": {m: {"minutes": float(r["incremental_minutes"]),
                              "ad_revenue_usd": float(r["incremental_ad_revenue_usd"])}
                          for (_, m), r in by_market.loc[[app]].iterrows()},
        }
    return {
        "seed": seed,
        "null": null,
        "design": spec.design,
        "response": effects.response,
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "weeks": len(spec.weeks()),
        "apps": list(spec.apps),
        "markets": [m.code for m in spec.markets],
        "effects": asdict(effects),
        "modelled_revenue_share": spec.modelled_revenue_share,
        "launches": {m.code: (m.launch.isoformat() if m.launch else None) for m in spec.markets},
        "launch_waves": {m.code: m.wave for m in spec.markets},
        "withdrawals": [asdict(w) | {"start": w.start.isoformat(), "end": w.end.isoformat() if w.end else None}
                        for w in spec.withdrawals],
        "definition": "incremental = actual minus the same world with zero rollout and the same noise, "
                      "summed over every week of the history",
        "incremental": incremental,
    }


# ---------------------------------------------------------------------------------------
# Lift tests the world ran

EXPERIMENT_WEEKS = (6, 8, 10, 12)


def simulate_experiments(world: SimulatedWorld, spec: WorldSpec, n: int, seed: int,
                         last_week: date | pd.Timestamp | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """`n` lift tests the world ran, before `last_week` (default: its last week), and their truth.

    Each holds one arm of a random market's users at share 1 for 6-12 weeks within the last 60,
    against a reference arm at the market's own share when the test starts (0 where it had not
    launched, or had finished): what finishing its rollout adds. See `run_experiments`."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 30]))
    weeks = np.sort(world.panel["week"].unique())
    end = len(weeks) - 1 if last_week is None else int(np.searchsorted(weeks, np.datetime64(pd.Timestamp(last_week)),
                                                                     side="right")) - 1
    keys = sorted(world.panel.groupby(["app", "market"]).groups)
    chosen = []
    for _ in range(n):
        app, market = keys[rng.integers(len(keys))]
        duration = int(rng.choice(EXPERIMENT_WEEKS))
        first = int(rng.integers(max(end - 60, 0), end - duration + 2))
        chosen.append({"app": app, "market": market, "first_week": pd.Timestamp(weeks[first]), "weeks": duration})
    return run_experiments(world, spec, chosen, seed)


def run_experiments(world: SimulatedWorld, spec: WorldSpec, chosen: list[dict], seed: int,
                    arm_share: float = ARM_SHARE, measured: tuple[str, ...] = ("log_time", "log_dau", "log_revenue")
                    ) -> tuple[pd.DataFrame, list[dict]]:
    """The lift tests `chosen` (each: app, market, first_week, weeks; optional test_share, default 1,
    and reference_share, default the market's share at first_week, or 0 if that is under 0.05 or
    over 0.95), run in the world: read from two arms of `arm_share` of the market's users each
    (default `data.experiments.ARM_SHARE`).

    The measured lifts are the true ones (the world's shape and the market's own effect sizes,
    `data.exposure.lift_response`) plus normal noise with the standard error reported
    (`data.experiments.arm_standard_error`; a lift of log DAU is read with half of it, one of
    log ad revenue with twice). Rows as `data.experiments.read_experiments` gives them; the
    truth one dict per row."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 31]))
    effects = spec.effects.scaled(0.0) if world.truth.get("null") else spec.effects
    series = {key: group.sort_values("week") for key, group in world.panel.groupby(["app", "market"])}
    rows, truth = [], []
    for test in chosen:
        app, market = test["app"], test["market"]
        group = series[(app, market)]
        weeks = group["week"].to_numpy()
        first = int(np.searchsorted(weeks, np.datetime64(pd.Timestamp(test["first_week"]))))
        last = first + int(test["weeks"]) - 1
        share = group["rollout_share"].to_numpy()
        default_reference = round(float(share[first]), 2) if 0.05 <= share[first] <= 0.95 else 0.0
        test_share, reference = float(test.get("test_share", 1.0)), float(test.get("reference_share", default_reference))
        x = float(lift_response(share[None, :last + 1], [first], [last], [test_share], [reference], effects.carryover,
                                effects.half_saturation, effects.hill_exponent)[0])
        scale = world.truth["market_effect"][app][market]
        lifts = {"log_time": effects.log_time_per_dau[app] * scale * x, "log_dau": effects.log_dau[app] * scale * x}
        lifts["log_revenue"] = (effects.revenue_elasticity * (lifts["log_time"] + lifts["log_dau"])
                                + effects.direct_log_revenue[app] * scale * x)
        se = float(arm_standard_error(float(group["dau"].iloc[first]), int(test["weeks"]), arm_share))
        errors = {"log_time": se, "log_dau": se / 2, "log_revenue": 2 * se}
        row = {"app": app, "market": market, "first_week": pd.Timestamp(weeks[first]),
               "last_week": pd.Timestamp(weeks[last]), "test_share": test_share, "reference_share": reference}
        for name, value in lifts.items():
            noise = rng.standard_normal()        # drawn for every lift, so `measured` leaves the others as they are
            row[f"lift_{name}"] = value + errors[name] * noise if name in measured else np.nan
            row[f"se_{name}"] = errors[name] if name in measured else np.nan
        rows.append({**row, "source": f"simulated world seed {seed}"})
        truth.append({"app": app, "market": market, "first_week": str(weeks[first])[:10],
                      "true_lift": lifts, "response_added": x, "market_effect": scale})
    return pd.DataFrame(rows), truth
