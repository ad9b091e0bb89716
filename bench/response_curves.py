"""The marginal gain of rollout steps on worlds of several response designs (issue 26).

    python bench/response_curves.py [--responses default,saturating,...] [--seeds 1,2,3,4] [--jobs 2]
    python bench/response_curves.py --only-steps --seeds 1,...,12     # the rollout-step backtest alone
    python bench/response_curves.py --only-planners --responses default --seeds 1,...,12   # every plan beside efficient planners

Per world (`testkit.evaluation.response_cases`): the last 26 weeks held back, the model trained
on the rest, then (a) every market to share 1 and (b) each partially rolled-out market alone to 1,
each against the status quo and played forward by the simulator with the same noise. Every world
is fitted twice: as shipped, and as an oracle given the world's true response shape (effect sizes
still estimated), so what a history cannot tell apart shows as the oracle's error. The section
"response_curves" of RESULTS.md is rewritten and every case goes to bench/out/response_curves.csv.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

from bench.report import OUT, machine, write_section  # noqa: E402
from data.simulator import RESPONSES, WorldSpec, response_effects  # noqa: E402
from testkit.bound import beside_efficient_planner, bound_errors, information_bound, short_of_efficient  # noqa: E402
from testkit.evaluation import optimiser_on_response_world, response_cases, step_backtest_cases  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", default=",".join(RESPONSES))
    parser.add_argument("--seeds", default="1,2,3,4")
    parser.add_argument("--jobs", type=int, default=2, help="worlds fitted at once (joblib processes)")
    parser.add_argument("--only-steps", action="store_true",
                        help="the rollout-step backtest alone, on every seed given (section step_backtest_sweep)")
    parser.add_argument("--only-efficiency", action="store_true",
                        help="cases (a) and (b) against an efficient estimate's error alone (section response_efficiency)")
    parser.add_argument("--only-planners", action="store_true",
                        help="the optimiser alone, every case beside efficient planners (section response_planners)")
    args = parser.parse_args()
    if args.only_planners:
        planners_section(args)
        return
    if args.only_steps:
        steps_section(args)
        return
    if args.only_efficiency:
        efficiency_section(args)
        return
    worlds = [(name, int(seed), oracle) for name in args.responses.split(",") for seed in args.seeds.split(",")
              for oracle in (False, True)]
    start = time.perf_counter()
    frames = Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(response_cases)(seed, WorldSpec(effects=response_effects(name)), oracle=oracle)
        for name, seed, oracle in worlds)
    steps = pd.concat(Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(step_backtest_cases)(seed, WorldSpec(effects=response_effects(name)))
        for name, seed, oracle in worlds if not oracle), ignore_index=True)
    plans = pd.concat(Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(optimiser_on_response_world)(seed, WorldSpec(effects=response_effects(name)),
                                             beside=beside_efficient_planner)
        for name, seed, oracle in worlds if not oracle), ignore_index=True)
    bounds = pd.concat(Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(information_bound)(seed, WorldSpec(effects=response_effects(name)))
        for name, seed, oracle in worlds if not oracle), ignore_index=True)
    seconds = time.perf_counter() - start
    cases = scored(pd.concat(frames, ignore_index=True))
    OUT.mkdir(exist_ok=True)
    plans.to_csv(OUT / "response_optimiser.csv", index=False)
    cases.to_csv(OUT / "response_curves.csv", index=False)
    bounds.to_csv(OUT / "response_bounds.csv", index=False)
    steps.to_csv(OUT / "step_backtest.csv", index=False)
    body = f"""## Response curves: the marginal gain of a rollout step (issue 26)

