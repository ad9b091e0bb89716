"""Issue 7: soak the service and kill a worker under load.

    python bench/soak.py [--seconds 120] [--connections 32] [--workers 2]

1. Soak: one wrk run with 32 connections on a mix of /forecast (one market, 26 weeks) and
   /forecast_batch (5 scenarios): a warm-up of the service's request timeout plus 10 s, then
   `--seconds` of soak; errors, p50/p99, and the resident memory of the server (all its
   processes) every 10 s. Flat means every sample of the soak is within 2% of its start.
   The warm-up is there because BentoML keeps each request's timeout timer (and, through it,
   the request's tracing span) until the timeout passes, so a worker's memory rises for that
   long; one wrk run keeps wrk's connections on the same workers from warm-up to soak.
2. Fault: the same load for 30 s, one worker killed with SIGKILL after 10 s; BentoML restarts it;
   the errors the clients saw.
Rewrites the "soak" section of RESULTS.md. Needs wrk (`make bench-tools`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import prepare_store, wrk  # noqa: E402
from bench.report import machine, write_section  # noqa: E402
from serving.service import REQUEST_TIMEOUT_SECONDS  # noqa: E402
from testkit.local import start_service, stop, wait_ready  # noqa: E402

FORECAST = {"app": "instagram", "markets": ["BR"], "horizon_weeks": 26, "plan": [{"week": "2026-11-02", "share": 1.0}]}
BATCH = {"scenarios": [{"app": app, "markets": ["US", "IN"], "horizon_weeks": 13} for app in
                       ("facebook", "instagram", "whatsapp", "facebook", "instagram")]}
LUA = """
local bodies = {{ {forecast}, {batch} }}
local paths = {{ "/forecast", "/forecast_batch" }}
local n = 0
request = function()
  n = n + 1
  local i = (n % 2) + 1
  return wrk.format("POST", paths[i], {{["Content-Type"] = "application/json"}}, bodies[i])
end
"""


def processes(root: int) -> list[int]:
    """The process and all its descendants."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_by_process(root: int) -> dict[int, float]:
    """Resident MB of the process and each descendant."""
    out = {}
    for pid in processes(root):
        try:
            match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
            out[pid] = int(match.group(1)) / 1024 if match else 0.0
        except OSError:
            continue
    return out


def soak_sampling(url: str, seconds: int, connections: int, script: Path, root: int,
                  every: float = 10.0) -> tuple[dict, list[tuple[float, dict[int, float]]]]:
    """Run wrk for `seconds` while sampling every process's RSS each `every` seconds."""
    result = {}
    runner = threading.Thread(target=lambda: result.update(wrk(url, seconds, connections, script, path="/")))
    samples = [(0.0, rss_by_process(root))]
    began = time.time()
    runner.start()
    while runner.is_alive():
        runner.join(timeout=every)
        if runner.is_alive() or time.time() - began - samples[-1][0] > 1:
            samples.append((time.time() - began, rss_by_process(root)))
    return result, samples


def workers(root: int) -> list[int]:
    out = []
    for pid in processes(root):
        try:
            if "_bentoml_impl.worker.service" in Path(f"/proc/{pid}/cmdline").read_text():
                out.append(pid)
        except OSError:
            continue
    return out


def total(sample: dict[int, float]) -> float:
    return sum(sample.values())


