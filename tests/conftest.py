"""Shared fixtures: a small valid panel, the default simulated world and models fitted on it."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from data.simulator import real_shaped
from tests.helpers import HELD_BACK_WEEKS, make_small_panel, small_spec

SMALL_LATE_ENTRANT = {"VN": 120}      # the small world's unbalanced markets: one enters late,
SMALL_ENDS_EARLY = {"KR": 30}         # one stops reporting 30 weeks before the end


@pytest.fixture
def small_panel() -> pd.DataFrame:
    return make_small_panel()


@pytest.fixture(scope="session")
def default_world():
    from data import simulate_world
    return simulate_world(seed=0)


@pytest.fixture(scope="session")
def heldback_model(default_world):
    """The model with its default settings, trained on the default world minus its last 26 weeks."""
    from training.model.estimator import ImpactModel
    panel = default_world.panel
    cutoff = panel["week"].sort_values().unique()[-HELD_BACK_WEEKS]
    return ImpactModel(seed=0).fit(panel[panel["week"] < cutoff])


@pytest.fixture(scope="session")
def full_model(default_world):
    """The model on the whole default world (backtest shortened: attribution does not use it)."""
    from training.model.estimator import ImpactModel
    return ImpactModel(seed=0, backtest_origins=2).fit(default_world.panel)


@pytest.fixture(scope="session")
def unbalanced_world_panel(default_world) -> pd.DataFrame:
    """The default world made real-shaped: three late entrants and one market that stops early."""
    return real_shaped(default_world.panel)


@pytest.fixture(scope="session")
def unbalanced_model(unbalanced_world_panel):
    """The model on the unbalanced default world (backtest shortened: attribution does not use it)."""
    from training.model.estimator import ImpactModel
    return ImpactModel(seed=0, backtest_origins=2).fit(unbalanced_world_panel)


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    """A model fitted on a small unbalanced world (2 apps x 12 markets; VN enters late, KR stops
    early), saved and imported into a BentoML store."""
    from data import simulate_world
    from training.model.estimator import ImpactModel
    from training.model.persist import save_model
    panel = real_shaped(simulate_world(seed=5, spec=small_spec()).panel, SMALL_LATE_ENTRANT, SMALL_ENDS_EARLY)
    model = ImpactModel(n_bootstrap=50, backtest_origins=3).fit(panel)
    root = tmp_path_factory.mktemp("service")
    model_dir = save_model(model, root / "model")
    home = root / "bentoml"
    script = ("import sys; from training.registry import import_to_bentoml; "
              "print(import_to_bentoml(__import__('pathlib').Path(sys.argv[1]), '7', 'run-abc'))")
    subprocess.run([sys.executable, "-c", script, str(model_dir)], env={**os.environ, "BENTOML_HOME": str(home)},
                   check=True, capture_output=True, timeout=120)
    return {"model": model, "home": home}
