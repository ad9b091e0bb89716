"""Shared fixtures: small valid panels built in code, and the default simulated world."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
IMPACT = str(Path(sys.executable).parent / "impact")


def make_small_panel(weeks: int = 110, markets=("US", "IN", "BR", "DE"), apps=("facebook",)) -> pd.DataFrame:
    """A valid panel: `apps` x `markets` x `weeks` Mondays from 2022-01-03."""
    week = pd.date_range("2022-01-03", periods=weeks, freq="7D")
    rng = np.random.default_rng(0)
    rows = [
        {"week": w.date().isoformat(), "app": a, "market": m,
         "rollout_share": round(min(1.0, max(0.0, (i - 60) / 20)), 3),
         "dau": float(rng.integers(1_000_000, 5_000_000)),
         "time_spent_min": round(float(rng.uniform(20, 40)), 3),
         "ad_revenue_usd": round(float(rng.uniform(1e6, 5e6)), 2)}
        for a in apps for m in markets for i, w in enumerate(week)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def small_panel() -> pd.DataFrame:
    return make_small_panel()


@pytest.fixture(scope="session")
def default_world():
    from data import simulate_world
    return simulate_world(seed=0)


HELD_BACK_WEEKS = 26
SMALL_MARKETS = {"US", "IN", "BR", "DE", "FR", "GB", "MX", "JP", "KR", "VN", "ID", "PH"}


def small_spec():
    """A small world for end-to-end tests: 2 apps x 12 markets (3 never launched)."""
    from data.markets import MARKETS
    from data.simulator import WorldSpec
    return WorldSpec(apps=("facebook", "instagram"), markets=tuple(m for m in MARKETS if m.code in SMALL_MARKETS))


@pytest.fixture(scope="session")
def heldback_model(default_world):
    """The model with its default settings, trained on the default world minus its last 26 weeks."""
    from training.model import ImpactModel
    panel = default_world.panel
    cutoff = panel["week"].sort_values().unique()[-HELD_BACK_WEEKS]
    return ImpactModel(seed=0).fit(panel[panel["week"] < cutoff])


@pytest.fixture(scope="session")
def full_model(default_world):
    """The model on the whole default world (backtest shortened: attribution does not use it)."""
    from training.model import ImpactModel
    return ImpactModel(seed=0, backtest_origins=2).fit(default_world.panel)


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    """A model fitted on a small world (2 apps x 12 markets), saved and imported into a BentoML store."""
    from data import simulate_world
    from training.model import ImpactModel
    from training.persist import save_model
    model = ImpactModel(n_bootstrap=50, backtest_origins=3).fit(simulate_world(seed=5, spec=small_spec()).panel)
    root = tmp_path_factory.mktemp("service")
    model_dir = save_model(model, root / "model")
    home = root / "bentoml"
    script = ("import sys; from training.registry import import_to_bentoml; "
              "print(import_to_bentoml(__import__('pathlib').Path(sys.argv[1]), '7', 'run-abc'))")
    subprocess.run([sys.executable, "-c", script, str(model_dir)], env={**os.environ, "BENTOML_HOME": str(home)},
                   check=True, capture_output=True, timeout=120)
    return {"model": model, "home": home}
