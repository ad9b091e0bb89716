"""Issues 13 and 28: forecast bands over many simulated worlds (slow: `make test-slow`).

Ten worlds of each design (default, random_walk, trend_break, heavy_tails, stepped_season: 50
worlds, 150 world-apps), the last 26 weeks held back and played forward by the simulator at the
status quo (`testkit.evaluation`). For total minutes, over the whole 26 weeks, the bands people
read hold the truth:
- over every design, the 90% band holds 85-95% of (world, app, week) points for market rows
  and for ALL rows, the 50% band 42-58%;
- no design holds less than 80% at 90%, market or ALL rows.
Worlds are fitted two at a time (joblib processes); the per-design table is printed (`-s`).

Two of these cannot hold, and are marked as expected failures (strict: they fail the day they
pass, so the marker goes): the trend_break design, whose last bend starts exactly where the
forecast does (77% / 73% at 90%; `bench/trend_break_oracle.py` shows that even the world's true
law of bends added to every path holds only 79%), and with it the ALL rows over every design
(85.0% / 84.3%). The other designs hold both, and `test_bands_hold_..._other_designs` checks them.

Issue 28 reads the same worlds by weeks ahead (1-4, 5-13, 14-26), at every level, for minutes
and ad revenue, market and ALL rows: on every design but trend_break, the 90% band holds 85-95%
in each bucket, the 50% band 42-58%, the other levels within 5 points. Minutes hold all of it.
Revenue holds it but for its ALL rows in weeks 5-13 (64.8% at 50%, 89.1% at 80%: too wide),
and is marked so.
"""

from __future__ import annotations

import pandas as pd
import pytest
from joblib import Parallel, delayed

from data.simulator import DESIGNS, WorldSpec
from testkit.evaluation import held_out_band_coverage
from training.model.backtest import SCALE_LEVELS

pytestmark = pytest.mark.slow

SEEDS = range(1, 11)     # 5 per design were too few: seeds 1-5 and 6-10 of random_walk differed by 13 points


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    frames = Parallel(n_jobs=2)(delayed(held_out_band_coverage)(seed, WorldSpec(design=design), levels=SCALE_LEVELS)
                                for design in DESIGNS for seed in SEEDS)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def minutes(scores) -> pd.DataFrame:
    whole = scores[scores["weeks_ahead"] == "1-26"]
    table = whole.groupby(["quantity", "design", "level"])[["market_coverage", "all_coverage"]].mean()
    print("\n" + table.to_string())
    return whole[(whole["quantity"] == "minutes") & whole["level"].isin([0.5, 0.9])]


def _hold(scores: pd.DataFrame) -> None:
    by_level = scores.groupby("level")[["market_coverage", "all_coverage"]].mean()
    for rows in ("market_coverage", "all_coverage"):
        assert 0.85 <= by_level.loc[0.9, rows] <= 0.95, (rows, by_level)
        assert 0.42 <= by_level.loc[0.5, rows] <= 0.58, (rows, by_level)


@pytest.mark.xfail(strict=True, reason="85.0% / 84.3% at 90% with trend_break's bend at the origin")
def test_bands_hold_market_and_all_rows_over_every_design(minutes):
    _hold(minutes)


def test_bands_hold_market_and_all_rows_over_the_other_designs(minutes):
    _hold(minutes[minutes["design"] != "trend_break"])


@pytest.mark.parametrize("design", [pytest.param(d, marks=pytest.mark.xfail(
    strict=True, reason="a bend that starts where the forecast starts: 76.7% / 73.2% at 90%")) if d == "trend_break" else d
    for d in DESIGNS])
def test_no_design_holds_less_than_80_percent_at_90(minutes, design):
    held = minutes[(minutes["design"] == design) & (minutes["level"] == 0.9)]
    assert held["market_coverage"].mean() >= 0.80 and held["all_coverage"].mean() >= 0.80, held


@pytest.mark.parametrize("quantity", ["minutes", pytest.param("ad_revenue_usd", marks=pytest.mark.xfail(
    strict=True, reason="revenue's ALL rows in weeks 5-13: 64.8% at 50%, 89.1% at 80%"))])
def test_bands_hold_at_every_distance_ahead_on_the_other_designs(scores, quantity):
    """Every design but trend_break together, each bucket of weeks ahead and row kind: 90% holds
    85-95%, 50% holds 42-58%, 80%, 95% and 99% within 5 points of nominal."""
    part = scores[(scores["design"] != "trend_break") & (scores["quantity"] == quantity)
                  & (scores["weeks_ahead"] != "1-26")]
    table = part.groupby(["level", "weeks_ahead"])[["market_coverage", "all_coverage"]].mean()
    print("\n" + table.unstack("weeks_ahead").to_string())
    for (level, weeks), row in table.iterrows():
        for rows, held in row.items():
            low, high = {0.9: (0.85, 0.95), 0.5: (0.42, 0.58)}.get(level, (level - 0.05, min(level + 0.05, 1.0)))
            assert low <= held <= high, (quantity, level, weeks, rows, held)
