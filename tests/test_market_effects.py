"""Market effects, partially pooled (issue 26, part 3): on worlds whose markets' effects differ
the model finds the spread and moves each market towards its own effect; on worlds whose
markets share one effect, and on null worlds, it keeps the app's."""

from __future__ import annotations

import numpy as np
import pytest

from data.simulator import WorldSpec, response_effects, simulate_world
from training.answers import market_effects
from training.model.estimator import ImpactModel
from training.model.persist import load_model, save_model

FIT = {"n_bootstrap": 100, "backtest_origins": 0, "n_jobs": 1}


def fitted(design: str, seed: int, null: bool = False):
    world = simulate_world(seed=seed, null=null, spec=WorldSpec(effects=response_effects(design)))
    return world, ImpactModel(seed=seed, **FIT).fit(world.panel)


@pytest.fixture(scope="module")
def varied():
    return fitted("market_varied", 1)


def true_relative(world, model, app) -> np.ndarray:
    truth = world.truth["market_effect"][app]
    return np.array([truth[m] for m in model.markets(app)])


def test_markets_whose_effects_differ_are_found_and_each_moves_towards_its_own(varied):
    """The world draws each market's effect within +-50% of its app's (sd 0.29 of it): the split
    estimate finds that spread for Facebook and Instagram, whose effects are large, and the pooled
    relative effects are at least twice as close to the truth as the app's own effect is."""
    world, model = varied
    for app in ("facebook", "instagram"):
        pooling, table = model.market_effect_summary(app)
        truth = true_relative(world, model, app)
        assert pooling.pooled and 0.15 < pooling.spread < 0.45, (app, pooling)
        pooled_error = np.median(np.abs(table["relative"] - truth))
        common_error = np.median(np.abs(1 - truth))
        assert pooled_error <= 0.5 * common_error, (app, pooled_error, common_error)


def test_each_markets_90_percent_interval_covers_its_true_effect(varied):
    """/model's per-market interval on log time per DAU (the app's widened draws times the
    market's relative effect in each draw) covers the world's true effect of that market."""
    world, model = varied
    covered = []
    for app in model.apps:
        _, table = model.market_effect_summary(app, 0.9)
        true = world.truth["effects"]["log_time_per_dau"][app] * true_relative(world, model, app)
        covered += list((table["lo"] <= true) & (true <= table["hi"]))
    assert np.mean(covered) >= 0.8, np.mean(covered)


def test_where_markets_differ_the_shape_is_fitted_at_each_markets_own_effect_and_holds_the_truth(varied):
    """A likelihood that gives every market the app's effect reads the markets' differences as
    curvature: on this world it put half-saturation's 90% interval at 0.22-0.92 (truth 0.35). Fitted
    again with each market's response at its own effect, every parameter's interval holds the truth
    and is narrow."""
    world, model = varied
    truth = world.truth["effects"]
    for name, summary in model.shape_summary("facebook", 0.9).items():
        assert summary["lo"] <= truth[name] <= summary["hi"], (name, summary, truth[name])
        assert summary["hi"] / summary["lo"] < 1.6, (name, summary)


@pytest.mark.parametrize("null", [False, True], ids=["one effect", "null world"])
def test_markets_that_share_one_effect_keep_the_apps(null):
    """On the default world (every market has its app's effect) and on a null world (no effect),
    no app finds a spread: every market's relative effect is 1 on every path, and the paths are
    those of a model without market effects."""
    _, model = fitted("default", 2, null=null)
    for app in model.apps:
        pooling, table = model.market_effect_summary(app)
        assert not pooling.pooled and pooling.spread == 0, (app, pooling)
        assert (table["relative"] == 1).all() and model.apps_[app].market_draws is None


def test_model_lists_every_markets_effect_and_a_market_without_rollout_history_gets_the_spread(varied):
    """/model's `market_effects`: the spread and its evidence, and a row per market whose interval
    holds its estimate. A market the rollout never reached has no estimate of its own: it gets the
    app's effect, with the spread between markets as its uncertainty."""
    _, model = varied
    listed = market_effects(model, "facebook")
    assert listed["pooled"] and listed["spread_z"] > 1.645
    assert [row["market"] for row in listed["markets"]] == model.markets("facebook")
    for row in listed["markets"]:
        assert row["log_time"]["lo90"] <= row["log_time"]["estimate"] <= row["log_time"]["hi90"]
    never = [row for row in listed["markets"] if row["own_estimate"] is None]
    for row in never:
        assert row["relative_sd"] == pytest.approx(listed["spread"])
        assert row["relative"] == pytest.approx(never[0]["relative"])


def test_a_saved_model_answers_with_the_same_market_effects(varied, tmp_path):
    """The market effects and each path's draw of them survive the model file."""
    _, model = varied
    loaded = load_model(save_model(model, tmp_path / "model"))
    for app in model.apps:
        assert model.market_effect_summary(app)[1].equals(loaded.market_effect_summary(app)[1])
        assert model.market_effect_summary(app)[0].spread == loaded.market_effect_summary(app)[0].spread
    market = model.markets("instagram", forecastable=True)[0]
    shares = np.ones((1, 13))
    a = model.plan_values("instagram", shares, [market], level=0.9)
    b = loaded.plan_values("instagram", shares, [market], level=0.9)
    assert np.array_equal(a.incremental_paths["minutes"], b.incremental_paths["minutes"])
