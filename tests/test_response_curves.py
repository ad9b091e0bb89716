"""The marginal gain of a rollout step on one world of each response design (issue 26; its error
and band coverage over many worlds, with an oracle, are `python bench/response_curves.py`).

The last 26 weeks are held back; each partially rolled-out market alone is taken to share 1 and
the world is played forward with the same noise. Worlds whose true shape is none of the
estimator's starting points: strongly saturating, nearly linear, an S-curve with a threshold, a
carry-over of months, and markets whose effect sizes differ.
"""

from __future__ import annotations

import pytest

from data.simulator import RESPONSES, WorldSpec, response_effects
from testkit.evaluation import response_cases

SEED = 3


@pytest.fixture(scope="module", params=list(RESPONSES))
def steps(request):
    cases = response_cases(SEED, WorldSpec(effects=response_effects(request.param)), n_bootstrap=100,
                           backtest_origins=0)
    return request.param, cases[cases["case"] == "step"]


def test_every_point_is_the_centre_of_its_own_paths(steps):
    """A point and its band are one model: the point lies inside its own central 50% band."""
    name, cases = steps
    centred = (cases["lo_50"] <= cases["point"]) & (cases["point"] <= cases["hi_50"])
    assert len(cases) >= 30 and centred.mean() >= 0.9, (name, centred.mean())
