"""Event study in the Callaway & Sant'Anna (2021) style: group-time ATT(g, t) and aggregations.

Units (markets) belong to the group of the period they were first treated (launched); never
treated units are the controls. ATT(g, t) compares the change of outcome from the base period
(g - 1 after treatment, t - 1 before it: the "varying" base of R's `did`) between group g and
the never treated, optionally adjusted by an outcome regression on covariates. Standard errors
come from influence functions, and the simple / group / dynamic / calendar aggregations follow
R `did`'s `aggte`, including the influence of estimating the group weights, so the numbers match
that package (tests/test_did.py checks them on the mpdta data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass
class GroupTimeATT:
    """ATT(g, t) cells with their influence functions (units x cells)."""

    group: np.ndarray
    period: np.ndarray
    att: np.ndarray
    influence: np.ndarray
    unit_group: np.ndarray      # each unit's group (0 = never treated)
    n_units: int

    @property
    def se(self) -> np.ndarray:
        return standard_error(self.influence)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"group": self.group, "t": self.period, "att": self.att, "se": self.se})


def standard_error(influence: np.ndarray) -> np.ndarray:
    """sqrt(mean(IF^2) / n) per column, as R `did` without bootstrap."""
    n = influence.shape[0]
    return np.sqrt(np.mean(influence**2, axis=0) / n)


def regression_did(dy: np.ndarray, treated: np.ndarray, covariates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 DiD with outcome regression on the controls (DRDID's reg_did_panel): the ATTs and their
    influence functions (units x cells) of several outcome changes of the same units (units x
    cells) at once. The cells of a group that share their sample share the regression's design,
    so one solve serves them all. With only an intercept this is the difference of mean changes,
    and equals the doubly robust and IPW estimators."""
    n = len(dy)
    d = treated.astype(float)
    control = 1.0 - d
    share = np.mean(d)
    xpx_inv = np.linalg.inv((covariates * control[:, None]).T @ covariates / n)
    coef = xpx_inv @ ((covariates * control[:, None]).T @ dy / n)          # k x cells
    fitted = covariates @ coef
    eta_treat = (d @ dy / n) / share
    eta_cont = (d @ fitted / n) / share
    treated_mean_x = d @ covariates / n
    ols_rep = (control[:, None] * (dy - fitted)) * (covariates @ xpx_inv @ treated_mean_x)[:, None]
    inf_treat = (d[:, None] * dy - d[:, None] * eta_treat) / share
    inf_cont = (d[:, None] * fitted - d[:, None] * eta_cont + ols_rep) / share
    return eta_treat - eta_cont, inf_treat - inf_cont


def group_time_att(outcome: np.ndarray, unit_group: np.ndarray, periods: np.ndarray,
                   covariates: np.ndarray | None = None, observed: np.ndarray | None = None) -> GroupTimeATT:
    """ATT(g, t) for every treated group g and every period t after the first.

    `outcome` is units x periods; `unit_group[i]` is the period unit i was first treated, 0 for
    never treated; `covariates` (units x k, time-invariant) adds an outcome regression.
    `observed` (units x periods, default all) marks the cells an unbalanced panel holds: each
    cell uses the units observed in both of its periods, and is left out without a treated
    unit and two controls there. A group's cells with the same sample are solved together.
    """
    n = outcome.shape[0]
    design = np.ones((n, 1)) if covariates is None else np.column_stack([np.ones(n), covariates])
    never = unit_group == 0
    groups = np.sort(np.unique(unit_group[~never]))
    groups = groups[groups > periods[0]]            # groups treated in the first period have no base
    cells = []                                      # (g, period, att, influence over all units)
    observed = np.ones(outcome.shape, dtype=bool) if observed is None else observed
    for g in groups:
        g_index = int(np.searchsorted(periods, g))
        in_group = (unit_group == g) | never
        by_sample: dict[bytes, tuple[np.ndarray, list[tuple[int, int]]]] = {}
        for t_index in range(1, len(periods)):
            base = g_index - 1 if t_index >= g_index else t_index - 1
            sample = in_group & observed[:, t_index] & observed[:, base]
            if not (unit_group[sample] == g).any() or (never & sample).sum() < 2:
                continue
            by_sample.setdefault(sample.tobytes(), (sample, []))[1].append((t_index, base))
        for sample, pairs in by_sample.values():
            t_indices, bases = (np.array(column) for column in zip(*pairs))
            dy = outcome[sample][:, t_indices] - outcome[sample][:, bases]
            atts, infs = regression_did(dy, unit_group[sample] == g, design[sample])
            for k, t_index in enumerate(t_indices):
                full = np.zeros(n)
                full[sample] = infs[:, k] * n / sample.sum()
                cells.append((g, periods[t_index], atts[k], full))
    cells.sort(key=lambda cell: (cell[0], cell[1]))
    return GroupTimeATT(np.array([c[0] for c in cells]), np.array([c[1] for c in cells]),
                        np.array([c[2] for c in cells]), np.column_stack([c[3] for c in cells]), unit_group, n)


