"""Lift tests calibrating the curve (issue 30), on the worlds of the response-curve sweep.

    python bench/lift_tests.py [--responses default,saturating,...] [--seeds 1,2,3,4] [--jobs 2]

Per world (last 26 weeks held back, as `bench/response_curves.py`): per app, the three lift tests
`design-test` chooses to run together, at share 1 for 8 weeks, to narrow the value of finishing
every partial rollout, planned on the history less its last 8 weeks and run in the world in those
weeks (`testkit.evaluation.designed_tests`), measured with the noise they report. The model is fitted without
them, with them, and with them 5 standard errors off. Case (b) of the response sweep (each
partial market alone to 1, played forward) and the optimiser's share of the true best are scored
for the first two; the third counts how many wrong tests the 3-standard-error check leaves out.
The section "lift_tests" of RESULTS.md is rewritten; rows go to bench/out/lift_tests.csv.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

from bench.report import OUT, machine, write_section  # noqa: E402
from data.simulator import RESPONSES, WorldSpec, response_effects  # noqa: E402
from testkit.evaluation import designed_tests, held_out_world, optimiser_on_response_world, response_cases  # noqa: E402
from training.design_test import power  # noqa: E402
from training.model.experiments import CONFLICT_Z  # noqa: E402


AIMS = {"finish": "the value of finishing every partial rollout",
        "optimise": "the net value of the plan `/optimise` chooses (the request below)"}


def one_world(name: str, seed: int, decision: str = "finish") -> dict:
    spec = WorldSpec(effects=response_effects(name))
    tests, _ = designed_tests(seed, spec, decision=decision)
    out = {"response": name, "seed": seed, "tests": len(tests)}
    for label, experiments in (("without", None), ("with", tests)):
        cases = response_cases(seed, spec, experiments=experiments)
        steps = cases[cases["case"] == "step"]
        out[f"step_error_{label}"] = float(steps["error"].abs().median())
        out[f"step_held_{label}"] = float(((steps["lo_90"] <= steps["truth"]) & (steps["truth"] <= steps["hi_90"])).mean())
        plans = optimiser_on_response_world(seed, spec, experiments=experiments)
        out[f"optimiser_worst_{label}"] = float(plans["share_of_best"].min())
        out[f"optimiser_median_{label}"] = float(plans["share_of_best"].median())
        out[f"optimiser_knowable_{label}"] = float((plans["share_of_best"] / plans["informed_share_of_best"]).min())
    wrong = tests.assign(lift_log_time=tests["lift_log_time"] + 5 * tests["se_log_time"])
    model = held_out_world(seed, spec, experiments=wrong).model
    tables = [model.experiment_predictions(app) for app in model.apps]
    flagged = pd.concat([t for t in tables if len(t)], ignore_index=True)
    out["wrong_flagged"] = float((~flagged["used"]).mean())
    # what the check flags when the panel's prediction is unbiased: each wrong test's chance of |z| > CONFLICT_Z
    # when it is 5 of its own standard errors off, given the panel's sd of its prediction
    difference = np.sqrt(flagged["se_log_time"] ** 2 + flagged["before_sd"] ** 2)
    out["wrong_flag_expected"] = float(power(5 * flagged["se_log_time"], difference, CONFLICT_Z).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", default=",".join(RESPONSES))
    parser.add_argument("--seeds", default="1,2,3,4")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--decision", choices=("finish", "optimise"), default="finish",
                        help="what design-test chooses the tests for")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = pd.DataFrame(Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(one_world)(name, int(seed), args.decision) for name in args.responses.split(",") for seed in args.seeds.split(",")))
    OUT.mkdir(exist_ok=True)
    rows.to_csv(OUT / "lift_tests.csv", index=False)
    off = rows["step_error_without"] > 0.10
    table = ["| response | worlds | (b) \\|error\\| without -> with tests | (b) 90% held without -> with | "
             "optimiser worst without -> with | wrong tests flagged (expected of an unbiased panel) |", "|---|---|---|---|---|---|"]
    for name, group in rows.groupby("response", sort=False):
        table.append(f"| {name} | {len(group)} | {group['step_error_without'].median():.1%} -> "
                     f"{group['step_error_with'].median():.1%} | {group['step_held_without'].mean():.0%} -> "
                     f"{group['step_held_with'].mean():.0%} | {group['optimiser_worst_without'].min():.1%} -> "
                     f"{group['optimiser_worst_with'].min():.1%} | {group['wrong_flagged'].mean():.0%} "
                     f"({group['wrong_flag_expected'].mean():.0%}) |")
    if off.any():
        summary = (f"Worlds where case (b) is off by more than 10% without tests: {int(off.sum())} of {len(rows)}. "
                   f"There, the median (b) error goes from {rows.loc[off, 'step_error_without'].median():.1%} to "
                   f"{rows.loc[off, 'step_error_with'].median():.1%} (per world, the median of with / without is "
                   f"{(rows.loc[off, 'step_error_with'] / rows.loc[off, 'step_error_without']).median():.2f}), and "
                   f"the optimiser's worst case from {rows.loc[off, 'optimiser_worst_without'].min():.1%} to "
                   f"{rows.loc[off, 'optimiser_worst_with'].min():.1%} of the true best (worlds whose every app is "
                   f"at least 95%: {(rows.loc[off, 'optimiser_worst_with'] >= 0.95).mean():.0%}, without tests "
                   f"{(rows.loc[off, 'optimiser_worst_without'] >= 0.95).mean():.0%}). Of what a planner can know "
                   f"(the true best, or on market_varied worlds the informed planner's plan, which knows every effect "
                   f"but those of the markets the history never exposed), the worst case goes from "
                   f"{rows.loc[off, 'optimiser_knowable_without'].min():.1%} to "
                   f"{rows.loc[off, 'optimiser_knowable_with'].min():.1%} (worlds whose every app is at least 95% of "
                   f"it: {(rows.loc[off, 'optimiser_knowable_with'] >= 0.95).mean():.0%}).")
    else:
        summary = "No world is off by more than 10% without tests."
    if (~off).any():
        summary += (f" Elsewhere ({int((~off).sum())} worlds) the (b) error goes from "
                    f"{rows.loc[~off, 'step_error_without'].median():.1%} to {rows.loc[~off, 'step_error_with'].median():.1%}.")
    summary += (f" Tests 5 standard errors off are left out in {rows['wrong_flagged'].mean():.0%} of cases"
                + (f" ({rows.loc[~off, 'wrong_flagged'].mean():.0%} where the panel identifies the curve)" if (~off).any() else "")
                + f"; a check at 3 standard errors of the difference from an unbiased prediction by the panel would flag, on average, "
                  f"{rows['wrong_flag_expected'].mean():.0%} of them (the mean chance that a test 5 of its own standard "
                  f"errors off lies more than 3 of the difference's away, given the panel's sd of its prediction).")
    body = f"""## Lift tests calibrating the curve (issue 30)

`python bench/lift_tests.py --responses {args.responses} --seeds {args.seeds} --decision {args.decision}` on {machine()};
{len(rows)} worlds in {(time.perf_counter() - started) / 60:.1f} min. Per world and app, the three lift tests
`design-test` chooses to run together to narrow {AIMS[args.decision]} (a test arm at
share 1 against the market's current share for 8 weeks, each arm 1% of the market's users), planned on the
history less its last 8 weeks and run in the world in those weeks, measured with the noise they report. "(b)": each partially rolled-out market alone to share 1 over the 26 held-back weeks,
median |point / truth - 1| over the world's markets, minutes and revenue; "optimiser": `/optimise` for ad
revenue with a cost between the 25th and 75th percentiles of the markets' true value per exposed DAU-week,
its plan's true net value over the true best's, the worst app of the design's worlds; "wrong tests
flagged": the same tests with their lift of log time 5 standard errors off, the share left out by the
3-standard-error check.

{chr(10).join(table)}

{summary}
"""
    write_section("lift_tests", body)
    print(body)


if __name__ == "__main__":
    main()
