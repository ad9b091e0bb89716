"""The family of apps (issue 31), slow: family plans and attribution on worlds where the apps move
each other's time, against the world played forward. Today each app is modelled alone; where no
app moves another the per-app answers add up to the family's, and where they do the family's
answer is expected to fail until the model has cross effects (the figures: `python bench/family.py`)."""

from __future__ import annotations

import pandas as pd
import pytest

from data.simulator import WorldSpec
from testkit.evaluation import family_cases

pytestmark = pytest.mark.slow

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def plans():
    return pd.concat([family_cases(seed, WorldSpec(cross=cross)) for cross in ("none", "cannibalising", "complementary")
                      for seed in SEEDS], ignore_index=True)


def family_error(plans: pd.DataFrame, cross: str) -> float:
    mine = plans[(plans["cross"] == cross) & (plans["app"] == "family")]
    return float(mine["error"].abs().median())


def test_without_cross_effects_the_apps_answers_add_up_to_the_familys_truth(plans):
    """Each app alone or all together to share 1: the family's increment within 10% (median)."""
    assert family_error(plans, "none") <= 0.10


@pytest.mark.xfail(strict=True, reason="issue 31: each app is modelled on its own rollout, so a plan's family increment "
                                       "misses what it takes from (or adds to) the other apps; bench/family.py measures it")
def test_where_apps_cannibalise_or_complement_each_other_family_plans_are_within_10_percent(plans):
    assert family_error(plans, "cannibalising") <= 0.10 and family_error(plans, "complementary") <= 0.10
