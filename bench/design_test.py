"""`design-test` checked by running its tests (issue 30, part 4): standard errors, expected narrowing, ranking, speed.

    python bench/design_test.py [--responses default,saturating,...] [--seeds 1,2] [--jobs 2]

Per world of the response-curve sweep (one app, instagram; the last 26 weeks held back as there):
the model is fitted on the history less its last 8 weeks and asked `design-test` (test shares 0.5
and 1, 4 and 8 weeks, the decision: finishing the three partial rollouts with the most daily users).
Six candidates (ranks 1-3 and three spread over the rest) are run in the world in the next weeks
and the model refitted on the whole history with each result; the same history without a test
gives the reference width. Scored: a test's standard error against the spread of its result over
200 runs; the expected narrowing of the decision's 90% interval against the refit's, 1 - width
with / width without; whether a test of the top three narrows at least 80% as much as the best of
the six. The time of `design-test` over 32 markets x 3 shares x 3 durations is the median of 5, and the
default world's fit with 20 lift tests against without, medians of 3.
The section "design_test" of RESULTS.md is rewritten; rows go to bench/out/design_test.csv.
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
from data.simulator import (RESPONSES, WorldSpec, response_effects, run_experiments, simulate_experiments,  # noqa: E402
                            simulate_world)
from training.design_test import decision_paths, design_test  # noqa: E402
from training.model.estimator import ImpactModel  # noqa: E402
from training.model.paths import interval  # noqa: E402
from training.requests import DesignTestRequest  # noqa: E402

APP, HELD_BACK, WEEKS, RUNS = "instagram", 26, 8, 200


def width(model: ImpactModel, request: DesignTestRequest) -> float:
    lo, hi = interval(decision_paths(model, request).net_paths, request.interval)
    return float(hi - lo)


def one_world(name: str, seed: int) -> list[dict]:
    spec = WorldSpec(effects=response_effects(name))
    world = simulate_world(seed=seed, spec=spec)
    panel = world.panel[world.panel["app"] == APP]
    calendar = np.sort(panel["week"].unique())
    history = panel[panel["week"] < calendar[-HELD_BACK]]
    first = pd.Timestamp(calendar[-HELD_BACK - WEEKS])
    breaks = tuple(b for b in spec.known_breaks if b.startswith(APP))
    before = ImpactModel(seed=seed, known_breaks=breaks).fit(history[history["week"] < first])
    now = before.status_quo(APP, 1)[:, 0]
    dau = before.forecast(APP, before.status_quo(APP, 1)).per_market["dau"]["status_quo"][:, 0]
    markets = before.markets(APP, forecastable=True)
    partial = [markets[i] for i in np.argsort(-dau) if 0.05 <= now[i] <= 0.95][:3]
    request = DesignTestRequest(app=APP, test_shares=[0.5, 1.0], durations_weeks=[4, WEEKS],
                                decision={"finish": partial})
    answer = design_test(before, request)
    table = answer["candidates"]
    picks = sorted({0, 1, 2, *np.linspace(3, len(table) - 1, 3).astype(int).tolist()})
    without = width(ImpactModel(seed=seed, known_breaks=breaks).fit(history), request)
    rows = []
    for position in picks:
        candidate = table[position]
        test = {"app": APP, "market": candidate["market"], "first_week": first, "weeks": candidate["weeks"],
                "test_share": candidate["test_share"], "reference_share": candidate["reference_share"]}
        result, _ = run_experiments(world, spec, [test], seed, measured=("log_time",))
        spread = run_experiments(world, spec, [test] * RUNS, seed + 1, measured=("log_time",))[0]["lift_log_time"].std()
        refit = ImpactModel(seed=seed, known_breaks=breaks).fit(history, experiments=result)
        rows.append({"response": name, "seed": seed, "rank": candidate["rank"], "market": candidate["market"],
                     "test_share": candidate["test_share"], "weeks": candidate["weeks"],
                     "standard_error": candidate["standard_error"], "spread": float(spread),
                     "expected": candidate["narrowing"], "realised": 1.0 - width(refit, request) / without,
                     "used": bool(refit.experiment_predictions(APP)["used"].iloc[0])})
    return rows


def timing(runs: int = 5) -> tuple[float, int]:
    """Seconds of design-test over 32 markets x 3 shares x 3 durations on the default world (median)."""
    world = simulate_world(seed=0)
    model = ImpactModel(seed=0).fit(world.panel)
    markets = model.markets(APP, forecastable=True)
    now = model.status_quo(APP, 1)[:, 0]
    request = DesignTestRequest(app=APP, markets=markets, test_shares=[0.25, 0.5, 1.0], durations_weeks=[4, 8, 12],
                                decision={"finish": [m for m, s in zip(markets, now) if 0.05 <= s <= 0.95][:3]})
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        design_test(model, request)
        seconds.append(time.perf_counter() - began)
    return float(np.median(seconds)), len(markets)


def fit_cost(runs: int = 3) -> tuple[float, float]:
    """Seconds of a fit of the default world without and with 20 lift tests it ran (medians, interleaved)."""
    world = simulate_world(seed=0)
    tests, _ = simulate_experiments(world, WorldSpec(), 20, seed=0)
    seconds = {False: [], True: []}
    for _ in range(runs):
        for with_tests in (False, True):
            began = time.perf_counter()
            ImpactModel(seed=0).fit(world.panel, experiments=tests if with_tests else None)
            seconds[with_tests].append(time.perf_counter() - began)
    return float(np.median(seconds[False])), float(np.median(seconds[True]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", default=",".join(RESPONSES))
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    worlds = Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(one_world)(name, int(seed)) for name in args.responses.split(",") for seed in args.seeds.split(","))
    rows = pd.DataFrame([row for world in worlds for row in world])
    OUT.mkdir(exist_ok=True)
    rows.to_csv(OUT / "design_test.csv", index=False)
    seconds, n_markets = timing()
    plain, calibrated = fit_cost()
    best = rows[rows["rank"] == 1]
    ratio = best["realised"] / best["expected"]
    by_world = rows.groupby(["response", "seed"])
    top_three = by_world.apply(lambda g: g.loc[g["rank"] <= 3, "realised"].max() >= 0.8 * g["realised"].max(),
                               include_groups=False)
    table = ["| response | worlds | se / spread (median) | best: expected narrowing | best: realised | "
             "top three within 80% of the best |", "|---|---|---|---|---|---|"]
    for name, group in rows.groupby("response", sort=False):
        first = group[group["rank"] == 1]
        table.append(f"| {name} | {group['seed'].nunique()} | {(group['standard_error'] / group['spread']).median():.2f} | "
                     f"{first['expected'].median():.1%} | {first['realised'].median():.1%} | "
                     f"{top_three.loc[name].mean():.0%} |")
    body = f"""## Designing the next lift test (issue 30, part 4)

