"""Carry-over and saturation transforms shared by the simulator and the model."""

import numpy as np
import pytest

from data.exposure import adstock, hill, rollout_response


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
