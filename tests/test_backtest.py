"""Baselines and their rolling-origin backtests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.model.panel import app_panels
from training.model.backtest import SCALE_LEVELS, conformal_quantile, rolling_origin_backtest
from training.model.baseline import fit_baselines


def test_conformal_quantile_is_the_finite_sample_rank():
    scores = np.arange(1, 20, dtype=float)            # 19 scores: rank ceil(20 * 0.9) = 18
    assert conformal_quantile(scores, 0.9) == 18.0


def test_backtest_of_zero_rollout_series_reports_both_horizons(default_world):
    panel = app_panels(default_world.counterfactual)[0]["instagram"]    # the zero-rollout series
    series = np.stack([panel.log_time, panel.log_dau, panel.log_revenue])
    result = rolling_origin_backtest(series, panel.weeks, horizon=26, n_origins=8)
    assert len(result.origins) == 8
    for quantity in ("minutes", "ad_revenue_usd"):
        for h in (13, 26):
            assert result.mase[quantity][h] < result.mase_seasonal_naive[quantity][h], (quantity, h, result.mase)
            assert 0.85 <= result.coverage[quantity][h] <= 0.95
        assert result.noise_scale[quantity].shape == (len(SCALE_LEVELS), 26)
    assert (result.noise_scale["minutes"] > 0).all()


def test_level_baseline_does_not_extrapolate_a_finished_ramp():
    """A series that ramped up by 0.5 then stayed flat: "ct" keeps climbing, "level" stays flat."""
    weeks = pd.date_range("2022-01-03", periods=156, freq="7D")
    rng = np.random.default_rng(3)
    ramp = np.clip((np.arange(156) - 90) / 26, 0, 1) * 0.5
    series = (ramp + rng.normal(0, 0.005, 156))[None, None, :]
    last = series[0, 0, -1]
    trending = fit_baselines(series, weeks, 26, trends=("ct",)).mean[0, 0]
    level = fit_baselines(series, weeks, 26, trends=("level",)).mean[0, 0]
    assert trending[-1] - last > 0.1
    assert abs(level[-1] - last) < 0.03
    assert fit_baselines(series, weeks, 26, trends=("level",)).integrated.tolist() == [True]
