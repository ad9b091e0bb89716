"""ImpactModel as a scikit-learn estimator, and the query layer that reads a fitted model."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from training.model.effects import DEFAULT_GRID, ResponseShape
from training.model.estimator import ImpactModel, stable_seed
from training.model.persist import params_from_json, params_to_json


def test_parameters_are_kept_exactly_as_passed_and_clone_round_trips():
    grid = (ResponseShape(0.5, 0.35, 1.5), ResponseShape(0.7, 0.6, 1.0))
    model = ImpactModel(n_bootstrap=40, grid=grid, shared_shape=False, seed=3)
    params = model.get_params()
    assert params["grid"] is grid and params["n_bootstrap"] == 40 and params["shared_shape"] is False
    twin = clone(model)
    assert twin is not model and twin.get_params() == params
    assert ImpactModel(**model.get_params()).get_params() == params
    assert params_from_json(params_to_json(params)) == params           # the JSON form persist writes
    assert ImpactModel().get_params()["grid"] is DEFAULT_GRID
    assert model.set_params(n_bootstrap=60).n_bootstrap == 60


def test_clone_of_a_fitted_model_is_unfitted_with_the_same_parameters(small_model):
    fitted = small_model["model"]
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params() and not hasattr(twin, "apps_")
    with pytest.raises(Exception, match="not fitted"):
        twin.apps


@pytest.mark.parametrize("params, message", [
    ({"n_bootstrap": 5}, "'n_bootstrap' parameter of ImpactModel must be an int in the range [20, 10000]"),
    ({"n_bootstrap": 50.0}, "'n_bootstrap' parameter of ImpactModel must be an int"),
    ({"shared_shape": "banana"}, "'shared_shape' parameter of ImpactModel must be an instance of 'bool'"),
    ({"backtest_horizon": 20, "max_horizon": 13}, "must not exceed max_horizon (13)"),
    ({"grid": ()}, "got an empty grid instead"),
    ({"grid": ((0.5, 0.35, 1.5),)}, "must be a non-empty sequence of ResponseShape"),
    ({"grid": (ResponseShape(0.5, 0.35, 1.5),) * 2}, "lists a shape twice"),
    ({"min_weeks": 10}, "'min_weeks' parameter of ImpactModel must be an int in the range [60, inf)"),
    ({"known_breaks": ("whatsapp:ad_revenue_usd:2025-06-16",)}, "must be app:quantity:first:last"),
    ({"known_breaks": ("whatsapp:revenue:2025-06-16:2025-12-08",)}, "quantity must be one of minutes, ad_revenue_usd"),
    ({"known_breaks": ("whatsapp:minutes:2025-13-01:2025-12-08",)}, "first and last must be dates"),
    ({"known_breaks": ("whatsapp:minutes:2025-12-08:2025-06-16",)}, "first is after last"),
    ({"n_jobs": 0}, "'n_jobs' parameter of ImpactModel must not be 0"),
    ({"n_jobs": 1.5}, "'n_jobs' parameter of ImpactModel must be an instance of 'int'"),
])
def test_fit_refuses_bad_parameters_with_one_clear_error(small_panel, params, message):
    with pytest.raises(InvalidParameterError) as caught:
        ImpactModel(**params).fit(small_panel)
    assert message.lower() in str(caught.value).lower() and "\n" not in str(caught.value)


def test_a_known_break_of_an_app_the_panel_lacks_is_refused_before_any_fitting(default_world):
    model = ImpactModel(known_breaks=("tiktok:minutes:2025-06-16:2025-12-08",))
    with pytest.raises(InvalidParameterError, match=r"names app\(s\) tiktok that the panel does not model \(it has "
                                                    r"facebook, instagram, whatsapp\)"):
        model.fit(default_world.panel)


def test_backtest_horizons_other_than_13_and_26_are_reported(small_model):
    """A 20-week backtest reports 13 (the gate's) and 20 weeks: no KeyError anywhere."""
    from data import simulate_world
    from tests.helpers import small_spec
    panel = simulate_world(seed=5, spec=small_spec()).panel
    model = ImpactModel(n_bootstrap=20, backtest_horizon=20, backtest_origins=2).fit(panel[panel["app"] == "facebook"])
    backtest = model.backtest_summary("facebook")
    assert sorted(backtest.mase["minutes"]) == [13, 20] and sorted(backtest.coverage["ad_revenue_usd"]) == [13, 20]
    mase, naive = model.headline_mase()
    assert 0 < mase < naive


def test_noise_seeds_use_the_whole_app_name():
    assert stable_seed(0, "facebook") != stable_seed(0, "facebook_lite")
    assert stable_seed(0, "instagram") != stable_seed(0, "instagram_lite")
    assert stable_seed(1, "facebook") != stable_seed(0, "facebook")
    assert stable_seed(0, "facebook") == stable_seed(0, "facebook")          # stable between runs


def test_effect_intervals_are_the_widened_ones_every_path_uses(heldback_model):
    """/model and the MLflow metrics read effect_summary: the max-t widened draws, wider than the
    raw bootstrap percentiles, and the interval attribution uses for the same effect."""
    summary = heldback_model.effect_summary("whatsapp", 0.9)["log_time"]
    questions = heldback_model._ask("whatsapp")
    raw_lo, raw_hi = np.quantile(questions.fit.draws["log_time"], [0.05, 0.95])
    assert questions.inflation(0.9) > 1.0
    assert summary["lo"] < raw_lo and summary["hi"] > raw_hi
    assert summary["lo"] < summary["estimate"] < summary["hi"]
    # attribution of one market-week at full response: the same interval, scaled by the response
    point, paths = questions.log_effects(np.ones((1, 400)), np.array([0]), 0.9, forecast=False)
    lo, hi = np.quantile(paths["time_spent_min"][0, -1], [0.05, 0.95])
    assert lo == pytest.approx(summary["lo"], rel=0.02) and hi == pytest.approx(summary["hi"], rel=0.02)


def _fresh(model):
    """A saved and reloaded copy: nothing computed yet."""
    from training.model.persist import load_model, save_model
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        return load_model(save_model(model, f"{tmp}/model"))


def test_concurrent_questions_get_the_answers_of_sequential_ones(small_model):
    """The query layer may be shared by threads (the service answers small forecasts on its event
    loop and large ones in a thread): answers equal the single-threaded ones."""
    model = _fresh(small_model["model"])
    levels = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95] * 3
    markets = model.markets("facebook", forecastable=True)

    def ask(level: float) -> dict:
        return model.forecast("facebook", np.ones((len(markets), 13)), level=level).totals

    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(ask, levels))
    alone = [ask(level) for level in levels]
    assert together == alone
    assert ask(0.9000000001) == ask(0.9)                          # the level is keyed rounded