`python bench/response_curves.py --responses {args.responses} --seeds {args.seeds}` on {machine()};
{len(worlds) // 2} worlds, each fitted as shipped and as an oracle, in {seconds / 60:.1f} min.

Case (a): every forecastable market to share 1 for 26 weeks (one case per world and app); case (b):
each partially rolled-out market (last share 0.05-0.95) alone to 1. Truth: the world played forward
with the same noise. "|error|" is the median |point / truth - 1|; "held" the share of cases whose
90% band holds the truth; "point in 50%" the share whose point lies inside its own central 50% band.
The oracle is given the world's true shape, so its error is the effect sizes' alone. "efficient
|error|" is what the history allows (`testkit/bound.py`): the median |error| an efficient estimate
would have on the same cases (400 draws), from the Fisher information of the world's own likelihood
(GLS with its true noise law; the Cramer-Rao bound where markets share their app's effect, the
posterior mean under the true spread where they differ). "held to" is the larger of 10% and 1.5x that.

""" + table(cases, bound_errors(cases, bounds)) + """
The rollout-step backtest on each world's own history (`impact train` runs it on the panel it is
given): the model refitted without the history's last 26 weeks predicts the rollout steps those
weeks hold (Instagram restored in DE, ES and FR; WhatsApp withdrawn in BR), scored against the
panel: observed less the status quo's forecast. "|error| / half-width" is the median |predicted -
observed| over half the 90% band's width.

""" + step_table(steps) + """
The optimiser on the same worlds: `/optimise` for ad revenue with a serving cost between the 25th
and 75th percentiles of the markets' true value per exposed DAU-week and at most 2 launches a week,
its plan played forward against the true best plan under the same constraints (true cost: the middle
of the range), one case per world and app. Where markets' effects differ (market_varied), no history
shows the effect of a market it never exposed: the informed planner knows every true effect but those,
which it takes at the app's effect, and plans on them. Where the chosen plan earns under 90% of the
true best, 16 efficient planners each plan on one efficient estimate (`testkit.bound.efficient_planner`:
drawn from the distribution the history allows, as for "efficient |error|") and their plans are valued
in the true world: the second table gives their median share of the true best and how many earn less
than the model's plan.

""" + optimiser_table(plans) + "\n" + efficient_table(plans)
    write_section("response_curves", body)
    print(body)


def efficiency_section(args: argparse.Namespace) -> None:
    """Cases (a) and (b) of the model against an efficient estimate's error on the same cases, on more
    worlds than the full sweep: the shape is one per world, so the seeds are what multiplies the
    independent errors a median over cases is taken from."""
    start = time.perf_counter()
    worlds = [(name, int(seed)) for name in args.responses.split(",") for seed in args.seeds.split(",")]
    cases = scored(pd.concat(Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(response_cases)(seed, WorldSpec(effects=response_effects(name))) for name, seed in worlds),
        ignore_index=True))
    bounds = pd.concat(Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(information_bound)(seed, WorldSpec(effects=response_effects(name))) for name, seed in worlds),
        ignore_index=True)
    OUT.mkdir(exist_ok=True)
    cases.to_csv(OUT / "response_efficiency.csv", index=False)
    bounds.to_csv(OUT / "response_efficiency_bounds.csv", index=False)
    errors = bound_errors(cases, bounds)
    lines = [f"| {r} | {c} | {q} | {v.abs_error:.1%} | {v.bound:.1%} | {v.abs_error / v.bound:.2f} | "
             f"{v.spread:.2f} | {max(0.1, 1.5 * v.bound):.1%} | {'yes' if v.abs_error <= max(0.1, 1.5 * v.bound) else 'no'} |"
             for (r, c, q), v in errors.iterrows()]
    body = f"""## Rollout steps against what a history allows (issue 26)

`python bench/response_curves.py --only-efficiency --responses {args.responses} --seeds {args.seeds}` on {machine()};
{len(worlds)} worlds in {(time.perf_counter() - start) / 60:.1f} min. Cases (a) and (b) as in "Response curves" (the model as
shipped), each beside an efficient estimate's error on the same case (`testkit/bound.py`, 400 draws: from the Fisher
information of the world's own likelihood, GLS with its true noise law and the apps' one shape; the Cramer-Rao bound where markets
share their app's effect, the posterior mean under the true spread where they differ). A world has one shape, so its
cases' errors move together: the seeds are the independent draws. "ratio" is the model's median |error| over the
efficient one's; "error / efficient sd" the root mean square over cases of the model's error less the efficient
estimate's mean error, in the efficient estimate's standard deviations (1 for an efficient estimator).

| response | case | quantity | \\|error\\| | efficient \\|error\\| | ratio | error / efficient sd | held to | met |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(lines) + "\n"
    write_section("response_efficiency", body)
    print(body)