def series(samples: list[tuple[float, dict[int, float]]]) -> str:
    return ", ".join(f"{at:.0f} s {total(by_pid):.0f}" for at, by_pid in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    warmup_seconds = REQUEST_TIMEOUT_SECONDS + 10
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prepare_store(tmp / "bentoml")
        script = tmp / "mix.lua"
        script.write_text(LUA.format(forecast=json.dumps(json.dumps(FORECAST)), batch=json.dumps(json.dumps(BATCH))))
        env = {**os.environ, "BENTOML_HOME": str(tmp / "bentoml"), "IMPACT_WORKERS": str(args.workers)}
        env.pop("IMPACT_API_TOKEN", None)
        with open(tmp / "server.log", "w") as log:
            process, url = start_service(env, log=log)
        try:
            wait_ready(url, process)
            soak, timeline = soak_sampling(url, warmup_seconds + args.seconds, args.connections, script, process.pid)
            print("soak", soak, series(timeline), flush=True)

            victims = workers(process.pid)
            killed = {}

            def kill_one() -> None:
                killed["pid"] = victims[0]
                os.kill(victims[0], signal.SIGKILL)

            timer = threading.Timer(10, kill_one)
            timer.start()
            fault = wrk(url, 30, args.connections, script, path="/")
            timer.join()
            after = workers(process.pid)
            ready = wait_ready(url, process, seconds=30)
            print("fault", fault, killed, after, flush=True)
        finally:
            stop(process)
        statuses = re.findall(r"\(status=(\d+),", (tmp / "server.log").read_text(errors="replace"))
    counts = {code: statuses.count(code) for code in sorted(set(statuses))}
    samples = [sample for sample in timeline if sample[0] >= warmup_seconds - 1]
    soak_start, soak_end = total(samples[0][1]), total(samples[-1][1])
    low, high = min(total(by_pid) for _, by_pid in samples), max(total(by_pid) for _, by_pid in samples)
    flat = max(high - soak_start, soak_start - low) <= 0.02 * soak_start
    pids = sorted(timeline[0][1])
    memory_rows = "\n".join(
        f"| {at:.0f} | {total(by_pid):.0f} | " + " | ".join(f"{by_pid.get(pid, 0):.0f}" for pid in pids) + " |"
        for n, (at, by_pid) in enumerate(timeline) if n % 6 == 0 or n == len(timeline) - 1)
    columns = " | ".join(f"worker {pid}" if pid in victims else f"main {pid}" for pid in pids)

    def row(name: str, seconds: int, r: dict) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in r["socket_errors"].items() if v) or "none"
        return (f"| {name} | {seconds} | {r['requests']:,} | {r['rps']:.0f} | {r['p50']:.0f} | {r['p99']:.0f} | "
                f"{r['non_2xx']} | {errors} |")

    body = f"""## Soak and a killed worker (issue 7)

`python bench/soak.py --seconds {args.seconds} --connections {args.connections} --workers {args.workers}` on {machine()};
wrk (2 threads) alternating `/forecast` (1 market, 26 weeks) and `/forecast_batch` (5 scenarios x 2 markets x 13 weeks).

| phase | seconds | requests | requests/s | p50 ms | p99 ms | non-2xx | socket errors |
|---|---|---|---|---|---|---|---|
{row(f"{warmup_seconds} s warm-up + soak", warmup_seconds + args.seconds, soak)}
{row("one worker SIGKILLed at 10 s", 30, fault)}

Resident memory of the server (MB), every 60 s from ready; the soak starts at {warmup_seconds} s:

| seconds | all processes | {columns} |
|---|---|{"---|" * len(pids)}
{memory_rows}

Over the soak: {soak_start:.0f} -> {soak_end:.0f} MB ({soak_end - soak_start:+.0f} MB, {100 * (soak_end - soak_start) / soak_start:+.1f}%),
lowest {low:.0f}, highest {high:.0f}: **{"flat" if flat else "NOT flat"}** (every sample within 2% of the start: {flat}).
A worker's memory rises while it first takes load: BentoML keeps each request's timeout timer, and with it the
request's tracing span, for the {REQUEST_TIMEOUT_SECONDS} s request timeout even after answering, and the allocator
settles; the warm-up covers that. The workers share one socket and take wrk's connections unevenly.

Workers before the kill: {len(victims)}; after: {len(after)}
(the killed pid {killed.get('pid')} was {'replaced' if killed.get('pid') not in after and len(after) == len(victims) else 'NOT replaced'});
ready afterwards: {ready}. Server-side statuses over the whole run: {counts}.
"""
    write_section("soak", body)
    print(body)


if __name__ == "__main__":
    main()
