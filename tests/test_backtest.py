"""Baselines and their rolling-origin backtests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.model.panel import app_panels
from scipy.stats import norm

from data.simulator import WorldSpec
from training.model.backtest import (SCALE_LEVELS, OriginScores, PanelShapeError, break_spans, calibrate,
                                     conformal_quantile, coverage_by_steps, fit_scale_law, held_out_covered,
                                     rolling_origin_backtest)
from training.model import baseline
from training.model.baseline import (INTEGRATED, SERIES_KINDS, TRENDS, common_factor, exogenous, fit_baselines,
                                     fit_many, fit_series, future_weeks)


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
            assert 0.8 <= result.coverage_all[quantity][h] <= 1.0
        for row in ("market", "ALL"):
            held = [result.coverage_levels[row][quantity][level] for level in SCALE_LEVELS]
            assert held == sorted(held), (row, quantity, held)        # a wider level holds more
            buckets = result.coverage_weeks_ahead[row][quantity]     # the same points, by weeks ahead
            assert list(buckets) == ["1-4", "5-13", "14-26"]
            for i, level in enumerate(SCALE_LEVELS):
                split = (4 * buckets["1-4"][level] + 9 * buckets["5-13"][level] + 13 * buckets["14-26"][level]) / 26
                assert split == pytest.approx(held[i]), (row, quantity, level)
                assert 0.75 <= buckets["1-4"][0.9] <= 1.0, buckets
        for part in ("common", "own"):
            law = result.scales[quantity][part]
            assert min(law.k) > 0 and law.at(0.9, 26).shape == (26,)
        assert result.common_kind(quantity) in ("ar", "walk")


def _z(level: float) -> float:
    return float(norm.ppf((1 + level) / 2))


def test_a_scale_law_learns_how_errors_grow_with_the_horizon():
    """Errors whose spread grows as sqrt(h), against flat unscaled bands: the law finds the
    growth and holds fresh errors at each level."""
    rng = np.random.default_rng(0)
    steps = np.arange(1, 27)
    widths = np.array([_z(level) * 0.01 for level in SCALE_LEVELS])[:, None, None]     # levels x 1 x 1

    def errors(n):
        return rng.normal(0, 0.01 * np.sqrt(steps), size=(n, 10, 26))
    law = fit_scale_law([np.abs(e)[None] / widths for e in errors(30)])
    assert law.b == pytest.approx(0.5, abs=0.08)
    fresh = errors(200)
    for i, level in enumerate(SCALE_LEVELS):
        held = np.abs(fresh) <= law.at(level, 26) * widths[i]
        assert held.mean() == pytest.approx(level, abs=0.02), level


def test_a_scale_law_holds_each_distance_ahead_when_errors_start_at_a_floor_and_then_grow():
    """Errors at a floor for a quarter, then growing (what revenue's backtests show): a power law
    through the origin with one factor per level leaves the buckets of weeks ahead 5+ points apart;
    the per-step factors hold fresh errors at every level in each bucket, and past the calibrated
    steps the last step's factor rides on the growth."""
    rng = np.random.default_rng(2)
    steps = np.arange(1, 27)
    spread = 0.01 * np.maximum(2.0, 0.4 + 0.12 * steps)       # flat to week 13, then up to 3.5 at week 26
    widths = np.array([_z(level) * 0.01 for level in SCALE_LEVELS])[:, None, None]

    def errors(n):
        return rng.normal(0, spread, size=(n, 30, 26))
    law = fit_scale_law([np.abs(e)[None] / widths for e in errors(8)])       # 8 origins of 30 markets, as a backtest has
    fresh = errors(100)
    for i, level in enumerate(SCALE_LEVELS):
        held = np.abs(fresh) <= law.at(level, 26) * widths[i]
        for first, last in ((1, 4), (5, 13), (14, 26)):
            assert held[:, :, first - 1:last].mean() == pytest.approx(level, abs=0.03), (level, first)
        if level == 0.9:          # one factor per level (the law before issue 28): buckets 5+ points apart
            pooled = np.abs(fresh) <= float(np.interp(level, SCALE_LEVELS, law.k)) * np.exp(law.a) * steps ** law.b * widths[i]
            by_bucket = [pooled[:, :, first - 1:last].mean() for first, last in ((1, 4), (5, 13), (14, 26))]
            assert max(by_bucket) - min(by_bucket) > 0.05, by_bucket
    far = law.at(0.9, 52)
    assert far[26:] == pytest.approx(law.k_step[2][-1] * np.exp(law.a) * np.arange(27, 53) ** law.b)


def test_neighbouring_steps_read_near_steps_on_their_own_and_far_ones_on_wider_windows():
    from training.model.backtest import neighbouring_steps
    assert neighbouring_steps(1, 26) == slice(0, 3) and neighbouring_steps(4, 26) == slice(1, 6)
    assert neighbouring_steps(13, 26) == slice(8, 17) and neighbouring_steps(26, 26) == slice(17, 26)


def _origin(rng, common_sd, own_sd, markets=20, steps=26, paths=400) -> OriginScores:
    """Errors = a random-walk error shared by every market + each market's own, as log deviations;
    the unscaled paths have half the true spread (the calibration must double them): "walk" paths
    persist like the truth, "ar" paths have the same spread at each step but do not persist."""
    common = np.cumsum(rng.normal(0, common_sd, steps))
    own = rng.normal(0, own_sd, (markets, steps))
    own -= own.mean(axis=0)                                      # equal weights: own parts sum to zero
    walk = np.cumsum(rng.normal(0, common_sd / 2, (paths, steps)), axis=1)
    ar = rng.normal(0, common_sd / 2, (paths, steps)) * np.sqrt(np.arange(1, steps + 1))
    z = np.array([_z(level) for level in SCALE_LEVELS])[:, None]
    return OriginScores(all_error=common, market_error=common + own, total_error=float(np.log(np.exp(common).mean())),
                        step_weights=np.full(steps, 1 / steps), common_paths={"ar": ar, "walk": walk},
                        own_width=(z * own_sd / 2)[:, :, None] * np.ones((1, markets, steps)))


def test_common_and_own_scales_hold_the_total_and_each_market_at_every_level():
    """The common scale is fitted on the total, the own scale on the markets given it: held-out
    bands hold both kinds of row at each level, and the horizon's total picks the persistent kind."""
    rng = np.random.default_rng(1)
    origins = [_origin(rng, 0.004, 0.01) for _ in range(40)]
    held = coverage_by_steps(held_out_covered(origins, "walk"), (26,))[26]
    for row in ("market", "ALL", "total"):
        for level in SCALE_LEVELS[:-1]:                 # 40 origins hold too few totals to judge 0.99
            assert held[row][level] == pytest.approx(level, abs=0.06), (row, level, held[row][level])
    common, own = calibrate(origins, "walk")
    assert common.k[2] == pytest.approx(2.0, rel=0.2) and own.k[2] == pytest.approx(2.0, rel=0.2)
    scores = {kind: np.mean([o.total_interval_score(kind, calibrate(origins, kind)[0], 0.9) for o in origins])
              for kind in ("ar", "walk")}
    assert scores["walk"] < scores["ar"]
    assert coverage_by_steps(held_out_covered(origins, "ar"), (26,))[26]["total"][0.9] < 0.75     # non-persistent paths miss totals


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


def test_origins_crossing_a_known_break_are_left_out_of_that_quantitys_calibration(default_world):
    """WhatsApp's ads launch multiplies its revenue by 4 over 26 weeks of 2025: forecasts made
    across it miss by tens of percent, and calibrating on them widened every later revenue band
    as much. Declared, those origins still count for MASE but not for the bands, and the launch is
    a ramp in the baselines (`break_ramps`), so revenue's MASE falls; minutes are untouched."""
    panel = app_panels(default_world.counterfactual)[0]["whatsapp"]
    series = np.stack([panel.log_time, panel.log_dau, panel.log_revenue])
    spans = break_spans(WorldSpec().known_breaks, "whatsapp", panel.weeks)
    plain = rolling_origin_backtest(series, panel.weeks, horizon=26, n_origins=8)
    told = rolling_origin_backtest(series, panel.weeks, horizon=26, n_origins=8, known_breaks=spans)

    start, last = pd.Timestamp("2025-06-16"), pd.Timestamp("2025-12-08")
    crossing = [o for o in told.origins if pd.Timestamp(o) + pd.Timedelta(weeks=1) <= last
                and pd.Timestamp(o) + pd.Timedelta(weeks=26) >= start]
    assert told.calibration_skipped == {"minutes": [], "ad_revenue_usd": crossing} and 2 <= len(crossing) <= 6
    assert told.mase["minutes"] == plain.mase["minutes"] and told.trend["minutes"] == plain.trend["minutes"]
    assert told.mase["ad_revenue_usd"][26] < plain.mase["ad_revenue_usd"][26] / 2, (told.mase, plain.mase)
    wide, narrow = (r.scales["ad_revenue_usd"]["common"].at(0.9, 26)[-1] for r in (plain, told))
    assert narrow < wide / 3, (narrow, wide)
    assert told.scales["minutes"]["common"].at(0.9, 26).tolist() == plain.scales["minutes"]["common"].at(0.9, 26).tolist()
    with pytest.raises(PanelShapeError, match="leave 0 of 8 backtest origins"):
        rolling_origin_backtest(series, panel.weeks, horizon=26, n_origins=8,
                                known_breaks={"ad_revenue_usd": [(0, len(panel.weeks) - 1)]})


def test_the_residuals_of_a_known_break_do_not_drive_the_sample_paths():
    """A jump of 0.5 in one week is one residual of about 0.5; declared as a break, that week and
    the next are refilled from the series' other residuals."""
    weeks = pd.date_range("2022-01-03", periods=156, freq="7D")
    rng = np.random.default_rng(4)
    series = (np.where(np.arange(156) >= 100, 0.5, 0.0) + rng.normal(0, 0.01, 156))[None, None, :]
    plain = fit_baselines(series, weeks, 26, trends=("level",))
    told = fit_baselines(series, weeks, 26, trends=("level",), breaks={0: [(100, 100)]})
    assert np.abs(plain.residuals).max() > 0.3
    assert np.abs(told.residuals).max() < 0.1


@pytest.mark.parametrize("trend", ["ct", "level", "ct_monthly"])
def test_a_declared_break_moves_the_level_and_does_not_bend_the_trend(trend):
    """A level shift of 0.5 two-thirds into the window: undeclared, "ct" takes it for growth and
    the seasonal terms of "level" for a season; declared, its ramp regressor carries it, and the
    forecast stays at the new level. A forecast made inside a declared ramp finishes it."""
    weeks = pd.date_range("2022-01-03", periods=156, freq="7D")
    rng = np.random.default_rng(4)
    series = (np.where(np.arange(156) >= 100, 0.5, 0.0) + rng.normal(0, 0.01, 156))[None, None, :]
    told = fit_baselines(series, weeks, 26, trends=(trend,), breaks={0: [(100, 100)]})
    assert np.abs(told.mean[0, 0] - 0.5).max() < 0.03, told.mean[0, 0]
    if trend == "ct":
        assert fit_baselines(series, weeks, 26, trends=(trend,)).mean[0, 0, -1] > 0.6     # the jump as a trend
    ramp = np.clip((np.arange(156) - 139) / 26, 0.0, 1.0) * 0.5                          # weeks 140-165, half done
    inside = fit_baselines((ramp + rng.normal(0, 0.01, 156))[None, None, :], weeks, 26, trends=(trend,),
                           breaks={0: [(140, 165)]})
    assert inside.mean[0, 0, 10] == pytest.approx(0.5, abs=0.06) and inside.mean[0, 0, 0] < 0.4


def test_a_break_still_running_at_the_end_of_the_history_keeps_its_declared_end():
    """Declared on the calendar of the weeks, a launch that ramps on past the last week keeps its
    end, so a forecast made in the middle of it finishes it; one before the history starts part-way."""
    weeks = pd.date_range("2025-01-06", periods=40, freq="7D")             # to 2025-10-06
    spans = break_spans(("whatsapp:ad_revenue_usd:2025-06-16:2025-12-08", "whatsapp:minutes:2024-06-03:2025-01-13",
                         "facebook:minutes:2025-02-03:2025-02-03"), "whatsapp", weeks)
    assert spans == {"ad_revenue_usd": [(23, 48)], "minutes": [(-31, 1)]}


def test_a_break_ramp_rises_through_its_weeks_and_stays():
    from training.model.baseline import break_ramps
    fitted, ahead = break_ramps([(10, 13), (30, 30)], 20, 15)
    assert fitted[8:15, 0].tolist() == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0] and (fitted[:, 1] == 0).all()
    assert (ahead[:, 0] == 1).all() and ahead[:, 1].tolist() == [0.0] * 10 + [1.0] * 5


