"""Held-out forecast bands on worlds of several designs: how often they hold the truth.

    python bench/band_coverage.py [--designs default,random_walk,trend_break,heavy_tails] [--seeds 1,...,10] [--jobs 2]

Per world (`testkit.evaluation.held_out_band_coverage`): the last 26 weeks held back, the
model trained on the rest, the status quo forecast for every forecastable market and played
forward by the simulator with the same noise. The tables give, per quantity (total minutes, ad
revenue), design and interval level, the share of points whose band holds the truth for market
rows, ALL rows (every market together) and the 26-week totals, the worst world-app case of ALL,
the median absolute percentage errors and the median |error| / half-width. Worlds are fitted
`--jobs` at a time (joblib processes). The section "band_coverage" of RESULTS.md is rewritten
and every score goes to bench/out/band_coverage.csv.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import pandas as pd  # noqa: E402

from bench.report import machine, world_sweep, write_section  # noqa: E402
from testkit.evaluation import held_out_band_coverage  # noqa: E402


def main() -> None:
    args, scores, _, _ = world_sweep(held_out_band_coverage, __doc__.splitlines()[0], "1,2,3,4,5,6,7,8,9,10",
                                     "band_coverage.csv")
    seeds = args.seeds.split(",")
    whole = scores[scores["weeks_ahead"] == "1-26"]
    body = f"""## Held-out bands by world design (issues 13, 28)

`python bench/band_coverage.py --designs {args.designs} --seeds {args.seeds}` on {machine()}

{len(seeds)} worlds per design x 3 apps; the last 26 weeks held back and played forward by the
simulator at the status quo. "held" is the share of (world, app, week) points whose band holds
the truth (market rows: also per market); "total" is the 26-week total of all markets (one
point per world and app); the error per half-width is the median |truth - forecast| / half the
band's width (about 0.4 for a calibrated 90% band of normal errors, 1.0 at 50%). The first tables
pool the 26 weeks; "by weeks ahead" splits them (next month, the quarter, the half-year).

""" + summary_tables(whole) + "\n" + app_tables(whole) + "\n" + horizon_tables(scores)
    write_section("band_coverage", body)
    print(body)


def summary_tables(scores: pd.DataFrame) -> str:
    """Markdown tables per quantity: rows per design and level, then every design together."""
    out = []
    for quantity, frame in scores.groupby("quantity", sort=False):
        every = frame.assign(design="all designs")
        table = pd.concat([frame, every]).groupby(["design", "level"], sort=False).agg(
            market=("market_coverage", "mean"), all_rows=("all_coverage", "mean"), total=("total_covered", "mean"),
            worst_all=("all_coverage", "min"), market_ape=("market_ape", "median"), all_ape=("all_ape", "median"),
            market_ratio=("market_error_per_halfwidth", "median"), all_ratio=("all_error_per_halfwidth", "median"))
        lines = [f"| {design} | {level:.0%} | {r.market:.1%} | {r.all_rows:.1%} | {r.total:.0%} | {r.worst_all:.0%} | "
                 f"{r.market_ape:.2%} | {r.all_ape:.2%} | {r.market_ratio:.2f} | {r.all_ratio:.2f} |"
                 for (design, level), r in table.iterrows()]
        out.append(f"""### {quantity}

| design | level | market rows held | ALL rows held | totals held | worst world-app, ALL | median APE market | median APE ALL | market error / half-width | ALL error / half-width |
|---|---|---|---|---|---|---|---|---|---|
""" + "\n".join(lines) + "\n")
    return "\n".join(out)


def app_tables(scores: pd.DataFrame) -> str:
    """Per quantity and app, every design together, at 50% and 90%: where an app's own history
    (WhatsApp's 2025 ads launch in its revenue) sets its bands apart."""
    frame = scores[scores["level"].isin([0.5, 0.9])]
    table = frame.groupby(["quantity", "app", "level"]).agg(
        market=("market_coverage", "mean"), all_rows=("all_coverage", "mean"),
        market_ratio=("market_error_per_halfwidth", "median"))
    lines = [f"| {quantity} | {app} | {level:.0%} | {r.market:.1%} | {r.all_rows:.1%} | {r.market_ratio:.2f} |"
             for (quantity, app, level), r in table.iterrows()]
    return """### by app, every design together

| quantity | app | level | market rows held | ALL rows held | market error / half-width |
|---|---|---|---|---|---|
""" + "\n".join(lines) + "\n"


def horizon_tables(scores: pd.DataFrame) -> str:
    """Per quantity and row kind: held share per level and bucket of weeks ahead, for every design
    but trend_break together (issue 28's acceptance), then each design."""
    buckets = [w for w in scores["weeks_ahead"].unique() if w != "1-26"]
    frame = scores[scores["weeks_ahead"].isin(buckets)]
    groups = {"every design but trend_break": frame[frame["design"] != "trend_break"]}
    groups |= {design: part for design, part in frame.groupby("design", sort=False)}
    out = []
    for quantity in frame["quantity"].unique():
        for rows, column in (("market rows", "market_coverage"), ("ALL rows", "all_coverage")):
            lines = []
            for name, part in groups.items():
                table = part[part["quantity"] == quantity].pivot_table(index="level", columns="weeks_ahead",
                                                                       values=column, aggfunc="mean")
                lines += [f"| {name} | {level:.0%} | " + " | ".join(f"{table.loc[level, w]:.1%}" for w in buckets) + " |"
                          for level in table.index]
            out.append(f"""### by weeks ahead: {quantity}, {rows}

| designs | level | {' | '.join(f'weeks {w}' for w in buckets)} |
|---|---|{'---|' * len(buckets)}
""" + "\n".join(lines) + "\n")
    return "\n".join(out)


if __name__ == "__main__":
    main()
