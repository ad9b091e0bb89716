"""Held-out bands by weeks ahead when the forecast starts at other times of year.

    python bench/band_seasons.py [--design default] [--seeds 1,...,8] [--ends 2026-10-26,2026-07-27,2026-04-27,2026-01-26] [--jobs 2]

`bench/band_coverage.py` holds back the last 26 weeks of worlds that all end on the same date, so
its weeks 5-13 are always the same months. Here the same worlds end on each of `--ends` (the
held-back half-year then starts in May, February, November and August), and the held share of
each band is given per bucket of weeks ahead, pooled over the ends and per end. The section
"band_seasons" of RESULTS.md is rewritten and the rows go to bench/out/band_seasons.csv.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

from bench.report import OUT, machine, write_section  # noqa: E402
from data.simulator import WorldSpec  # noqa: E402
from testkit.evaluation import held_out_band_coverage  # noqa: E402

LEVELS = (0.5, 0.8, 0.9, 0.95)


def one_world(seed: int, design: str, end: dt.date) -> pd.DataFrame:
    return held_out_band_coverage(seed, WorldSpec(design=design, end=end), levels=LEVELS).assign(end=str(end))


def tables(rows: pd.DataFrame) -> str:
    """Per quantity: held share per level and bucket, market rows then ALL rows, every end pooled,
    then per end at 50% and 90%."""
    buckets = [w for w in rows["weeks_ahead"].unique() if w != "1-26"]
    frame = rows[rows["weeks_ahead"].isin(buckets)]
    out = []
    for quantity, part in frame.groupby("quantity", sort=False):
        pooled = part.pivot_table(index="level", columns="weeks_ahead", values=["market_coverage", "all_coverage"])
        by_end = part[part["level"].isin([0.5, 0.9])].pivot_table(index=["end", "level"], columns="weeks_ahead",
                                                                 values=["market_coverage", "all_coverage"])
        lines = [f"| every end | {level:.0%} | " + " | ".join(f"{pooled.loc[level, (c, w)]:.1%}" for c in
                                                            ("market_coverage", "all_coverage") for w in buckets) + " |"
                 for level in pooled.index]
        lines += [f"| {end} | {level:.0%} | " + " | ".join(f"{by_end.loc[(end, level), (c, w)]:.1%}" for c in
                                                          ("market_coverage", "all_coverage") for w in buckets) + " |"
                  for end, level in by_end.index]
        header = " | ".join(f"{rows_} weeks {w}" for rows_ in ("market", "ALL") for w in buckets)
        out.append(f"""### {quantity}

| forecast from (end of history) | level | {header} |
|---|---|{'---|' * 2 * len(buckets)}
""" + "\n".join(lines) + "\n")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", default="default")
    parser.add_argument("--seeds", default="1,2,3,4,5,6,7,8")
    parser.add_argument("--ends", default="2026-10-26,2026-07-27,2026-04-27,2026-01-26")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    ends = [dt.date.fromisoformat(e) for e in args.ends.split(",")]
    start = time.perf_counter()
    frames = Parallel(n_jobs=args.jobs)(delayed(one_world)(int(seed), args.design, end)
                                        for end in ends for seed in args.seeds.split(","))
    took = time.perf_counter() - start
    rows = pd.concat(frames, ignore_index=True)
    OUT.mkdir(exist_ok=True)
    rows.to_csv(OUT / "band_seasons.csv", index=False)
    body = f"""## Held-out bands by weeks ahead, the forecast starting at other times of year (issue 28)

`python bench/band_seasons.py --design {args.design} --seeds {args.seeds} --ends {args.ends}` on {machine()}; took {took:.0f} s

{len(args.seeds.split(','))} {args.design} worlds per end of history x 3 apps, the last 26 weeks held back and played forward at
the status quo, as in "band_coverage", but the worlds end on each date above, so the held-back
half-year starts in a different season. Share of (world, app, week) points whose band holds the
truth, by weeks ahead.

""" + tables(rows)
    write_section("band_seasons", body)
    print(body)


if __name__ == "__main__":
    main()
