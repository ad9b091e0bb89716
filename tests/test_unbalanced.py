"""Real-shaped panels: markets that enter late or stop early, apps that start mid-panel, series
too short to model. Every observed row is used, nothing is truncated to a shared window, and
what cannot be used is said (issue 12's acceptance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data import simulate_world
from data.simulator import ENDS_EARLY, LATE_ENTRANTS
from tests.helpers import small_spec
from training.model.estimator import ImpactModel, QueryError
from training.model.panel import PanelShapeError, app_panels

APPS = ("facebook", "instagram", "whatsapp")


def _truth_over_held_rows(world, panel: pd.DataFrame, app: str) -> dict[str, float]:
    """The simulator's true increments summed over exactly the rows the panel holds."""
    rows = panel[panel["app"] == app][["app", "market", "week"]].merge(world.counterfactual,
                                                                       on=["app", "market", "week"])
    return {"minutes": rows["incremental_minutes"].sum(), "ad_revenue_usd": rows["incremental_ad_revenue_usd"].sum()}


@pytest.mark.parametrize("app", APPS)
def test_attribution_on_the_unbalanced_world_recovers_the_truth_of_its_rows(unbalanced_model, unbalanced_world_panel,
                                                                            default_world, app):
    """Three late entrants (100-170 weeks) and a market stopping 30 weeks early: attribution over
    all markets within 10% of the truth summed over the rows the panel holds, inside the 90% interval."""
    truth = _truth_over_held_rows(default_world, unbalanced_world_panel, app)
    totals = unbalanced_model.attribute(app).totals
    for quantity in ("minutes", "ad_revenue_usd"):
        estimate = totals[quantity]["incremental"]
        assert estimate["mean"] == pytest.approx(truth[quantity], rel=0.10), (quantity, estimate, truth)
        assert estimate["lo"] <= truth[quantity] <= estimate["hi"], (quantity, estimate, truth)
    observed = unbalanced_world_panel[unbalanced_world_panel["app"] == app]
    minutes = (observed["dau"] * observed["time_spent_min"] * 7).sum()
    assert totals["minutes"]["observed"] == pytest.approx(minutes, rel=1e-9)      # every row, no more


def test_every_market_keeps_its_own_window_and_every_row_is_used(unbalanced_model, unbalanced_world_panel):
    windows = unbalanced_model.windows("facebook").set_index("market")
    weeks = np.sort(unbalanced_world_panel["week"].unique())
    for market, offset in LATE_ENTRANTS.items():
        assert windows.loc[market, "first_week"] == str(pd.Timestamp(weeks[offset]).date())
        assert windows.loc[market, "last_week"] == str(pd.Timestamp(weeks[-1]).date())
        assert windows.loc[market, "forecastable"]
    for market, offset in ENDS_EARLY.items():
        assert windows.loc[market, "last_week"] == str(pd.Timestamp(weeks[-1 - offset]).date())
        assert not windows.loc[market, "forecastable"]
    assert windows.loc["US", "first_week"] == "2021-01-04" and windows.loc["US", "n_weeks"] == len(weeks)
    rows = unbalanced_world_panel[unbalanced_world_panel["app"] == "facebook"]
    assert windows["n_weeks"].sum() == len(rows)
    assert unbalanced_model.training_window("facebook") == {"first_week": "2021-01-04",
                                                             "last_week": str(pd.Timestamp(weeks[-1]).date())}
    assert unbalanced_model.left_out_ == []


def test_a_market_whose_data_ends_early_is_attributed_but_not_forecast(unbalanced_model):
    market = next(iter(ENDS_EARLY))
    assert market in unbalanced_model.markets("instagram")
    assert market not in unbalanced_model.markets("instagram", forecastable=True)
    by_market = unbalanced_model.attribute("instagram", markets=[market]).by_market
    assert by_market["observed_minutes"].iloc[0] > 0
    ends = unbalanced_model.windows("instagram").set_index("market").loc[market, "last_week"]
    with pytest.raises(QueryError, match=f"market {market}: its data ends on {ends}"):
        unbalanced_model.forecast("instagram", np.ones((1, 4)), markets=[market])
    every = unbalanced_model.forecast("instagram", np.ones((31, 4)))
    assert market not in every.markets and len(every.markets) == 31


def test_late_entrants_forecast_like_the_others(unbalanced_model):
    late = list(LATE_ENTRANTS)
    forecast = unbalanced_model.forecast("facebook", np.ones((len(late), 13)), markets=late)
    minutes = forecast.totals["minutes"]
    assert 0 < minutes["incremental"]["lo"] < minutes["incremental"]["mean"] < minutes["incremental"]["hi"]
    assert np.isfinite(forecast.weekly.drop(columns=["week", "market"]).to_numpy()).all()


def test_event_study_uses_each_markets_own_weeks(unbalanced_model):
    study = unbalanced_model.event_study("facebook")
    assert study["available"] and study["overall_att"] > 2 * study["overall_se"] > 0
    assert study["pretrend"]["p_value"] > 0.05
    launched_before_its_data = "ZA"        # enters 2024-04-08, launched 2024-04-15: a launch it observes
    assert any(launched_before_its_data in markets for markets in study["groups"].values())


def test_an_app_that_starts_mid_panel_and_a_too_short_series_are_handled():
    """Instagram starts 60 weeks after the other app; one of its series has 80 weeks: it is left
    out with a note, the others keep all their weeks."""
    panel = simulate_world(seed=5, spec=small_spec()).panel
    weeks = np.sort(panel["week"].unique())
    late_app = (panel["app"] == "instagram") & (panel["week"] < weeks[60])
    short = (panel["app"] == "instagram") & (panel["market"] == "JP") & (panel["week"] < weeks[-80])
    panel = panel[~late_app & ~short]
    panels, notes = app_panels(panel, min_weeks=104)
    assert notes == ["instagram/JP: 80 weeks, fewer than min_weeks=104; left out of instagram"]
    assert "JP" not in panels["instagram"].markets and "JP" in panels["facebook"].markets
    assert panels["instagram"].weeks[0] == pd.Timestamp(weeks[60])
    assert len(panels["facebook"].weeks) == len(weeks)
    model = ImpactModel(n_bootstrap=30, backtest_origins=2).fit(panel)
    assert model.left_out_ == notes
    assert model.training_window("instagram")["first_week"] == str(pd.Timestamp(weeks[60]).date())
    added = model.attribute("instagram").totals["minutes"]["incremental"]
    assert added["lo"] < added["mean"] < added["hi"]


def test_a_panel_with_nothing_long_enough_is_refused_with_the_reason():
    panel = simulate_world(seed=5, spec=small_spec()).panel
    recent = panel[panel["week"] >= np.sort(panel["week"].unique())[-90]]
    with pytest.raises(PanelShapeError, match="no app can be modelled: facebook/BR: 90 weeks, fewer than"):
        ImpactModel().fit(recent)
