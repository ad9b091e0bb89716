"""Held-out forecast bands on worlds of several designs: how often they hold the truth.

    python bench/band_coverage.py [--designs default,random_walk,trend_break,heavy_tails] [--seeds 1,2,3]

Per world (`training.evaluation.held_out_band_coverage`): the last 26 weeks held back, the
model trained on the rest, the status quo forecast for every forecastable market and played
forward by the simulator with the same noise. The table gives, per design and interval level,
the mean share of (app, week) points whose band holds the truth for market rows and for ALL
rows (every market together), the worst world-app case of ALL at 90%, the median absolute
percentage errors and the median |error| / half-width of ALL rows (a calibrated 90% band gives
about 0.4). The section "band_coverage" of RESULTS.md is rewritten.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import pandas as pd  # noqa: E402

from bench.report import machine, write_section  # noqa: E402
from data.simulator import DESIGNS, WorldSpec  # noqa: E402
from training.evaluation import held_out_band_coverage  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    frames = []
    for design in args.designs.split(","):
        for seed in seeds:
            start = time.perf_counter()
            frames.append(held_out_band_coverage(seed, WorldSpec(design=design)))
            print(f"{design} seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)
    scores = pd.concat(frames, ignore_index=True)
    table = scores.groupby(["design", "level"]).agg(
        market_coverage=("market_coverage", "mean"), all_coverage=("all_coverage", "mean"),
        worst_all_coverage=("all_coverage", "min"), market_ape=("market_ape", "median"),
        all_ape=("all_ape", "median"), all_error_per_halfwidth=("all_error_per_halfwidth", "median"))
    lines = [f"| {design} | {level:.0%} | {r.market_coverage:.1%} | {r.all_coverage:.1%} | {r.worst_all_coverage:.1%} | "
             f"{r.market_ape:.2%} | {r.all_ape:.2%} | {r.all_error_per_halfwidth:.2f} |"
             for (design, level), r in table.iterrows()]
    body = f"""## Held-out bands by world design (issue 13)

`python bench/band_coverage.py --designs {args.designs} --seeds {args.seeds}` on {machine()}

{len(seeds)} worlds per design x 3 apps; 26 held-back weeks; status quo played forward.

| design | level | market rows held | ALL rows held | worst world-app, ALL | median APE market | median APE ALL | ALL error / half-width |
|---|---|---|---|---|---|---|---|
""" + "\n".join(lines) + "\n"
    write_section("band_coverage", body)
    print(body)


if __name__ == "__main__":
    main()
