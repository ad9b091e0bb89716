"""The choice among candidates as a mixed-integer program, solved by HiGHS (scipy.optimize.milp).

Variables x_c in {0, 1}: candidate c is in the plan. With v_c a candidate's value (point
forecast) and V_cp its value on sample path p (plans are separable by market, so a plan's
value is the sum of its candidates'):

- mean:      maximise sum_c v_c x_c
- risk q:    maximise CVaR_q = eta - 1/(q P) sum_p u_p, with u_p >= eta - sum_c V_cp x_c, u_p >= 0
             (Rockafellar and Uryasev, 2000: the mean of the worst q share of the paths, as a
             linear program; at the optimum eta is the q-quantile of the plan's value)

subject to at most one candidate per market; in every week t, sum_c rises_ct x_c <= the launch
limit and sum_c added_ct x_c <= the room under the exposure cap (the cap less the status quo's
exposure); and, for a runner-up, a no-good cut that excludes a given plan.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

SOLVER = "HiGHS (scipy.optimize.milp)"
DEFAULT_GAP = 1e-3          # a plan proven within 0.1% of the best on the same paths is optimal
HIGHS_OPTIONS = {
    # HiGHS 1.12 (scipy 1.17) prints a stray debug line to stdout when a solution of a presolved
    # (sub-)problem needs repair (ERGO-Code/HiGHS#2783); without presolve and the sub-MIP
    # heuristics that presolve it never does, and these programs solve as fast or faster
    "presolve": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_rins": False,
}


@dataclass
class Limits:
    """Per-week limits shared by every candidate: launches, and room for added exposed DAU."""

    max_launches_per_week: int | None
    room: np.ndarray | None          # weeks: the cap less the status quo's exposed DAU (None: no cap)


@dataclass
class Solution:
    selection: np.ndarray            # chosen candidates
    status: str                      # "optimal", "time_limit" or "infeasible"
    gap: float | None                # relative optimality gap (None when nothing was found)
    seconds: float
    found: bool = True               # False: the time ran out before any plan was found


def violations(selection: np.ndarray, rises: np.ndarray, added: np.ndarray, limits: Limits) -> list[str]:
    """The limits a selection breaks (by name of the constraint)."""
    broken = []
    if limits.max_launches_per_week is not None and len(selection):
        if rises[selection].sum(axis=0).max() > limits.max_launches_per_week:
            broken.append("max_launches_per_week")
    if limits.room is not None and (added[selection].sum(axis=0) > limits.room * (1 + 1e-9) + 1e-6).any():
        broken.append("max_exposed_dau")
    return broken


def cvar(paths: np.ndarray, q: float) -> np.ndarray:
    """The mean of the worst `q` share of the paths (last axis), the Rockafellar-Uryasev value:
    the worst floor(qP) paths in full and the next one in part."""
    ordered = np.sort(paths, axis=-1)
    k = q * paths.shape[-1]
    whole = int(np.floor(k + 1e-9))
    total = ordered[..., :whole].sum(axis=-1)
    if k - whole > 1e-9:
        total = total + (k - whole) * ordered[..., whole]
    return total / k


def solve(value: np.ndarray, value_paths: np.ndarray, market: np.ndarray, n_markets: int, rises: np.ndarray,
          added: np.ndarray, limits: Limits, risk: str | float, time_limit: float, gap: float = DEFAULT_GAP,
          exclude: np.ndarray | None = None) -> Solution:
    """The best selection of candidates (see the module docstring), proven within the relative
    `gap` of the best or the best found in `time_limit` seconds. `exclude`: a plan (its
    candidates) that must not be chosen again, for the runner-up."""
    n, n_paths = len(value), value_paths.shape[1]
    # values in units of the most a plan could be worth on the point forecast (each market's largest
    # |value| summed), so that the objective of a good plan is of order 1: HiGHS measures its gap
    # against max(1, |objective|), and no value falls under its tolerances
    largest = np.zeros(n_markets)
    np.maximum.at(largest, market, np.abs(value))
    scale = max(float(largest.sum()), 1e-300)
    rows, lower, upper = [], [], []

    def add(matrix, lo, hi):
        rows.append(sparse.csr_matrix(matrix))
        lower.append(np.broadcast_to(lo, (rows[-1].shape[0],)))
        upper.append(np.broadcast_to(hi, (rows[-1].shape[0],)))

    add(sparse.coo_matrix((np.ones(n), (market, np.arange(n))), shape=(n_markets, n)), -np.inf, 1.0)
    if limits.max_launches_per_week is not None:
        used = rises.any(axis=0)
        add(rises[:, used].T.astype(float), -np.inf, float(limits.max_launches_per_week))
    if limits.room is not None:
        size = max(float(np.abs(added).max(initial=0.0)), 1.0)
        add(added.T / size, -np.inf, limits.room / size)
    if exclude is not None:
        cut = np.full(n, -1.0)
        cut[exclude] = 1.0
        add(cut[None, :], -np.inf, len(exclude) - 1.0)

    if risk == "mean":
        objective = -value / scale
        integrality = np.ones(n)
        bounds = Bounds(np.zeros(n), np.ones(n))
        constraints = [LinearConstraint(sparse.vstack(rows, format="csr"), np.concatenate(lower), np.concatenate(upper))]
    else:
        q = float(risk)
        objective = np.concatenate([np.zeros(n), [-1.0], np.full(n_paths, 1.0 / (q * n_paths))])
        integrality = np.concatenate([np.ones(n), np.zeros(1 + n_paths)])
        bounds = Bounds(np.concatenate([np.zeros(n), [-np.inf], np.zeros(n_paths)]),
                        np.concatenate([np.ones(n), [np.inf], np.full(n_paths, np.inf)]))
        padded = sparse.hstack([sparse.vstack(rows), sparse.csr_matrix((sum(r.shape[0] for r in rows), 1 + n_paths))])
        tail = sparse.hstack([sparse.csr_matrix(value_paths.T / scale), -np.ones((n_paths, 1)), sparse.eye(n_paths)])
        constraints = [LinearConstraint(sparse.vstack([padded, tail], format="csr"),
                                        np.concatenate(lower + [np.zeros(n_paths)]),
                                        np.concatenate(upper + [np.full(n_paths, np.inf)]))]
    began = time.perf_counter()
    with warnings.catch_warnings():      # scipy warns that it passes HiGHS's own options on verbatim
        warnings.filterwarnings("ignore", message="Unrecognized options", category=RuntimeWarning)
        result = milp(objective, integrality=integrality, bounds=bounds, constraints=constraints,
                      options={"time_limit": float(time_limit), "mip_rel_gap": float(gap), "disp": False,
                               **HIGHS_OPTIONS})
    seconds = time.perf_counter() - began
    if result.status == 2:
        return Solution(np.zeros(0, int), "infeasible", None, seconds)
    if result.status not in (0, 1):
        raise RuntimeError(f"HiGHS failed: {result.message}")
    if result.x is None:
        return Solution(np.zeros(0, int), "time_limit", None, seconds, found=False)
    selection = np.flatnonzero(result.x[:n] > 0.5)
    status = "optimal" if result.status == 0 else "time_limit"
    gap = getattr(result, "mip_gap", None)
    return Solution(selection, status, None if gap is None else float(gap), seconds)