def planners_section(args: argparse.Namespace) -> None:
    """The optimiser with every case beside 16 efficient planners, so a target share of the true best
    is read against how often plans from efficient estimates miss it."""
    start = time.perf_counter()
    worlds = [(name, int(seed)) for name in args.responses.split(",") for seed in args.seeds.split(",")]
    plans = pd.concat(Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(optimiser_on_response_world)(seed, WorldSpec(effects=response_effects(name)),
                                             beside=partial(beside_efficient_planner, below=float("inf")))
        for name, seed in worlds), ignore_index=True)
    OUT.mkdir(exist_ok=True)
    plans.to_csv(OUT / "response_planners.csv", index=False)
    lines = []
    for name, group in plans.groupby("response", sort=False):
        short = short_of_efficient(group)
        lines.append(f"| {name} | {short['cases']} | {group['share_of_best'].min():.1%} | "
                     f"{group['share_of_best'].median():.1%} | {group['efficient_median'].median():.1%} | "
                     f"{short['missed']} | {short['efficient_rate']:.1%} | {short['efficient_rate'] * short['cases']:.1f} | "
                     f"{short['allowed']} |")
    body = f"""## The optimiser beside efficient planners in every case (issue 26)

`python bench/response_curves.py --only-planners --responses {args.responses} --seeds {args.seeds}` on {machine()};
{len(worlds)} worlds in {(time.perf_counter() - start) / 60:.1f} min. The optimiser as in "Response curves"; beside every
case, 16 planners each plan on one efficient estimate (`testkit.bound.efficient_planner`) and their plans are valued in
the true world. "under 95%": cases whose chosen plan earns less than 95% of the true best; the efficient planners' rate
is the share of their plans that do, "expected" that rate times the cases, and "allowed" the 95th percentile of that
binomial count (`testkit.bound.short_of_efficient`).

| response | cases | worst share of the true best | median | efficient planners' median | under 95% | efficient planners' rate | expected | allowed |
|---|---|---|---|---|---|---|---|---|
""" + "\n".join(lines) + "\n\n" + efficient_table(plans, below=0.95)
    write_section("response_planners", body)
    print(body)


def steps_section(args: argparse.Namespace) -> None:
    """The rollout-step backtest over more worlds than the full sweep: each world's history holds the
    same four steps, so the seeds are what multiplies the distinct (noise, step) cases."""
    start = time.perf_counter()
    worlds = [(name, int(seed)) for name in args.responses.split(",") for seed in args.seeds.split(",")]
    steps = pd.concat(Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(step_backtest_cases)(seed, WorldSpec(effects=response_effects(name))) for name, seed in worlds),
        ignore_index=True)
    OUT.mkdir(exist_ok=True)
    steps.to_csv(OUT / "step_backtest_sweep.csv", index=False)
    pooled = steps["covered"].mean()
    body = f"""## The rollout-step backtest over more worlds (issue 26)

`python bench/response_curves.py --only-steps --responses {args.responses} --seeds {args.seeds}` on {machine()};
{len(worlds)} worlds in {(time.perf_counter() - start) / 60:.1f} min. As in "Response curves" (the model refitted without the
history's last 26 weeks predicts the rollout steps those weeks hold, scored against the panel), on more seeds: every
world holds the same four steps, so each seed adds four distinct cases per design. Pooled over every design and both
quantities, the 90% bands hold **{pooled:.1%}** of {len(steps)} step-quantities.

""" + step_table(steps)
    write_section("step_backtest_sweep", body)
    print(body)


def scored(cases: pd.DataFrame) -> pd.DataFrame:
    """Each case with whether its 90% band holds the truth and its point lies in its own 50% band."""
    return cases.assign(held=(cases["lo_90"] <= cases["truth"]) & (cases["truth"] <= cases["hi_90"]),
                        centred=(cases["lo_50"] <= cases["point"]) & (cases["point"] <= cases["hi_50"]),
                        abs_error=cases["error"].abs())