def test_the_common_factor_is_chained_so_a_late_market_does_not_move_it():
    t = np.arange(120, dtype=float)
    path = 0.002 * t + 0.05 * np.sin(t / 7)
    late = np.where(t >= 50, path + 2.0, np.nan)                 # enters at week 50, at a higher level
    factor = common_factor(np.stack([path, path - 1.0, late]), np.array([0.5, 0.3, 0.2]))
    assert np.allclose(factor, path - path[0])


def test_the_factor_kind_carries_an_app_wide_shift_on_where_ct_pulls_it_back():
    """Ten markets with their own trends and noise share a level shift of +0.1 twenty weeks before
    the end (as accumulated app-wide shocks leave them): "ct" reverts towards each market's old
    trend line, the factor kind keeps the shift in every market."""
    weeks = pd.date_range("2022-01-03", periods=156, freq="7D")
    rng = np.random.default_rng(6)
    t = np.arange(156)
    shared = np.where(t >= 136, 0.1, 0.0) + np.cumsum(rng.normal(0, 0.002, 156))
    own = rng.normal(0, 0.01, (10, 1)) * t / 52 + np.array([rng.normal(0, 0.01, 156) for _ in range(10)])
    series = (shared + own)[None]
    truth_step = series[0, :, -8:].mean(axis=1)                 # where each market now stands
    ct = fit_baselines(series, weeks, 26, trends=("ct",)).mean[0, :, -1]
    factor = fit_baselines(series, weeks, 26, trends=("factor",)).mean[0, :, -1]
    assert np.median(truth_step - ct) > 0.03                    # "ct" gives much of the shift back
    assert np.abs(np.median(truth_step - factor)) < 0.02