def test_questions_keep_no_sample_paths_so_memory_does_not_grow_with_levels_or_markets(small_model):
    """After the first question (which builds the noise paths and tables), forecasts of every
    market for the longest horizon at ten levels, and the optimiser's row values, leave less
    allocated than a tenth of one level's status-quo paths (what a per-level cache would keep:
    1.8 MB here, 166 MB per app at 249 markets and 200 paths): the paths are built per question
    for the asked markets."""
    import tracemalloc
    model = _fresh(small_model["model"])
    markets = model.markets("facebook", forecastable=True)
    horizon = model.max_horizon
    model.forecast("facebook", np.ones((len(markets), 1)), level=0.9)
    one_level_of_paths = 2 * 4 * len(markets) * horizon * model.n_bootstrap * 4     # baseline + levels, float32
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for level in np.linspace(0.5, 0.99, 10):
            model.forecast("facebook", np.ones((len(markets), horizon)), level=level)
            model.plan_values("facebook", np.ones((3 * len(markets), 8)), markets * 3, level=level)
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < one_level_of_paths / 10, f"{retained / 1e6:.2f} MB kept after ten levels"


def test_a_row_at_the_status_quo_adds_exactly_nothing_on_every_path(small_model):
    """Row values (what the optimiser sums) evaluate a row and its market's status quo on the same
    paths with the same arithmetic: the status quo's own row is worth exactly 0, point and paths."""
    model = small_model["model"]
    markets = model.markets("instagram", forecastable=True)
    values = model.plan_values("instagram", model.status_quo("instagram", 12, markets), markets, level=0.8)
    for quantity in ("minutes", "ad_revenue_usd"):
        assert np.all(values.incremental[quantity] == 0.0)
        assert np.all(values.incremental_paths[quantity] == 0.0)


def test_the_estimator_room_imports_no_pipeline_libraries():
    """training/model/ is the estimator alone: MLflow, BentoML and matplotlib belong to the pipeline."""
    import ast
    from pathlib import Path
    forbidden = {"mlflow", "bentoml", "matplotlib", "serving"}
    room = Path(__file__).parents[1] / "training" / "model"
    found = []
    for path in sorted(room.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [(path.name, n) for n in names if n.split(".")[0] in forbidden
                      or n.startswith("training.") and not n.startswith("training.model")]
    assert len(list(room.glob("*.py"))) >= 12 and found == []
