"""Rollout effects on the default simulated world: the estimates and attributions recover the truth."""

from __future__ import annotations

import numpy as np
import pytest

from training.model.panel import app_panels, seasonal_basis
from training.model.effects import (DEFAULT_GRID, ResponseShape, bootstrap_effects, estimate_effects,
                              market_bootstrap_weights, residualise, select_shape)

TRUE_SHAPE = ResponseShape(0.75, 0.35, 1.5)


@pytest.fixture(scope="module")
def fitted(default_world):
    out = {}
    for app, panel in app_panels(default_world.panel).items():
        basis = seasonal_basis(panel.weeks, panel.weeks[0], 2)
        shape, scores = select_shape(panel, basis)
        response = shape.response(panel.share)
        weights = market_bootstrap_weights(len(panel.markets), 200, np.random.default_rng(0))
        draws = bootstrap_effects(panel, list(DEFAULT_GRID), basis, weights)   # each replicate picks its shape
        out[app] = dict(panel=panel, basis=basis, shape=shape, scores=scores, response=response,
                        estimate=estimate_effects(panel, response, basis), draws=draws)
    return out


def test_residualise_removes_market_terms_and_week_effects_exactly():
    rng = np.random.default_rng(1)
    weeks = __import__("pandas").date_range("2021-01-04", periods=150, freq="7D")
    basis = seasonal_basis(weeks, weeks[0], 2)
    nuisance = rng.normal(size=(6, basis.shape[1])) @ basis.T + rng.normal(size=(1, 150))
    noise = rng.normal(size=(6, 150))
    np.testing.assert_allclose(residualise(nuisance, basis), 0, atol=1e-9)
    np.testing.assert_allclose(residualise(nuisance + noise, basis), residualise(noise, basis), atol=1e-9)


def test_effect_sizes_and_revenue_link_are_recovered(fitted, default_world):
    truth = default_world.truth["effects"]
    for app, fit in fitted.items():
        est = fit["estimate"]
        assert est.log_time == pytest.approx(truth["log_time_per_dau"][app], abs=0.006), app
        assert est.log_dau == pytest.approx(truth["log_dau"][app], abs=0.003), app
        assert est.revenue_elasticity == pytest.approx(truth["revenue_elasticity"], abs=0.05), app
        assert est.direct_log_revenue == pytest.approx(truth["direct_log_revenue"][app], abs=0.01), app


def test_cross_validated_response_is_close_to_the_true_one(fitted):
    for app in ("facebook", "instagram"):
        fit = fitted[app]
        true = TRUE_SHAPE.response(fit["panel"].share)
        assert np.corrcoef(fit["response"].ravel(), true.ravel())[0, 1] > 0.98, fit["shape"]
        assert len(fit["scores"]) == len(DEFAULT_GRID)


def test_bootstrap_with_every_market_once_gives_the_point_estimate(fitted):
    fit = fitted["facebook"]
    ones = np.ones((1, len(fit["panel"].markets)))
    draws = bootstrap_effects(fit["panel"], [fit["shape"]], fit["basis"], ones)
    assert draws["shape_index"].tolist() == [0]
    assert draws["log_time"][0] == pytest.approx(fit["estimate"].log_time)
    assert draws["revenue_elasticity"][0] == pytest.approx(fit["estimate"].revenue_elasticity)


def test_max_t_critical_value_exceeds_the_normal_one(fitted):
    """Selecting the shape costs width: the simultaneous critical value over the grid is larger."""
    from training.model.effects import interval_inflation, max_t_over_shapes
    fit = fitted["whatsapp"]
    weights = market_bootstrap_weights(len(fit["panel"].markets), 200, np.random.default_rng(1))
    max_t = max_t_over_shapes(fit["panel"], list(DEFAULT_GRID), fit["basis"], weights)
    assert 1.1 < interval_inflation(max_t, 0.9) < 2.0
    assert interval_inflation(max_t, 0.5) >= 1.0
