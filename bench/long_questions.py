"""Long questions apart (issue 29): short requests while optimisations of 5-15 s run back to back.

    python bench/long_questions.py [--seconds 60] [--runs 3]

Fits the default world into a throwaway BentoML store and serves it (one worker, as shipped).
Each round first measures `/model` and a one-market, 26-week `/forecast` on the idle service
(one client each, back to back, for `--seconds`), then again while a third client sends
`/optimise` requests of 5-15 s back to back (a 104-week Instagram plan at a risk quantile). Reports per round
and as medians over rounds the p50 and p99 of the short requests, idle and busy, their ratio
(target: busy p99 within 2x of idle p99), how long the optimisations took, and every non-200
answer (target: none). Rewrites "long_questions" in RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import served_default_world  # noqa: E402
from bench.report import machine, write_section  # noqa: E402
from testkit.local import wait_ready  # noqa: E402

SHORT = {"/model": {}, "/forecast": {"app": "instagram", "markets": ["BR"], "horizon_weeks": 26,
                                     "plan": [{"week": "2026-11-02", "share": 1.0}]}}
LONG = {"app": "instagram", "horizon_weeks": 104, "risk": 0.05, "time_limit_seconds": 15,     # about 7 s
        "cost": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.03}}, "constraints": {"max_launches_per_week": 1}}


def short_requests(url: str, seconds: float, stop_event: threading.Event | None = None) -> dict:
    """Each short request in turn, back to back, for `seconds`: latencies (ms) and failures by path."""
    latencies = {path: [] for path in SHORT}
    failures = []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.monotonic() < deadline and not (stop_event and stop_event.is_set()):
            for path, body in SHORT.items():
                start = time.perf_counter()
                response = client.post(path, json=body)
                latencies[path].append(1e3 * (time.perf_counter() - start))
                if response.status_code != 200:
                    failures.append((path, response.status_code))
    return {"latencies": latencies, "failures": failures}


def long_requests(url: str, stop_event: threading.Event, out: dict) -> None:
    """/optimise back to back until `stop_event`: each one's seconds, and failures."""
    out.update(seconds=[], failures=[])
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop_event.is_set():
            start = time.perf_counter()
            response = client.post("/optimise", json=LONG)
            out["seconds"].append(time.perf_counter() - start)
            if response.status_code != 200:
                out["failures"].append(("/optimise", response.status_code, response.text[:200]))


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def one_round(url: str, seconds: float) -> dict:
    idle = short_requests(url, seconds)
    stop_event, long_out = threading.Event(), {}
    worker = threading.Thread(target=long_requests, args=(url, stop_event, long_out))
    worker.start()
    time.sleep(1.0)                       # the first optimisation is under way
    busy = short_requests(url, seconds)
    stop_event.set()
    worker.join()
    row = {"optimise_seconds": long_out["seconds"], "failures": idle["failures"] + busy["failures"] + long_out["failures"]}
    for path in SHORT:
        row[path] = {"idle": percentiles(idle["latencies"][path]), "busy": percentiles(busy["latencies"][path]),
                     "n": (len(idle["latencies"][path]), len(busy["latencies"][path]))}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.time()
    with served_default_world() as (url, process, _):
        assert wait_ready(url, process)
        short_requests(url, 5)                                  # warm-up
        with httpx.Client(base_url=url, timeout=60) as client:
            client.post("/optimise", json=LONG)
        rounds = []
        for _ in range(args.runs):
            rounds.append(one_round(url, args.seconds))
            r = rounds[-1]
            print({path: {k: [round(x, 1) for x in r[path][k]] for k in ("idle", "busy")} for path in SHORT},
                  f"optimise {len(r['optimise_seconds'])} x {statistics.median(r['optimise_seconds']):.1f} s",
                  f"failures {r['failures']}", flush=True)
    lines = []
    for path in SHORT:
        idle50, idle99 = (statistics.median(r[path]["idle"][i] for r in rounds) for i in (0, 1))
        busy50, busy99 = (statistics.median(r[path]["busy"][i] for r in rounds) for i in (0, 1))
        ratio = statistics.median(r[path]["busy"][1] / r[path]["idle"][1] for r in rounds)
        per_round = "; ".join(f"{r[path]['busy'][1] / r[path]['idle'][1]:.2f}" for r in rounds)
        n = sum(sum(r[path]["n"]) for r in rounds)
        lines.append(f"| {path} | {idle50:.1f} | {idle99:.1f} | {busy50:.1f} | {busy99:.1f} | **{ratio:.2f}** ({per_round}) | {n} |")
    optimise = [s for r in rounds for s in r["optimise_seconds"]]
    failures = [f for r in rounds for f in r["failures"]]
    body = f"""## Long questions apart (issue 29)

`python bench/long_questions.py --seconds {args.seconds:g} --runs {args.runs}` on {machine()}; took {time.time() - started:.0f} s

The default world's model served by one worker. Each round measures `/model` and a one-market,
26-week `/forecast` (one client, back to back) on the idle service, then again while another
client sends `/optimise` back to back ({LONG['horizon_weeks']} weeks, risk {LONG['risk']}, {LONG['app']}:
{len(optimise)} optimisations of {min(optimise):.1f}-{max(optimise):.1f} s, median {statistics.median(optimise):.1f} s).
Optimisations run in a process of their own (`serving/long.py`). Milliseconds, medians over rounds;
target: busy p99 within 2x of idle p99, and no request fails.

| request | idle p50 | idle p99 | busy p50 | busy p99 | busy p99 / idle p99 (per round) | requests |
|---|---|---|---|---|---|---|
{chr(10).join(lines)}

Requests that did not answer 200: {len(failures)}{'' if not failures else ' ' + str(failures[:5])}.
"""
    write_section("long_questions", body)
    print(body)


if __name__ == "__main__":
    main()
