"""Issue 3's speed targets: full fit on the default world, and one scenario forecast.

    python bench/model_speed.py [--fits 3] [--forecasts 200]

Full fit = 3 apps x 32 markets, 200 bootstrap replicates, both baseline backtests (8 origins
each), baselines and the event study; on the default world and on the same world made
real-shaped (three late entrants, one market that stops early: the unbalanced path solves
the week effects per bootstrap replicate). Forecast = one app, every market, 52 weeks, from a
model loaded from disk. Medians over several runs; the section "model_speed" of RESULTS.md is
rewritten.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.report import machine, write_section  # noqa: E402
from data import simulate_world  # noqa: E402
from data.simulator import real_shaped  # noqa: E402
from training.model.estimator import ImpactModel  # noqa: E402
from training.model.persist import load_model, save_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=3)
    parser.add_argument("--forecasts", type=int, default=200)
    args = parser.parse_args()

    panel = simulate_world(seed=0).panel
    fit_times, stages, unbalanced_times, unbalanced_stages = [], [], [], []
    for _ in range(args.fits):
        for data, times, by_stage in ((panel, fit_times, stages),
                                      (real_shaped(panel), unbalanced_times, unbalanced_stages)):
            start = time.perf_counter()
            fitted = ImpactModel(n_bootstrap=200).fit(data)
            times.append(time.perf_counter() - start)
            by_stage.append(fitted.stage_seconds_)
            print(f"fit {times[-1]:.1f} s", flush=True)
            if data is panel:                                   # the forecast is timed on the default world
                model = fitted
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_model(save_model(model, Path(tmp) / "model"))
    app = "instagram"
    plan = np.ones((len(loaded.markets(app, forecastable=True)), 52))
    loaded.forecast(app, plan)                          # first call builds the cached noise paths
    forecast_ms = []
    for _ in range(args.forecasts):
        start = time.perf_counter()
        loaded.forecast(app, plan)
        forecast_ms.append((time.perf_counter() - start) * 1000)

    stage_lines = "\n".join(f"| {stage} | {statistics.median(s[stage] for s in stages):.1f} | "
                            f"{statistics.median(s[stage] for s in unbalanced_stages):.1f} |" for stage in stages[0])
    body = f"""## Model speed (issue 3)

`python bench/model_speed.py --fits {args.fits} --forecasts {args.forecasts}` on {machine()}

| measure | median | runs | target |
|---|---|---|---|
| full fit, default world (3 apps x 32 markets, 200 bootstrap replicates, backtests) | {statistics.median(fit_times):.1f} s | {args.fits} (min {min(fit_times):.1f}, max {max(fit_times):.1f}) | < 90 s |
| full fit, the same world real-shaped (3 late entrants, 1 market ending early) | {statistics.median(unbalanced_times):.1f} s | {args.fits} (min {min(unbalanced_times):.1f}, max {max(unbalanced_times):.1f}) | < 90 s |
| scenario forecast, 1 app, 32 markets, 52 weeks, loaded model | {statistics.median(forecast_ms):.1f} ms | {args.forecasts} (p90 {np.percentile(forecast_ms, 90):.1f} ms) | < 20 ms |

Fit time by stage (median seconds over the runs, all apps):

| stage | default world | real-shaped |
|---|---|---|
{stage_lines}
"""
    write_section("model_speed", body)
    print(body)


if __name__ == "__main__":
    main()