def _weight_influence(keep: np.ndarray, pg: np.ndarray, unit_group: np.ndarray, cell_group: np.ndarray) -> np.ndarray:
    """Influence of estimating the group-share weights (R did's `wif`)."""
    indicator = (unit_group[:, None] == cell_group[keep][None, :]).astype(float) - pg[keep][None, :]
    total = pg[keep].sum()
    return indicator / total - indicator.sum(axis=1, keepdims=True) * (pg[keep] / total**2)[None, :]


def _weighted(gt: GroupTimeATT, keep: np.ndarray, pg: np.ndarray, with_wif: bool = True) -> tuple[float, np.ndarray]:
    w = pg[keep] / pg[keep].sum()
    att = float(np.sum(gt.att[keep] * w))
    inf = gt.influence[:, keep] @ w
    if with_wif:
        inf = inf + _weight_influence(keep, pg, gt.unit_group, gt.group) @ gt.att[keep]
    return att, inf


@dataclass
class Aggregate:
    kind: str
    labels: np.ndarray          # group, event time or period (empty for `simple`)
    att: np.ndarray
    se: np.ndarray
    overall_att: float
    overall_se: float

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"type": self.kind, "egt": self.labels, "att_egt": self.att, "se_egt": self.se,
                             "overall_att": self.overall_att, "overall_se": self.overall_se})


def aggregate(gt: GroupTimeATT, kind: str) -> Aggregate:
    """R did's aggte: 'simple', 'group', 'dynamic' or 'calendar'."""
    cell_pg = np.array([np.mean(gt.unit_group == g) for g in gt.group])
    post = gt.period >= gt.group
    if kind == "simple":
        att, inf = _weighted(gt, np.flatnonzero(post), cell_pg)
        se = float(standard_error(inf[:, None])[0])
        return Aggregate(kind, np.array([]), np.array([]), np.array([]), att, se)
    if kind == "group":
        groups = np.unique(gt.group)
        parts = [_weighted(gt, np.flatnonzero((gt.group == g) & post), cell_pg, with_wif=False) for g in groups]
        atts = np.array([a for a, _ in parts])
        infs = np.column_stack([i for _, i in parts])
        group_pg = np.array([np.mean(gt.unit_group == g) for g in groups])
        w = group_pg / group_pg.sum()
        overall_inf = infs @ w + _weight_influence(np.arange(len(groups)), group_pg, gt.unit_group, groups) @ atts
        return Aggregate(kind, groups, atts, standard_error(infs), float(atts @ w),
                         float(standard_error(overall_inf[:, None])[0]))
    if kind == "dynamic":
        event = gt.period - gt.group
        labels = np.unique(event)
        parts = [_weighted(gt, np.flatnonzero(event == e), cell_pg) for e in labels]
        overall_keep = labels >= 0
    elif kind == "calendar":
        labels = np.unique(gt.period[gt.period >= gt.group.min()])
        parts = [_weighted(gt, np.flatnonzero((gt.period == t) & post), cell_pg) for t in labels]
        overall_keep = np.ones(len(labels), dtype=bool)
    else:
        raise ValueError(f"unknown aggregation '{kind}': use simple, group, dynamic or calendar")
    atts = np.array([a for a, _ in parts])
    infs = np.column_stack([i for _, i in parts])
    overall_inf = infs[:, overall_keep].mean(axis=1)
    return Aggregate(kind, labels, atts, standard_error(infs), float(atts[overall_keep].mean()),
                     float(standard_error(overall_inf[:, None])[0]))


def pretrend_test(gt: GroupTimeATT, max_lead: int | None = None) -> dict:
    """Wald test that every pre-treatment ATT(g, t) is zero (joint, from the influence functions).

    `max_lead` keeps only cells at most that many periods before treatment (event time >= -max_lead
    in period units), which keeps the covariance estimable when there are many periods.
    """
    event = gt.period - gt.group
    keep = event < 0 if max_lead is None else (event < 0) & (event >= -max_lead)
    keep = np.flatnonzero(keep)
    if len(keep) == 0:
        return {"statistic": float("nan"), "df": 0, "p_value": float("nan")}
    inf = gt.influence[:, keep]
    cov = inf.T @ inf / gt.n_units**2
    stat = float(gt.att[keep] @ np.linalg.pinv(cov) @ gt.att[keep])
    df = int(np.linalg.matrix_rank(cov))
    return {"statistic": stat, "df": df, "p_value": float(stats.chi2.sf(stat, df))}
