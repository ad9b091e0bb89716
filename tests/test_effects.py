"""Rollout effects on the default simulated world: the estimates and attributions recover the truth."""

from __future__ import annotations

import numpy as np
import pytest

from training.model.effects import (DEFAULT_GRID, FixedEffects, ResponseShape, ShapeLikelihood, bootstrap_effects,
                                    bootstrap_gram, estimate_effects, fit_shape, market_bootstrap_weights,
                                    posterior_shapes, residualise, shape_from_parameters, shape_parameters)
from training.model.panel import app_panels, seasonal_basis

TRUE_SHAPE = ResponseShape(0.75, 0.35, 1.5)


@pytest.fixture(scope="module")
def fitted(default_world):
    out = {}
    likelihoods = {}
    for app, panel in app_panels(default_world.panel)[0].items():
        basis = seasonal_basis(panel.weeks, panel.weeks[0], 2)
        fe = FixedEffects(basis, panel.observed)
        likelihoods[app] = ShapeLikelihood(panel, fe)
        likelihoods[app].set_reference(ResponseShape(0.7, 0.35, 1.5))
        out[app] = dict(panel=panel, basis=basis, fe=fe)
    shape, theta, covariance = fit_shape(list(likelihoods.values()), DEFAULT_GRID)
    for app, fit in out.items():
        response = shape.response(fit["panel"].share)
        fit |= dict(shape=shape, theta=theta, covariance=covariance, response=response,
                    estimate=estimate_effects(fit["panel"], response, fit["fe"]))
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


def test_the_shape_s_posterior_mode_is_close_to_the_true_shape_off_the_grid(fitted):
    """The true carry-over (0.75) is no grid point: the continuous search finds it, and the
    posterior's 95% interval of each parameter holds the truth."""
    fit = fitted["facebook"]
    shape = fit["shape"]
    assert shape.carryover == pytest.approx(0.75, abs=0.03) and shape.half_saturation == pytest.approx(0.35, rel=0.15)
    assert shape.hill_exponent == pytest.approx(1.5, rel=0.15)
    true = shape_parameters(TRUE_SHAPE)
    sd = np.sqrt(np.diag(fit["covariance"]))
    assert np.all(np.abs(true - fit["theta"]) < 1.96 * sd), (true, fit["theta"], sd)
    response = TRUE_SHAPE.response(fit["panel"].share)
    assert np.corrcoef(fit["response"].ravel(), response.ravel())[0, 1] > 0.995


def test_shape_parameters_round_trip_and_posterior_draws_spread_around_the_mode(fitted):
    shape = ResponseShape(0.6, 0.12, 1.2)
    back = shape_from_parameters(shape_parameters(shape))
    assert (back.carryover, back.half_saturation, back.hill_exponent) == pytest.approx((0.6, 0.12, 1.2))
    fit = fitted["facebook"]
    drawn = posterior_shapes(fit["theta"], fit["covariance"], 32, seed=0)
    thetas = np.array([shape_parameters(s) for s in drawn])
    assert len(drawn) == 32 and len(set(drawn)) == 32
    sd = np.sqrt(np.diag(fit["covariance"]))
    assert np.all(np.abs(thetas.mean(axis=0) - fit["theta"]) < 0.25 * sd)
    drawn_cov = np.cov(thetas.T)
    np.testing.assert_allclose(np.diag(drawn_cov), sd**2, rtol=0.3)
    np.testing.assert_allclose(drawn_cov / np.outer(sd, sd), fit["covariance"] / np.outer(sd, sd), atol=0.15)
    assert posterior_shapes(fit["theta"], np.zeros((3, 3)), 32, seed=0) == (fit["shape"],)   # a known shape


def test_bootstrap_with_every_market_once_gives_the_point_estimate(fitted):
    fit = fitted["facebook"]
    ones = np.ones((1, len(fit["panel"].markets)))
    draws = bootstrap_effects(bootstrap_gram(fit["panel"], [fit["shape"]], fit["fe"], ones), np.array([0]))
    assert draws["shape_index"].tolist() == [0]
    assert draws["log_time"][0] == pytest.approx(fit["estimate"].log_time)
    assert draws["revenue_elasticity"][0] == pytest.approx(fit["estimate"].revenue_elasticity)


def test_max_t_critical_value_is_at_least_the_normal_one(fitted):
    """The simultaneous critical value over the drawn shapes never narrows a band, and the drawn
    shapes are close enough (they are one posterior) that it widens little."""
    from training.model.effects import interval_inflation, max_t_over_shapes
    fit = fitted["whatsapp"]
    weights = market_bootstrap_weights(len(fit["panel"].markets), 200, np.random.default_rng(1))
    drawn = posterior_shapes(fit["theta"], fit["covariance"], 32, seed=0)
    max_t = max_t_over_shapes(bootstrap_gram(fit["panel"], list(drawn), fit["fe"], weights), len(drawn))
    assert 1.0 <= interval_inflation(max_t, 0.9) < 1.5
    assert interval_inflation(max_t, 0.5) >= 1.0


def _unbalanced_case(seed: int = 2):
    rng = np.random.default_rng(seed)
    weeks = __import__("pandas").date_range("2021-01-04", periods=120, freq="7D")
    basis = seasonal_basis(weeks, weeks[0], 1)
    observed = np.ones((6, 120), dtype=bool)
    observed[0, :30] = False          # enters late
    observed[1, 90:] = False          # stops early
    observed[2, :10] = False
    a, b = rng.normal(size=(2, 6, 120))
    return basis, observed, a, b


def _dummy_design(basis: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Rows: observed cells (market-major); columns: each market's basis, then one dummy per week."""
    n_markets, n_weeks = observed.shape
    rows = []
    for m in range(n_markets):
        for t in np.flatnonzero(observed[m]):
            own = np.zeros(n_markets * basis.shape[1])
            own[m * basis.shape[1]:(m + 1) * basis.shape[1]] = basis[t]
            rows.append(np.concatenate([own, np.eye(n_weeks)[t]]))
    return np.array(rows)


def test_unbalanced_residuals_equal_a_dummy_variable_regression_on_the_observed_cells():
    basis, observed, a, _ = _unbalanced_case()
    design = _dummy_design(basis, observed)
    y = a[observed]
    expected = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    got = residualise(np.where(observed, a, np.nan), basis, observed)
    np.testing.assert_allclose(got[observed], expected, atol=1e-9)
    assert (got[~observed] == 0).all()


def test_unbalanced_bootstrap_cross_products_equal_weighted_dummy_regressions():
    """Each replicate's market weights give the cross product of weighted least-squares residuals."""
    basis, observed, a, b = _unbalanced_case(3)
    fe = FixedEffects(basis, observed)
    weights = np.array([[2.0, 0.0, 1.0, 1.0, 1.0, 1.0], [1.0, 3.0, 0.0, 0.0, 1.0, 1.0]])
    gram = fe.gram(np.stack([fe.within(a), fe.within(b)]), weights)
    design = _dummy_design(basis, observed)
    for replicate, w in enumerate(weights):
        cell_weight = np.repeat(w, observed.sum(axis=1))
        root = np.sqrt(cell_weight)[:, None]
        residual = {}
        for name, values in (("a", a[observed]), ("b", b[observed])):
            coef = np.linalg.lstsq(design * root, values * root[:, 0], rcond=None)[0]
            residual[name] = values - design @ coef
        expected = np.sum(cell_weight * residual["a"] * residual["b"])
        assert gram[replicate, 0, 1] == pytest.approx(expected, rel=1e-8, abs=1e-9)
