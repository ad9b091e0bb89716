"""How far can trend-change risk lift the held-out bands of the trend_break design? An upper bound.

    python bench/trend_break_oracle.py [--seeds 1,...,10] [--multipliers 1,2,3] [--jobs 2]

The trend_break worlds bend each app's time per DAU at random weeks of their history
(`breaks_per_year`, normal slope changes of sd `break_slope_sd`), and then once more, by
`break_slope_per_year`, exactly at the first held-back week. A model can only learn the law of
the bends from the history, so the most it can honestly add to its bands is Prophet's trend
uncertainty: future bends at the historical rate and size. This script gives the served model
that term with the world's *true* law (an oracle: no estimate could know it better), and with
sizes 2 and 3 times larger, added to the common component of log time per DAU on every sample
path, and reports the held-out coverage of total minutes against the bands as served. It is
an experiment on the fitted model's sample paths, not a serving option. The section
"trend_break_oracle" of RESULTS.md is rewritten.
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

from bench.report import machine, write_section  # noqa: E402
from data.simulator import WorldSpec  # noqa: E402
from testkit.evaluation import band_scores, held_out_world  # noqa: E402

LEVELS = (0.5, 0.9)
TIME_OUTCOME = 0


def trend_change_paths(n_paths: int, horizon: int, per_year: float, slope_sd: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Paths x weeks of log deviation from future bends: a Poisson number of bends (`per_year`)
    at uniform weeks of the horizon, each a normal slope change of sd `slope_sd` a year."""
    steps = np.arange(1, horizon + 1)
    out = np.zeros((n_paths, horizon))
    for path, count in enumerate(rng.poisson(per_year * horizon / 52, n_paths)):
        for when, size in zip(rng.uniform(0, horizon, count), rng.normal(0.0, slope_sd, count)):
            out[path] += size * np.maximum(steps - when, 0.0) / 52
    return out


def with_trend_risk(queries, extra: np.ndarray) -> None:
    """Add `extra` (paths x weeks) to the common noise of log time per DAU of a fitted app's
    queries (an experiment on the sample paths)."""
    common, own = queries.noise_parts
    common = common.copy()
    common[TIME_OUTCOME, 0] += extra.T.astype(common.dtype)
    queries.__dict__["noise_parts"] = (common, own)


def one_world(seed: int, multipliers: tuple[float, ...]) -> list[dict]:
    spec = WorldSpec(design="trend_break")
    world = held_out_world(seed, spec)
    rows = []
    for app, truth in world.truth.items():
        minutes = {"minutes": truth["minutes"]}
        queries = world.model._ask(app)
        served = queries.noise_parts
        for multiplier in (0.0, *multipliers):
            queries.__dict__["noise_parts"] = served
            if multiplier:
                n_paths, horizon = served[0].shape[-1], served[0].shape[2]
                rng = np.random.default_rng([seed, int(multiplier * 100)])
                with_trend_risk(queries, trend_change_paths(n_paths, horizon, spec.breaks_per_year,
                                                            multiplier * spec.break_slope_sd, rng))
            for level in LEVELS:
                for scores in band_scores(world.model, app, minutes, level):
                    rows.append({"seed": seed, "app": app, "multiplier": multiplier, "level": level, **scores})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4,5,6,7,8,9,10")
    parser.add_argument("--multipliers", default="1,2,3")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    multipliers = tuple(float(m) for m in args.multipliers.split(","))
    start = time.perf_counter()
    rows = Parallel(n_jobs=args.jobs)(delayed(one_world)(seed, multipliers) for seed in seeds)
    took = time.perf_counter() - start
    scores = pd.DataFrame([r for world in rows for r in world])
    scores = scores[scores["weeks_ahead"] == "1-26"]
    table = scores.groupby(["multiplier", "level"]).agg(
        market=("market_coverage", "mean"), all_rows=("all_coverage", "mean"), total=("total_covered", "mean"),
        market_ratio=("market_error_per_halfwidth", "median"), all_ratio=("all_error_per_halfwidth", "median"))
    lines = [f"| {'as served' if m == 0 else f'true law, sizes x {m:g}'} | {level:.0%} | {r.market:.1%} | "
             f"{r.all_rows:.1%} | {r.total:.0%} | {r.market_ratio:.2f} | {r.all_ratio:.2f} |"
             for (m, level), r in table.iterrows()]
    body = f"""## Trend-change risk on the trend_break design: an upper bound (issue 13)

`python bench/trend_break_oracle.py --seeds {args.seeds} --multipliers {args.multipliers}` on {machine()}; took {took:.0f} s

{len(seeds)} trend_break worlds x 3 apps, total minutes, the last 26 weeks held back. The bands
as served, then with the world's own law of trend bends (Poisson, {WorldSpec().breaks_per_year:g}
a year, normal slope changes of sd {WorldSpec().break_slope_sd:g} a year: what Prophet's trend
uncertainty would estimate at best) added to every sample path, and with bends 2 and 3 times
that size. The held-back weeks start with a sure bend of {WorldSpec().break_slope_per_year:g} a
year, one standard deviation of the historical bends, always downwards: no law learnt from the
history expects it.

| bands | level | market rows held | ALL rows held | totals held | market error / half-width | ALL error / half-width |
|---|---|---|---|---|---|---|
""" + "\n".join(lines) + "\n"
    write_section("trend_break_oracle", body)
    print(body)


if __name__ == "__main__":
    main()
