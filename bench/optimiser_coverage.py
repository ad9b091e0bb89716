"""The optimiser's value bands held against worlds of several designs, played forward.

    python bench/optimiser_coverage.py [--designs default,random_walk,trend_break,heavy_tails] [--seeds 1,...,5] [--jobs 2]

Per world (`testkit.evaluation.optimised_value_coverage`): the last 26 weeks held back, the model
trained on the rest, and per app two plans chosen under a launch limit of 2 a week: ad revenue net
of a serving cost around the median market's value per exposed DAU-week, and total minutes. Each
plan is played forward by the simulator with the same noise; the tables give how often the 90%
bands of the answer (`by_market` and `value`: incremental and net) hold the truth, by design,
objective and level of aggregation. The section "optimiser_coverage" of RESULTS.md is rewritten
and every row goes to bench/out/optimiser_coverage.csv.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import pandas as pd  # noqa: E402

from bench.report import machine, world_sweep, write_section  # noqa: E402
from testkit.evaluation import optimised_value_coverage  # noqa: E402


def coverage_table(rows: pd.DataFrame) -> str:
    """Share of bands holding the truth: per design and objective, market rows and plan totals."""
    rows = rows.assign(scope=rows["market"].where(rows["market"] == "ALL", "market"))
    table = rows.pivot_table(index=["design", "objective"], columns=["scope", "quantity"], values="covered",
                             aggfunc="mean")
    counts = rows[rows["quantity"] == "incremental"].groupby(["design", "objective", "scope"]).size().unstack()
    lines = ["| design | objective | markets: incremental | markets: net | plan total: incremental | plan total: net | "
             "cases (markets / totals) |", "|---|---|---|---|---|---|---|"]
    for (design, objective), row in table.iterrows():
        lines.append(f"| {design} | {objective} | {row[('market', 'incremental')]:.1%} | {row[('market', 'net')]:.1%} | "
                     f"{row[('ALL', 'incremental')]:.1%} | {row[('ALL', 'net')]:.1%} | "
                     f"{counts.loc[(design, objective), 'market']} / {counts.loc[(design, objective), 'ALL']} |")
    every = rows.groupby(["scope", "quantity"])["covered"].mean()
    lines.append(f"| every design | both | {every[('market', 'incremental')]:.1%} | {every[('market', 'net')]:.1%} | "
                 f"{every[('ALL', 'incremental')]:.1%} | {every[('ALL', 'net')]:.1%} | "
                 f"{counts['market'].sum()} / {counts['ALL'].sum()} |")
    return "\n".join(lines)


def main() -> None:
    args, rows, n_worlds, seconds = world_sweep(optimised_value_coverage, __doc__.splitlines()[0], "1,2,3,4,5",
                                                "optimiser_coverage.csv")
    seeds = args.seeds.split(",")
    ratio = (rows["mean"] / rows["truth"]).where(rows["quantity"] == "incremental")
    body = f"""## Optimiser value bands against the truth (issue 14)

`python bench/optimiser_coverage.py --designs {args.designs} --seeds {args.seeds}` on {machine()}
({n_worlds} worlds, {seconds:.0f} s)

{len(seeds)} worlds per design x 3 apps x 2 objectives; 26 weeks held back; per app a plan chosen
under a launch limit of 2 a week (ad revenue: net of a serving cost of 0.8-1.2 x the median market's
value per exposed DAU-week; minutes: no cost), played forward by the simulator with the same noise.
Share of 90% bands that hold the truth: the markets the plan changes (`by_market`) and the plan's
total (`value`); "net" also subtracts the serving cost (true cost: the middle of the range).
Median forecast / true incremental value: {ratio.median():.3f} (markets and totals).

{coverage_table(rows)}
"""
    write_section("optimiser_coverage", body)
    print(body)


if __name__ == "__main__":
    main()
