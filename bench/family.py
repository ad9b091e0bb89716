"""The family of apps (issue 31): what today's per-app model gets wrong where the apps move each other's time.

    python bench/family.py [--cross none,cannibalising,complementary,same_week] [--seeds 1,2,3] [--jobs 2]

Per world of each cross design (`data.simulator.CROSS`): the history attributed per app and summed
for the family against the world's truth (own and cross parts), and seven plans over the 26
held-back weeks (each app alone everywhere, each alone in the larger half of its markets, every app
everywhere) answered per app and summed, against the world played forward with the same noise.
The section "family" of RESULTS.md is rewritten; rows go to bench/out/family_*.csv.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

from bench.report import OUT, machine, write_section  # noqa: E402
from data.simulator import CROSS, WorldSpec  # noqa: E402
from testkit.evaluation import attribution_cases, family_cases  # noqa: E402


def one_world(cross: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    spec = WorldSpec(cross=cross)
    return attribution_cases(seed, spec), family_cases(seed, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cross", default=",".join(CROSS))
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    worlds = Parallel(n_jobs=args.jobs, verbose=10)(
        delayed(one_world)(cross, int(seed)) for cross in args.cross.split(",") for seed in args.seeds.split(","))
    attribution = pd.concat([a for a, _ in worlds], ignore_index=True)
    plans = pd.concat([p for _, p in worlds], ignore_index=True)
    OUT.mkdir(exist_ok=True)
    attribution.to_csv(OUT / "family_attribution.csv", index=False)
    plans.to_csv(OUT / "family_plans.csv", index=False)
    table = ["| cross design | worlds | attribution per app: median \\|error\\| | family attribution: median error | "
             "per-app 90% band holds the app's truth | family plans: median \\|error\\| | worst family plan error |",
             "|---|---|---|---|---|---|---|"]
    for cross, group in attribution.groupby("cross", sort=False):
        apps = group[group["app"] != "family"]
        family = group[group["app"] == "family"]
        held = ((apps["lo"] <= apps["truth"]) & (apps["truth"] <= apps["hi"])).mean()
        mine = plans[(plans["cross"] == cross) & (plans["app"] == "family")]
        worst = mine.loc[mine["error"].abs().idxmax()]
        table.append(f"| {cross} | {group['seed'].nunique()} | {apps['error'].abs().median():.1%} | "
                     f"{family['error'].median():+.1%} | {held:.0%} | {mine['error'].abs().median():.1%} | "
                     f"{worst['plan']}, {worst['quantity']}: {worst['error']:+.0%} |")
    body = f"""## The family of apps: today's per-app model on worlds with cross-app effects (issue 31)

`python bench/family.py --cross {args.cross} --seeds {args.seeds}` on {machine()};
{len(worlds)} worlds in {(time.perf_counter() - started) / 60:.1f} min. Attribution: the whole history per app
(minutes and ad revenue) against the app's true increment (its own rollout and what the other apps moved), and
summed for the family. Plans: each app alone to share 1 everywhere, each alone in the larger half of its
markets, every app everywhere, over the 26 held-back weeks; the family's answer is the sum of the per-app
/forecast increments (each app is modelled alone), the truth the world played forward with the other apps at
their status quo; median |error| over plans, minutes and revenue.

{chr(10).join(table)}
"""
    write_section("family", body)
    print(body)


if __name__ == "__main__":
    main()
