"""Forecast bands held against worlds of every design, played forward (issue 13; the 50-world
sweep is tests/test_band_sweep.py, `make test-slow`).

One world per design (default, random_walk, trend_break, heavy_tails, stepped_season), the last
26 weeks held back, the status quo forecast at 90% for every market and played forward by the
simulator, over the whole 26 weeks.
"""

from __future__ import annotations

import pandas as pd
import pytest

from data.simulator import DESIGNS, WorldSpec
from testkit.evaluation import held_out_band_coverage


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    scores = pd.concat([held_out_band_coverage(1, WorldSpec(design=design), levels=(0.9,)) for design in DESIGNS],
                       ignore_index=True)
    return scores[scores["weeks_ahead"] == "1-26"]


def test_90_percent_bands_hold_market_rows_all_rows_and_totals_on_every_design(scores):
    """Four worlds x 3 apps x 2 quantities: each row kind's band holds most of the truth, and
    the truth sits well inside the band (a calibrated 90% band of normal errors gives 0.4)."""
    held = scores[["market_coverage", "all_coverage", "total_covered"]].mean()
    print("\n" + scores.groupby(["design", "quantity"])[["market_coverage", "all_coverage"]].mean().to_string())
    assert 0.80 <= held["market_coverage"] <= 0.97, held
    assert 0.80 <= held["all_coverage"] <= 0.99, held
    assert held["total_covered"] >= 0.75, held
    assert scores["all_error_per_halfwidth"].median() < 0.6


def test_point_forecasts_of_the_status_quo_are_within_a_few_percent(scores):
    minutes = scores[scores["quantity"] == "minutes"]
    assert minutes["market_ape"].median() < 0.02 and minutes["all_ape"].median() < 0.02
