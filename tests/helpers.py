"""Test helpers: small valid panels built in code, the small simulated world, paths of the tools."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

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


HELD_BACK_WEEKS = 26
SMALL_MARKETS = {"US", "IN", "BR", "DE", "FR", "GB", "MX", "JP", "KR", "VN", "ID", "PH"}


def small_spec():
    """A small world for end-to-end tests: 2 apps x 12 markets (3 never launched)."""
    from data.markets import MARKETS
    from data.simulator import WorldSpec
    return WorldSpec(apps=("facebook", "instagram"), markets=tuple(m for m in MARKETS if m.code in SMALL_MARKETS))


def as_served(answer: dict) -> dict:
    """An answer as the service sends it: through orjson (NaN becomes null, keys strings)."""
    import orjson
    return orjson.loads(orjson.dumps(answer, option=orjson.OPT_NON_STR_KEYS))


def without(value, keys: set[str]):
    """`value` with every dict entry named in `keys` dropped, at every depth (e.g. the solver's seconds)."""
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value