def _one_autoreg_per_series(values, x_fit, x_future, trend):
    """`fit_many`'s answer made the old way: statsmodels' AutoReg, series by series."""
    fits = [fit_series(v, x_fit, x_future, trend) for v in values]
    return tuple(np.array([f[k] for f in fits]) for k in range(3))


def test_the_batched_solve_equals_statsmodels_autoreg_on_real_series(unbalanced_world_panel, monkeypatch):
    """Every series of the unbalanced world's instagram (3 outcomes x 32 markets, windows of
    different lengths where markets enter late), every kind: forecasts, AR coefficients and
    residuals of the one batched solve equal AutoReg's, series by series, within 1e-8; and whole
    baselines (every trend kind, the factor included, markets grouped by window) equal those of
    AutoReg fitted one series at a time."""
    panel = app_panels(unbalanced_world_panel)[0]["instagram"]
    series = np.stack([panel.log_time, panel.log_dau, panel.log_revenue])
    series = series[:, np.isfinite(series[:, :, -1]).all(axis=0)]        # the markets still reporting
    starts = np.argmax(np.isfinite(series).all(axis=0), axis=1)
    assert len(set(starts.tolist())) >= 2                                # late entrants: several windows
    x_future = exogenous(future_weeks(panel.weeks, 26), panel.weeks[0])
    for kind in SERIES_KINDS:
        for o in range(3):
            for start in set(starts.tolist()):
                values, x_fit = series[o, starts == start, start:], exogenous(panel.weeks, panel.weeks[0])[start:]
                batched, one_by_one = fit_many(values, x_fit, x_future, kind), _one_autoreg_per_series(values, x_fit, x_future, kind)
                for ours, theirs in zip(batched, one_by_one):
                    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-8)
                assert batched[2].shape[1] == values.shape[1] - 1 - (kind in INTEGRATED)
    for kind in TRENDS:
        new = fit_baselines(series, panel.weeks, 52, trends=(kind,) * 3)
        with monkeypatch.context() as patch:
            patch.setattr(baseline, "fit_many", _one_autoreg_per_series)
            old = fit_baselines(series, panel.weeks, 52, trends=(kind,) * 3)
        for field in ("mean", "phi", "residuals"):
            np.testing.assert_allclose(getattr(new, field), getattr(old, field), rtol=0, atol=1e-8, err_msg=f"{kind} {field}")