def table(cases: pd.DataFrame, bounds: pd.DataFrame) -> str:
    """One row per response design, case and quantity: the model's, the oracle's and the efficient
    estimate's figures (`bounds`: `testkit.bound.bound_errors`)."""
    keys = ["response", "case", "quantity"]
    model = cases[~cases["oracle"]].groupby(keys, sort=False).agg(
        n=("error", "size"), error=("abs_error", "median"), bias=("error", "median"), held=("held", "mean"),
        centred=("centred", "mean"))
    oracle = cases[cases["oracle"]].groupby(keys, sort=False).agg(oracle_error=("abs_error", "median"),
                                                                  oracle_held=("held", "mean"))
    rows = model.join(oracle).join(bounds["bound"])
    lines = [f"| {r} | {c} | {q} | {int(v.n)} | {v.error:.1%} | {v.bias:+.1%} | {v.held:.0%} | {v.centred:.0%} | "
             f"{v.oracle_error:.1%} | {v.oracle_held:.0%} | {v.bound:.1%} | {max(0.1, 1.5 * v.bound):.1%} |"
             for (r, c, q), v in rows.iterrows()]
    return ("| response | case | quantity | cases | \\|error\\| | median error | 90% held | point in 50% | "
            "oracle \\|error\\| | oracle 90% held | efficient \\|error\\| | held to |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n")


def optimiser_table(plans: pd.DataFrame) -> str:
    """Per response design and every design together: the chosen plan's true net value as a share of
    the true best's, and of the informed planner's (who knows every effect but the never-exposed
    markets'; the true best where markets share their app's effect)."""
    plans = plans.assign(of_informed=plans["share_of_best"] / plans["informed_share_of_best"])
    frame = pd.concat([plans, plans.assign(response="every design")])
    rows = frame.groupby("response", sort=False).agg(
        cases=("share_of_best", "size"), worst=("share_of_best", "min"), middle=("share_of_best", "median"),
        average=("share_of_best", "mean"), informed=("informed_share_of_best", "min"),
        of_informed=("of_informed", "min"), of_informed_middle=("of_informed", "median"))
    lines = [f"| {r} | {int(v['cases'])} | {v['worst']:.1%} | {v['middle']:.1%} | {v['average']:.1%} | "
             f"{v['informed']:.1%} | {v['of_informed']:.1%} | {v['of_informed_middle']:.1%} |" for r, v in rows.iterrows()]
    return ("| response | cases | worst share of the true best | median | mean | informed planner's worst share | "
            "worst share of the informed planner's | median |\n|---|---|---|---|---|---|---|---|\n"
            + "\n".join(lines) + "\n")


def efficient_table(plans: pd.DataFrame, below: float = 0.9) -> str:
    """The cases under `below` of the true best beside the efficient planners'."""
    rows = plans[plans["efficient_median"].notna() & (plans["share_of_best"] < below)]
    if rows.empty:
        return f"Every chosen plan earns at least {below:.0%} of the true best.\n"
    lines = [f"| {v.response} | {v.seed} | {v.app} | {v.share_of_best:.1%} | {v.informed_share_of_best:.1%} | "
             f"{v.efficient_median:.1%} | {v.efficient_below_model:.0%} |" for v in rows.itertuples()]
    return ("| response | seed | app | the model's share of the true best | the informed planner's | "
            "efficient planners' median | efficient planners earning less than the model |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n")


def step_table(steps: pd.DataFrame) -> str:
    """One row per response design and quantity, then every design together."""
    every = steps.assign(response="every design")
    frame = pd.concat([steps, every]).assign(
        abs_error=lambda f: f["error"].abs(),
        per_halfwidth=lambda f: (f["predicted"] - f["observed"]).abs() / ((f["hi"] - f["lo"]) / 2))
    rows = frame.groupby(["response", "quantity"], sort=False).agg(
        n=("covered", "size"), held=("covered", "mean"), error=("abs_error", "median"),
        ratio=("per_halfwidth", "median"))
    lines = [f"| {r} | {q} | {int(v.n)} | {v.held:.0%} | {v.error:.0%} | {v.ratio:.2f} |" for (r, q), v in rows.iterrows()]
    return ("| response | quantity | steps | 90% held | \\|error\\| | \\|error\\| / half-width |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