`python bench/design_test.py --responses {args.responses} --seeds {args.seeds}` on {machine()};
{len(worlds)} worlds in {(time.perf_counter() - started) / 60:.1f} min. Per world (instagram; the model fitted on
the history less its last {WEEKS} weeks), `design-test` with test shares 0.5 and 1, 4 and {WEEKS} weeks, for
finishing the three partial rollouts with the most daily users; six of its candidates (ranks 1-3 and
three spread over the rest) run in the world in the next weeks (log time measured, arms of 1% of the
users) and the model refitted on the whole history with each result. "se / spread": the expected
standard error over the spread of the result in {RUNS} runs; "realised": 1 - the decision's 90% width
refitted with the result / without a test.

{chr(10).join(table)}

Standard errors: expected / spread of the results, median {(rows['standard_error'] / rows['spread']).median():.3f}
(every test within 20%: {((rows['standard_error'] / rows['spread'] - 1).abs() <= 0.2).mean():.0%}). The best
candidate's narrowing: expected {best['expected'].median():.1%}, realised {best['realised'].median():.1%} (median
over worlds; realised / expected {ratio.median():.2f}, |realised / expected - 1| median {(ratio - 1).abs().median():.2f}).
A test of the top three narrows at least 80% as much as the best of the six in {top_three.mean():.0%} of worlds.
Tests left out by the 3-standard-error check: {(~rows['used']).mean():.0%}.
`design-test` over {n_markets} markets x 3 shares x 3 durations: {seconds:.2f} s in process (median of 5).
The default world's fit: {plain:.1f} s without lift tests, {calibrated:.1f} s with 20 ({calibrated / plain:.2f}x; medians of 3).
"""
    write_section("design_test", body)
    print(body)


if __name__ == "__main__":
    main()
