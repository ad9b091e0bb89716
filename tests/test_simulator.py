"""The default simulated world: shape, launch history, effect sizes, exact truth, calibration."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from data import WorldSpec, load_panel, simulate_world
from data.calibration import compare_with_public
from data.exposure import rollout_response
from data.simulator import RESPONSES, response_effects
from training.model.effects import DEFAULT_GRID
from data.markets import MARKETS
from tests.helpers import FIXTURES, small_spec as small_world_spec


def shares(world, app: str, market: str) -> pd.Series:
    p = world.panel
    return p[(p["app"] == app) & (p["market"] == market)].set_index("week")["rollout_share"]


def test_shape_and_contract(default_world, tmp_path):
    panel = default_world.panel
    assert sorted(panel["app"].unique()) == ["facebook", "instagram", "whatsapp"]
    assert panel["market"].nunique() >= 25
    assert panel["week"].min() == pd.Timestamp("2021-01-04") and panel["week"].max() == pd.Timestamp("2026-10-26")
    assert len(panel) == 3 * len(MARKETS) * 304
    paths = default_world.write(tmp_path)
    loaded = load_panel(paths["parquet"])
    assert len(loaded) == len(panel)


def test_market_sizes_are_like_the_real_ones(default_world):
    first = default_world.panel[default_world.panel["week"] == "2021-01-04"].set_index(["app", "market"])["dau"]
    assert 1.5e8 < first[("facebook", "US")] < 2.5e8
    assert first[("whatsapp", "IN")] > first[("facebook", "IN")] > first[("facebook", "GB")]
    assert first[("facebook", "US")] > 5 * first[("facebook", "NL")]


def test_rollout_follows_the_public_launch_history(default_world):
    us = shares(default_world, "facebook", "US")
    assert us[:"2023-09-18"].max() == 0
    assert 0 < us["2023-11-06"] <= 0.15                                  # the 2023 US beta
    assert us["2024-09-02":].min() > 0.75                                # broad launch, 2024-04
    india = shares(default_world, "facebook", "IN")
    assert india[:"2024-06-17"].max() == 0 and india["2024-12-02"] > 0.75
    europe = shares(default_world, "facebook", "DE")
    assert europe[:"2025-03-17"].max() == 0 and europe["2025-09-01"] > 0.75
    for market in ("JP", "KR", "TR"):                                     # never launched
        assert shares(default_world, "instagram", market).max() == 0
    assert default_world.panel["rollout_share"].max() < 1.0               # plateaus below 1


def test_there_is_a_partial_withdrawal(default_world):
    ig_de = shares(default_world, "instagram", "DE")
    peak = ig_de[:"2025-09-08"].max()
    assert ig_de["2025-10-06"] < 0.7 * peak and ig_de["2025-10-06"] > 0   # falls, but not to zero
    assert ig_de["2026-04-06"] == pytest.approx(peak, abs=0.01)          # restored
    assert (default_world.panel.groupby(["app", "market"])["rollout_share"].diff() < -0.05).any()


def test_effect_at_full_rollout_is_of_the_reported_size(default_world):
    """+5..8% time per DAU on Facebook and Instagram at plateau, less on WhatsApp."""
    p, cf = default_world.panel, default_world.counterfactual
    mask = (p["market"] == "US") & (p["week"] >= "2025-01-06")
    lift = (p.loc[mask].groupby("app")["time_spent_min"].mean()
            / cf.loc[mask].groupby("app")["time_spent_min"].mean() - 1)
    assert 0.05 <= lift["facebook"] <= 0.08 and 0.05 <= lift["instagram"] <= 0.08
    assert 0 < lift["whatsapp"] < 0.03


def test_truth_is_exactly_actual_minus_zero_rollout(default_world):
    p, cf, truth = default_world.panel, default_world.counterfactual, default_world.truth
    actual_minutes = (p["dau"] * p["time_spent_min"] * 7).groupby(p["app"]).sum()
    implied = actual_minutes - cf.groupby("app")["minutes"].sum()
    for app in ("facebook", "instagram", "whatsapp"):
        inc = truth["incremental"][app]
        assert inc["minutes"] == pytest.approx(implied[app], rel=1e-4)   # the panel is rounded
        assert inc["minutes"] > 0 and inc["ad_revenue_usd"] > 0
        assert inc["ad_revenue_via_engagement"] + inc["ad_revenue_direct"] == pytest.approx(inc["ad_revenue_usd"])
        assert sum(m["minutes"] for m in inc["by_market"].values()) == pytest.approx(inc["minutes"])
        never = [m.code for m in MARKETS if m.launch is None]
        assert all(inc["by_market"][m]["minutes"] == 0 for m in never)
    assert truth["incremental"]["whatsapp"]["ad_revenue_usd"] < truth["incremental"]["facebook"]["ad_revenue_usd"] / 5


def test_null_world_is_the_same_world_without_the_effect(default_world):
    null = simulate_world(seed=0, null=True)
    assert null.panel["rollout_share"].equals(default_world.panel["rollout_share"])
    np.testing.assert_allclose(null.panel["time_spent_min"], default_world.counterfactual["time_spent_min"], rtol=1e-4)
    assert all(v["minutes"] == 0 for v in null.truth["incremental"].values())


def test_a_plan_played_forward_changes_only_what_the_rollout_causes(default_world):
    weeks = pd.date_range("2026-05-04", "2026-10-26", freq="7D")
    plan = pd.DataFrame({"app": "instagram", "market": "JP", "week": weeks, "rollout_share": 1.0})
    played = simulate_world(seed=0, rollout=plan)
    pd.testing.assert_frame_equal(played.counterfactual.drop(columns=[c for c in played.counterfactual
                                                                      if c.startswith("incremental")]),
                                  default_world.counterfactual.drop(columns=[c for c in played.counterfactual
                                                                             if c.startswith("incremental")]))
    jp = played.truth["incremental"]["instagram"]["by_market"]["JP"]["minutes"]
    assert jp > 0 and default_world.truth["incremental"]["instagram"]["by_market"]["JP"]["minutes"] == 0
    assert played.truth["incremental"]["facebook"] == default_world.truth["incremental"]["facebook"]


def test_different_seeds_give_different_noise_but_the_same_truth_parameters():
    a, b = simulate_world(seed=11), simulate_world(seed=12)
    assert not a.panel["time_spent_min"].equals(b.panel["time_spent_min"])
    assert a.truth["effects"] == b.truth["effects"]


def test_revenue_tracks_public_quarterly_figures_within_15_percent(default_world):
    public = pd.read_csv(FIXTURES / "meta_quarterly_public_figures.csv")
    table = compare_with_public(default_world.panel, public, default_world.truth["modelled_revenue_share"])
    table = table.loc["2021Q1":"2025Q3"]
    assert len(table) == 19
    worst = (table["ratio"] - 1).abs()
    assert worst.max() <= 0.15, table.round(3).to_string()
    # The Q4 peak: in every year Q4 is the highest quarter, as in the public figures.
    years = table.index.str[:4]
    for year in sorted(set(years)):
        quarters = table[years == year]
        if len(quarters) == 4:
            assert quarters["simulated_musd"].idxmax() == f"{year}Q4"
            assert quarters["ad_revenue_musd"].idxmax() == f"{year}Q4"


# ---------------------------------------------------------------------- designs

def test_the_default_design_is_the_world_it_always_was():
    """The default world (seed 0), every 13th week of its panel and counterfactual, as it was before
    designs and response designs existed: the same to 1e-9 relative, so that another processor's
    last bits (a fused multiply-add, another exp) do not fail it, but any change of the world does.
    Rounded panel columns may move by one unit of their rounding."""
    reference = pd.read_csv(FIXTURES / "default_world_seed0.csv.gz")
    world = simulate_world(seed=0, spec=WorldSpec(design="default"))
    weeks = pd.to_datetime(reference["week"].unique())
    panel = world.panel[world.panel["week"].isin(weeks)].reset_index(drop=True)
    counterfactual = world.counterfactual[world.counterfactual["week"].isin(weeks)].reset_index(drop=True)
    assert len(panel) == len(reference) == 3 * 32 * 24
    assert (panel["week"].dt.date.astype(str) == reference["week"]).all()
    assert (panel[["app", "market"]] == reference[["app", "market"]]).all().all()
    rounding = {"rollout_share": 1e-4, "dau": 1.0, "time_spent_min": 1e-4, "ad_revenue_usd": 1e-2}
    for column, unit in rounding.items():
        np.testing.assert_allclose(panel[column], reference[column], rtol=1e-9, atol=unit * 1.001, err_msg=column)
    for column in ("dau", "time_spent_min", "minutes", "ad_revenue_usd", "incremental_minutes",
                   "incremental_ad_revenue_usd"):
        np.testing.assert_allclose(counterfactual[column], reference[f"cf_{column}"], rtol=1e-9, err_msg=column)
    assert world.truth["design"] == "default" and world.truth["response"] == "default"
    assert set(world.truth["market_effect"]["facebook"].values()) == {1.0}


@pytest.mark.parametrize("name", sorted(set(RESPONSES) - {"default"}))
def test_a_response_design_changes_only_what_the_rollout_causes(name):
    """Each response design keeps the default world's baselines, rollout and noise (the
    counterfactual is the same to the last bit) and changes only the effect."""
    default, other = simulate_world(seed=3), simulate_world(seed=3, spec=WorldSpec(effects=response_effects(name)))
    assert other.truth["response"] == name
    for column in ("dau", "time_spent_min", "ad_revenue_usd"):
        np.testing.assert_array_equal(other.counterfactual[column], default.counterfactual[column])
    np.testing.assert_array_equal(other.panel["rollout_share"], default.panel["rollout_share"])
    assert not np.allclose(other.counterfactual["incremental_minutes"], default.counterfactual["incremental_minutes"])


def test_response_designs_have_the_shapes_they_are_named_for():
    """At a share held long enough: saturating reaches most of its effect by half the share, the
    linear one about half, the threshold one little below 30%; slow carry-over takes months."""
    def steady(name, share, weeks=400):
        e = response_effects(name)
        return rollout_response(np.full(weeks, share), e.carryover, e.half_saturation, e.hill_exponent)
    assert steady("saturating", 0.5)[-1] > 0.85
    assert 0.5 < steady("linear", 0.5)[-1] < 0.6
    assert steady("threshold", 0.3)[-1] < 0.12 and steady("threshold", 0.8)[-1] > 0.85
    assert steady("slow_carryover", 1.0)[12] < 0.7 < steady("default", 1.0)[12]
    grid = {(s.carryover, s.half_saturation, s.hill_exponent) for s in DEFAULT_GRID}
    for name in RESPONSES:
        e = response_effects(name)
        assert (e.carryover, e.half_saturation, e.hill_exponent) not in grid, name


def test_market_effects_differ_within_their_spread_and_scale_each_market_s_increment():
    spec = WorldSpec(effects=response_effects("market_varied"))
    world, base = simulate_world(seed=4, spec=spec), simulate_world(seed=4)
    factors = np.array([f for app in world.truth["market_effect"].values() for f in app.values()])
    assert factors.min() >= 0.5 and factors.max() <= 1.5 and factors.std() > 0.2
    us = world.truth["market_effect"]["facebook"]["US"]
    ratio = (world.truth["incremental"]["facebook"]["by_market"]["US"]["minutes"]
             / base.truth["incremental"]["facebook"]["by_market"]["US"]["minutes"])
    assert ratio == pytest.approx(us, rel=0.02)      # small effects: minutes move nearly in proportion


def test_an_unknown_response_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown response 'curvy': use one of default, saturating"):
        response_effects("curvy")


def test_random_walk_shocks_accumulate_and_ar1_shocks_do_not():
    from data.simulator import common_shocks
    rng = np.random.default_rng(0)
    walk = common_shocks(rng, (4000, 300), 0.006, WorldSpec(design="random_walk"))
    steady = common_shocks(rng, (4000, 300), 0.006, WorldSpec())
    assert walk[:, -1].std() / walk[:, 30].std() == pytest.approx(np.sqrt(300 / 31), rel=0.1)   # grows like sqrt(t)
    assert walk[:, -1].std() == pytest.approx(0.006 * np.sqrt(1 - 0.85**2) * np.sqrt(300), rel=0.05)
    assert steady[:, -1].std() == pytest.approx(0.006, rel=0.05) == steady[:, 30].std()


def test_heavy_tails_keep_the_scale_with_fatter_tails():
    from data.simulator import ar1
    rng = np.random.default_rng(1)
    normal = ar1(rng, (2000, 200), 0.01, 0.5)
    heavy = ar1(rng, (2000, 200), 0.01, 0.5, tail_df=3.0)
    assert heavy.std() == pytest.approx(0.01, rel=0.1) and normal.std() == pytest.approx(0.01, rel=0.02)
    excess = lambda x: ((x - x.mean()) ** 4).mean() / x.var() ** 2 - 3  # noqa: E731
    assert abs(excess(normal)) < 0.1 and excess(heavy) > 1.0


def test_a_trend_break_bends_time_spent_after_the_break_and_not_before():
    """Same seed, same noise: without earlier bends the break world differs from the default
    only by the last bend, in the last 26 weeks."""
    spec = replace(small_world_spec(), design="trend_break", breaks_per_year=0.0)
    plain = simulate_world(seed=2, spec=replace(spec, design="default")).panel
    broken = simulate_world(seed=2, spec=spec).panel
    gap = np.log(broken["time_spent_min"].to_numpy()) - np.log(plain["time_spent_min"].to_numpy())
    weeks = np.sort(plain["week"].unique())
    before = plain["week"].to_numpy() < weeks[-26]
    assert np.abs(gap[before]).max() < 1e-5                    # the panel rounds minutes to 3 decimals
    last = plain["week"].to_numpy() == weeks[-1]
    assert gap[last] == pytest.approx(-0.05 * 25 * 7 / 365.25, abs=1e-5)


def test_the_break_world_shows_earlier_bends_shared_by_every_market_of_an_app():
    """The history holds bends of the size of the last one, so a band can learn them: the trend
    of time per DAU (against the default world) is one piecewise-linear path per app."""
    spec = small_world_spec()
    plain = simulate_world(seed=5, spec=spec).panel
    broken = simulate_world(seed=5, spec=replace(spec, design="trend_break")).panel
    gap = broken.assign(gap=np.log(broken["time_spent_min"]) - np.log(plain["time_spent_min"]))
    wide = gap.pivot_table(index=["app", "market"], columns="week", values="gap")
    for app, rows in wide.groupby(level="app"):
        path = rows.to_numpy()
        assert np.abs(path - path[0]).max() < 1e-5                        # app-wide
        slopes = np.diff(path[0, :-26]) * 365.25 / 7                      # log points a year, before the last bend
        assert np.abs(slopes).max() > 0.01, app                           # the history bends


def test_a_stepped_season_moves_ad_prices_when_a_month_starts_and_nothing_else():
    """Same seed, same noise: revenue differs from the default world's by the month's step less
    the smooth season, the same in every market; time spent and DAU are untouched."""
    from data.simulator import price_season
    spec = small_world_spec()
    plain = simulate_world(seed=2, spec=spec).panel
    stepped = simulate_world(seed=2, spec=replace(spec, design="stepped_season")).panel
    for column in ("time_spent_min", "dau"):
        np.testing.assert_array_equal(stepped[column].to_numpy(), plain[column].to_numpy())
    gap = np.log(stepped["ad_revenue_usd"].to_numpy()) - np.log(plain["ad_revenue_usd"].to_numpy())
    weeks = pd.DatetimeIndex(plain["week"])
    smooth = price_season(weeks.day_of_year.to_numpy(dtype=float) + 3.0, spec.price_season)
    expected = np.asarray(spec.month_price_season)[weeks.month - 1] - smooth
    np.testing.assert_allclose(gap, expected, atol=2e-5)              # the panel rounds revenue
    december, november = spec.month_price_season[11], spec.month_price_season[10]
    assert december - november >= 0.05 and spec.month_price_season[0] - december <= -0.3   # the steps are sharp


@pytest.mark.parametrize("design", ["random_walk", "trend_break", "heavy_tails", "stepped_season"])
def test_every_design_writes_a_panel_the_contract_accepts(tmp_path, design):
    world = simulate_world(seed=3, spec=replace(small_world_spec(), design=design))
    assert world.truth["design"] == design
    panel = load_panel(world.write(tmp_path)["parquet"])
    assert len(panel) == len(world.panel) and np.isfinite(panel[["dau", "time_spent_min"]].to_numpy()).all()


def test_an_unknown_design_is_refused():
    with pytest.raises(ValueError, match="unknown design 'wobbly'"):
        WorldSpec(design="wobbly")


def test_held_out_truth_is_the_same_world_played_forward_at_the_status_quo():
    """The evaluation behind bench/band_coverage.py: where the world's own rollout did not move in
    the held-back weeks (never-launched markets), the played-forward truth is the world's own data,
    noise included; the scores come in one row per quantity and weeks ahead (the whole horizon,
    then each bucket within it), the 50% band inside the 90% one."""
    from testkit.evaluation import band_scores, status_quo_truth
    from training.model.estimator import ImpactModel
    spec = small_world_spec()
    world = simulate_world(seed=4, spec=spec)
    weeks = np.sort(world.panel["week"].unique())
    model = ImpactModel(n_bootstrap=30, backtest_origins=2, seed=4).fit(world.panel[world.panel["week"] < weeks[-13]])
    truth = status_quo_truth(model, "facebook", 4, spec, 13)
    held = world.panel[(world.panel["app"] == "facebook") & (world.panel["week"] >= weeks[-13])]
    minutes = held.assign(m=held["dau"] * held["time_spent_min"] * 7).pivot(index="market", columns="week", values="m")
    markets = model.markets("facebook", forecastable=True)
    revenue = held.pivot(index="market", columns="week", values="ad_revenue_usd")
    for never in ("JP", "KR", "VN"):
        np.testing.assert_allclose(truth["minutes"][markets.index(never)], minutes.loc[never].to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(truth["ad_revenue_usd"][markets.index(never)], revenue.loc[never].to_numpy(),
                                   rtol=1e-12)
    wide, narrow = (band_scores(model, "facebook", truth, level) for level in (0.9, 0.5))
    assert [(row["quantity"], row["weeks_ahead"]) for row in wide] == [
        (q, weeks) for q in ("minutes", "ad_revenue_usd") for weeks in ("1-13", "1-4", "5-13")]
    whole, first, then = wide[:3]         # the buckets split the whole horizon's points: 4 and 9 of 13 weeks
    assert whole["market_coverage"] == pytest.approx((4 * first["market_coverage"] + 9 * then["market_coverage"]) / 13)
    for w, n in zip(wide, narrow):
        assert 0 <= n["market_coverage"] <= w["market_coverage"] <= 1
        assert 0 <= n["all_coverage"] <= w["all_coverage"] <= 1
        assert w["market_ape"] == n["market_ape"] < 0.05     # the point does not move with the level
        assert n["market_error_per_halfwidth"] > w["market_error_per_halfwidth"]


def test_a_world_of_every_country_adds_plausible_markets_to_the_named_ones(tmp_path):
    """`--markets 249`: the 32 named markets unchanged, then every other assigned code once, each
    smaller than the named big ones, about a fifth never launched, launches on the named waves;
    the contract accepts the panel and the same seed gives the same world."""
    from data.countries import ISO_3166_ALPHA2
    from data.markets import world_markets
    every = world_markets(249)
    assert every[:32] == MARKETS and {m.code for m in every} == set(ISO_3166_ALPHA2)
    added = every[32:]
    assert 0.12 < np.mean([m.launch is None for m in added]) < 0.28
    assert {m.launch for m in added if m.launch} <= {m.launch for m in MARKETS if m.launch}
    assert np.median([m.dau_millions["facebook"] for m in added]) < 5 < max(m.dau_millions["facebook"] for m in MARKETS)
    assert world_markets(249) == every and world_markets(32) == MARKETS
    with pytest.raises(ValueError, match="between 32 .* and 249"):
        world_markets(250)
    world = simulate_world(seed=1, spec=WorldSpec(markets=world_markets(96)))
    assert world.panel["market"].nunique() == 96
    path = tmp_path / "panel.parquet"
    world.panel.to_parquet(path)
    assert load_panel(path)["market"].nunique() == 96


# ---------------------------------------------------------------------- cross-app designs (issue 31)

@pytest.fixture(scope="module")
def cannibalising():
    return simulate_world(seed=2, spec=WorldSpec(cross="cannibalising"))


def test_a_cross_effect_is_what_the_other_apps_rollouts_do_to_an_app(cannibalising):
    """The same world with Facebook's and WhatsApp's rollouts removed: Instagram loses exactly the
    cross part its truth reports (negative: their assistants took time from it), and its own part
    is untouched."""
    spec = WorldSpec(cross="cannibalising")
    others = cannibalising.panel[cannibalising.panel["app"] != "instagram"][["app", "market", "week"]]
    alone = simulate_world(seed=2, spec=spec, rollout=others.assign(rollout_share=0.0)).panel

    def minutes(panel):
        mine = panel[panel["app"] == "instagram"]
        return float((mine["dau"] * mine["time_spent_min"] * 7).sum())
    truth = cannibalising.truth["cross"]["incremental"]["instagram"]
    assert truth["cross_minutes"] < -0.1 * truth["own_minutes"]
    assert minutes(cannibalising.panel) - minutes(alone) == pytest.approx(truth["cross_minutes"], rel=1e-3)
    assert truth["minutes"] == pytest.approx(truth["own_minutes"] + truth["cross_minutes"], rel=1e-12)
    family = cannibalising.truth["cross"]["family"]
    assert family["minutes"] == pytest.approx(sum(v["minutes"] for v in cannibalising.truth["cross"]["incremental"].values()))


def test_cross_designs_stagger_or_align_the_apps_launches_and_say_whether_the_split_is_identified(cannibalising):
    def gaps(world):
        p = world.panel
        first = p[p["rollout_share"] > 0].groupby(["market", "app"])["week"].min().unstack()
        return ((first["whatsapp"] - first["facebook"]).dt.days / 7).dropna()
    today = simulate_world(seed=2)
    same = simulate_world(seed=2, spec=WorldSpec(cross="same_week"))
    assert gaps(today).max() <= 4 and gaps(cannibalising).max() > 12
    assert (gaps(same) == 0).all()
    wide = same.panel.pivot_table(index=["market", "week"], columns="app", values="rollout_share")
    assert np.allclose(wide["facebook"], wide["instagram"]) and np.allclose(wide["facebook"], wide["whatsapp"])
    assert cannibalising.truth["cross"]["identified"] and not same.truth["cross"]["identified"]
    complementary = simulate_world(seed=2, spec=WorldSpec(cross="complementary")).truth["cross"]["incremental"]
    assert all(v["cross_minutes"] > 0 for v in complementary.values())
    assert simulate_world(seed=2, null=True, spec=WorldSpec(cross="cannibalising")).truth["cross"]["family"]["minutes"] == 0


def test_an_unknown_cross_design_is_refused():
    with pytest.raises(ValueError, match="unknown cross design 'stealing': use one of none, cannibalising"):
        WorldSpec(cross="stealing")
