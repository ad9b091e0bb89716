"""Carry-over and saturation transforms shared by the simulator and the model."""

import numpy as np
import pytest

from data.exposure import adstock, adstock_operator, hill, rollout_response


def test_adstock_builds_up_and_converges_to_the_share():
    exposure = adstock(np.full(60, 0.8), carryover=0.75)
    assert exposure[0] == pytest.approx(0.2)
    assert np.all(np.diff(exposure) > 0)
    assert exposure[7] == pytest.approx(0.8 * (1 - 0.75**8))   # 90% of the way after 8 weeks
    assert exposure[-1] == pytest.approx(0.8, abs=1e-6)


def test_adstock_decays_after_a_withdrawal_and_works_per_series():
    share = np.array([[1.0] * 30 + [0.4] * 30, [0.0] * 60])
    exposure = adstock(share, carryover=0.5)
    assert exposure[0, 29] == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(exposure[0, 30:]) < 0) and exposure[0, -1] == pytest.approx(0.4, abs=1e-6)
    assert np.all(exposure[1] == 0)
    assert np.array_equal(adstock(share, 0.0), share)
    with pytest.raises(ValueError):
        adstock(share, 1.0)


def test_hill_is_normalised_monotone_and_saturating():
    x = np.linspace(0, 1, 101)
    y = hill(x, half_saturation=0.35, hill_exponent=1.5)
    assert y[0] == 0 and y[-1] == pytest.approx(1.0)
    assert np.all(np.diff(y) > 0)
    assert y[50] > 0.5                                   # saturation: half the share gives more than half
    assert (y[100] - y[90]) < (y[20] - y[10])            # diminishing returns at the top
    assert rollout_response(np.ones((1, 200)), 0.75, 0.35, 1.5)[0, -1] == pytest.approx(1.0)


def test_the_adstock_operator_is_the_recursion_as_one_matrix_product():
    """A forecast's exposure, share @ weights[k] + initial * decay[k], equals the week-by-week
    recursion to rounding for any share paths, carry-overs (0 included) and starting exposures,
    and a shorter horizon's operator is the longer one's top-left corner."""
    rng = np.random.default_rng(4)
    carryover = np.array([0.0, 0.5, 0.8, 0.95])
    shares = rng.uniform(0, 1, (7, 30))
    initial = rng.uniform(0, 1, (7, 4))
    weights, decay = adstock_operator(carryover, 30)
    recursion = adstock(shares[:, None, :], carryover, initial)             # series x carry-overs x weeks
    product = np.matmul(shares, weights).transpose(1, 0, 2) + initial[..., None] * decay
    np.testing.assert_allclose(product, recursion, rtol=1e-13, atol=1e-15)
    short_weights, short_decay = adstock_operator(carryover, 12)
    assert np.array_equal(short_weights, weights[:, :12, :12]) and np.array_equal(short_decay, decay[:, :12])
    with pytest.raises(ValueError, match="carryover"):
        adstock_operator(np.array([1.0]), 5)


def test_a_steep_hill_curve_stays_finite_where_its_powers_overflow():
    """A Hill exponent of 900 overflows half_saturation^n (inf / inf): the same ratio is then taken in
    logs, 0 below the half-saturation's reach, exactly 1 at full exposure, and unchanged elsewhere."""
    exposure = np.linspace(0.0, 1.0, 6)
    steep = hill(exposure, 1.35, 900.0)
    assert np.all(np.isfinite(steep)) and steep[-1] == pytest.approx(1.0) and np.all(steep[:-1] < 1e-80)
    sharp = hill(exposure, 0.01, 300.0)          # k^n underflows to 0: 1 wherever there is exposure
    np.testing.assert_allclose(sharp, [0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(hill(exposure, np.array([[0.35], [1.35]]), np.array([[1.5], [900.0]]))[0],
                                  hill(exposure, 0.35, 1.5))
