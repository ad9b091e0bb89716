"""The event study reproduces R `did` (att_gt + aggte) on the real mpdta data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.model.did import aggregate, group_time_att, pretrend_test
from tests.helpers import FIXTURES

SCENARIOS = {"mpdta_nev_dr": None, "mpdta_nev_ipw": None, "mpdta_nev_reg_cov": "lpop"}


def mpdta_att(covariate: str | None):
    data = pd.read_csv(FIXTURES / "mpdta.csv")
    wide = data.pivot(index="countyreal", columns="year", values="lemp")
    units = data.groupby("countyreal").first().loc[wide.index]
    covariates = units[[covariate]].to_numpy() if covariate else None
    return group_time_att(wide.to_numpy(), units["first.treat"].to_numpy(), wide.columns.to_numpy(), covariates)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_group_time_att_matches_r_did(scenario):
    reference = pd.read_csv(FIXTURES / "mpdta_ref_attgt_R_did.csv").query("scenario == @scenario")
    ours = mpdta_att(SCENARIOS[scenario]).table()
    merged = reference.merge(ours, on=["group", "t"], suffixes=("_r", ""))
    assert len(merged) == len(reference) == 12
    np.testing.assert_allclose(merged["att"], merged["att_r"], atol=1e-6)
    np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=0.02)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("kind", ["simple", "group", "dynamic", "calendar"])
def test_aggregations_match_r_did(scenario, kind):
    reference = pd.read_csv(FIXTURES / "mpdta_ref_aggte_R_did.csv").query("scenario == @scenario and type == @kind")
    result = aggregate(mpdta_att(SCENARIOS[scenario]), kind)
    assert result.overall_att == pytest.approx(reference["overall_att"].iloc[0], abs=1e-6)
    assert result.overall_se == pytest.approx(reference["overall_se"].iloc[0], rel=0.02)
    if kind != "simple":
        ours = result.table().set_index("egt")
        ref = reference.set_index("egt")
        assert sorted(ours.index.astype(float)) == sorted(ref.index.astype(float))
        for label, row in ref.iterrows():
            assert ours.loc[label, "att_egt"] == pytest.approx(row["att_egt"], abs=1e-6)
            assert ours.loc[label, "se_egt"] == pytest.approx(row["se_egt"], rel=0.02)


def test_pretrend_test_on_mpdta():
    test = pretrend_test(mpdta_att(None))
    assert test["df"] == 5                       # 2006: 2004, 2005; 2007: 2004, 2005, 2006
    assert 0 < test["p_value"] < 1


def test_no_effect_in_a_placebo_world_gives_small_atts():
    rng = np.random.default_rng(0)
    n, periods = 400, np.arange(2000, 2010)
    groups = rng.choice([0, 2004, 2006], size=n)
    outcome = rng.normal(size=(n, 1)) + 0.1 * np.arange(10)[None, :] + rng.normal(0, 0.1, size=(n, 10))
    gt = group_time_att(outcome, groups, periods)
    dyn = aggregate(gt, "dynamic")
    assert abs(dyn.overall_att) < 4 * dyn.overall_se
    outcome_treated = outcome + 0.5 * ((periods[None, :] >= groups[:, None]) & (groups[:, None] > 0))
    assert aggregate(group_time_att(outcome_treated, groups, periods), "simple").overall_att == pytest.approx(0.5, abs=0.05)
