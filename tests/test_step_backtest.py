"""The rollout-step backtest on a panel with no known truth: the model refitted without the last
26 weeks predicts the rollout steps those weeks hold (issue 26, part 4).

The default world less its own last 26 weeks (so the simulator's truth can be compared too)
holds four steps in its final 26 weeks: Instagram restored in DE, ES and FR, and WhatsApp
withdrawn in BR.
"""

from __future__ import annotations

import numpy as np
import pytest

from data import simulate_world
from training.model.estimator import ImpactModel
from training.model.stepbacktest import StepBacktest, rollout_step_backtest


@pytest.fixture(scope="module")
def steps():
    panel = simulate_world(seed=1).panel
    weeks = np.sort(panel["week"].unique())
    history = panel[panel["week"] < weeks[-26]]
    return rollout_step_backtest(ImpactModel(seed=1), history)        # as impact train runs it


def test_the_steps_are_the_markets_whose_share_moved_in_the_held_out_weeks(steps):
    minutes = steps.rows[steps.rows["quantity"] == "minutes"].set_index(["app", "market"])
    assert sorted(minutes.index) == [("instagram", "DE"), ("instagram", "ES"), ("instagram", "FR"),
                                     ("whatsapp", "BR")]
    restored, withdrawn = minutes.loc["instagram"], minutes.loc[("whatsapp", "BR")]
    assert (restored["share_to"] > restored["share_from"] + 0.3).all() and (restored["predicted"] > 0).all()
    assert withdrawn["share_to"] < withdrawn["share_from"] - 0.3 and withdrawn["predicted"] < 0
    assert steps.weeks == 26 and steps.first_week == "2025-11-03"


def test_each_step_is_scored_against_what_the_panel_shows_with_its_band(steps):
    rows = steps.rows
    assert (rows["lo"] < rows["predicted"]).all() and (rows["predicted"] < rows["hi"]).all()
    assert (rows["covered"] == ((rows["lo"] <= rows["observed"]) & (rows["observed"] <= rows["hi"]))).all()
    np.testing.assert_allclose(rows["error"], rows["predicted"] / rows["observed"] - 1)
    summary = steps.summary()
    assert summary["instagram"]["minutes"]["steps"] == 3 and summary["whatsapp"]["ad_revenue_usd"]["steps"] == 1
    assert rows["covered"].mean() >= 0.75


def test_the_backtest_round_trips_through_plain_data(steps):
    again = StepBacktest.from_dict(steps.to_dict())
    assert again.summary() == steps.summary() and again.first_week == steps.first_week
    empty = StepBacktest.from_dict({**steps.to_dict(), "steps": []})
    assert empty.summary() == {} and list(empty.rows.columns) == list(steps.rows.columns)


class CountingFits(ImpactModel):
    """An ImpactModel that counts its fits (clone keeps the class)."""

    fits = 0

    def fit(self, *args, **kwargs):
        CountingFits.fits += 1
        return super().fit(*args, **kwargs)


def test_a_panel_whose_last_weeks_hold_no_step_is_not_refitted_and_gives_no_rows():
    panel = simulate_world(seed=1).panel
    weeks = np.sort(panel["week"].unique())
    history = panel[panel["week"] < weeks[-26]]
    no_move = history.assign(rollout_share=history.groupby(["app", "market"])["rollout_share"].transform(
        lambda shares: shares.where(shares.index < shares.index[-30], shares.iloc[-30])))   # held for 30 weeks
    steps = rollout_step_backtest(CountingFits(seed=1), no_move)
    assert CountingFits.fits == 0 and steps.rows.empty and steps.first_week == "2025-11-03"
    moved = rollout_step_backtest(CountingFits(seed=1, n_bootstrap=20, backtest_origins=2), history, min_move=0.3)
    assert CountingFits.fits == 1 and set(moved.rows["market"]) == {"DE", "ES", "FR", "BR"}
