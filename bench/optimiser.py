"""Issue 14: the rollout-plan optimiser against the truth, and its speed.

    python bench/optimiser.py [--runs 5] [--seed 0]

Truth: the default world with its last 26 weeks held back; for every app and three constraint
sets (a launch limit of 2 a week; an exposure cap with room for 30% of what launching everything
would add; a cost range around the median market's value per exposed DAU-week, so about half the
markets are not worth it), and the same three with a cautious objective (risk 0.1), the chosen
plan, the true best plan (every candidate valued by the simulator's own response, the same
program) and the alternatives are played forward with the same noise.

Speed: 52 weeks, 200 sample paths, a launch limit of 2 and an exposure cap, every app; the whole
answer (valuing the candidates, both solves, alternatives) and the solver alone, medians of
`--runs`; then the growth with markets (8, 16, 32, the largest by DAU). The section "optimiser"
of RESULTS.md is rewritten.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.report import machine, write_section  # noqa: E402
from data import simulate_world  # noqa: E402
from data.simulator import WorldSpec  # noqa: E402
from testkit.evaluation import exposure_cap, optimised_against_truth, value_per_exposed_dau_week  # noqa: E402
from training.model.estimator import ImpactModel  # noqa: E402
from training.optimiser import OptimiseRequest, optimise  # noqa: E402

APPS = ("facebook", "instagram", "whatsapp")
HELD_BACK = 26


def constraint_sets(model: ImpactModel, app: str) -> dict[str, dict]:
    cost = value_per_exposed_dau_week(model, app)
    return {"launch limit 2/week": {"constraints": {"max_launches_per_week": 2}},
            "exposure cap (+30%)": {"constraints": {"max_exposed_dau": exposure_cap(model, app)}},
            "cost 0.8-1.2 x median value": {"cost": {"per_exposed_dau_week_usd": {"low": 0.8 * cost, "high": 1.2 * cost}}}}


def truth_rows(model: ImpactModel, seed: int) -> list[str]:
    rows = []
    for app in APPS:
        for name, extra in constraint_sets(model, app).items():
            for risk in ("mean", 0.1):
                request = OptimiseRequest(app=app, horizon_weeks=HELD_BACK, risk=risk, **extra)
                held = optimised_against_truth(model, request, seed, WorldSpec())
                answer, alternatives = held["answer"], held["alternatives"]
                feasible = [a["true_net"] for a in alternatives.values() if a["feasible"]]
                beats = all(held["chosen"] > v for v in feasible)
                others = "; ".join(f"{k} {a['true_net'] / 1e6:,.1f}{'' if a['feasible'] else ' (infeasible)'}"
                                   for k, a in alternatives.items() if k != "status_quo")
                changed = sum(r["start_week"] is not None for r in answer["by_market"])
                rows.append(f"| {app} | {name} | {risk} | {changed} | {answer['value']['net']['mean'] / 1e6:,.1f} | "
                            f"{held['chosen'] / 1e6:,.1f} | {held['best'] / 1e6:,.1f} | {held['share_of_best']:.4f} | "
                            f"{others} | {'yes' if beats else 'NO'} | {answer['solver']['status']} |")
                print(rows[-1], flush=True)
    return rows


def speed_request(model: ImpactModel, app: str, markets: list[str], risk="mean") -> OptimiseRequest:
    return OptimiseRequest(app=app, markets=markets, horizon_weeks=52, risk=risk,
                           constraints={"max_launches_per_week": 2, "max_exposed_dau": exposure_cap(model, app, horizon=52)})


def timed(model: ImpactModel, request: OptimiseRequest, runs: int) -> tuple[float, float, str, int]:
    total, solver, status = [], [], ""
    for _ in range(runs):
        began = time.perf_counter()
        answer = optimise(model, request)
        total.append(time.perf_counter() - began)
        solver.append(answer["solver"]["seconds"])
        status = answer["solver"]["status"]
    return statistics.median(total), statistics.median(solver), status, answer["solver"]["candidates"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    panel = simulate_world(seed=args.seed).panel
    cutoff = np.sort(panel["week"].unique())[-HELD_BACK]
    model = ImpactModel(seed=args.seed).fit(panel[panel["week"] < cutoff])
    for app in APPS:                                # build the cached paths, as a serving worker does at start
        model.forecast(app, model.status_quo(app, 1))

    truth = truth_rows(model, args.seed)
    speed, growth = [], []
    for app in APPS:
        every = model.markets(app, forecastable=True)
        for risk in ("mean", 0.1):
            total, solver, status, n = timed(model, speed_request(model, app, every, risk), args.runs)
            speed.append(f"| {app} | {len(every)} | {risk} | {n} | {total:.2f} s | {solver:.2f} s | {status} |")
            print(speed[-1], flush=True)
    dau = model.forecast("instagram", model.status_quo("instagram", 1)).per_market["dau"]["status_quo"][:, 0]
    by_size = [model.markets("instagram", forecastable=True)[i] for i in np.argsort(-dau)]
    sizes, seconds = [], []
    for n in (8, 16, 32):
        total, solver, status, candidates = timed(model, speed_request(model, "instagram", by_size[:n]), args.runs)
        sizes.append(n)
        seconds.append(total)
        growth.append(f"| {n} | {candidates} | {total:.2f} s | {solver:.2f} s | {status} |")
        print(growth[-1], flush=True)
    exponent = float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])
    newline = "\n"
    body = f"""## Rollout-plan optimiser (issue 14)

`python bench/optimiser.py --runs {args.runs} --seed {args.seed}` on {machine()}

**Against the truth.** The default world (seed {args.seed}) with its last {HELD_BACK} weeks held back; the
plan is chosen on the model's sample paths, then it, the true best plan under the same constraints
(every candidate played forward by the simulator, the same program on the true values) and the
alternatives are played forward with the same noise. Net values in millions of USD (ad revenue less
the serving cost at the middle of the range); "share of best" = the chosen plan's true net value /
the true best's; target at least 0.95 and above every feasible alternative.

| app | constraints | risk | markets changed | forecast net | true net, chosen | true net, best | share of best | other plans' true net | beats every feasible alternative | solver |
|---|---|---|---|---|---|---|---|---|---|---|
{newline.join(truth)}

**Speed.** 52 weeks, every forecastable market, {model.n_bootstrap} sample paths, a launch limit of 2 a week and an
exposure cap; the whole answer (valuing every candidate on every path, the plan and the runner-up
solves, alternatives) and the first solve alone; medians of {args.runs} runs. Target: under 5 s.

| app | markets | risk | candidates | answer | solver | status |
|---|---|---|---|---|---|---|
{newline.join(speed)}

Growth with markets (instagram, the largest by DAU, risk mean): time ~ markets^{exponent:.2f}.

| markets | candidates | answer | solver | status |
|---|---|---|---|---|
{newline.join(growth)}
"""
    write_section("optimiser", body)
    print(body)


if __name__ == "__main__":
    main()
