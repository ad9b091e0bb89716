"""Issue 7: soak the service and kill a worker under load.

    python bench/soak.py [--seconds 60] [--connections 32] [--workers 2]

1. Soak: wrk with 32 connections for 60 s on a mix of /forecast (one market, 26 weeks) and
   /forecast_batch (5 scenarios); errors, p50/p99, and the server's resident memory (all its
   processes) at the start and the end.
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
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import prepare_store, wrk  # noqa: E402
from bench.report import machine, write_section  # noqa: E402
from tests.servers import start_service, stop, wait_ready  # noqa: E402

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


def rss_mb(root: int) -> float:
    total = 0
    for pid in processes(root):
        try:
            match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
            total += int(match.group(1)) if match else 0
        except OSError:
            continue
    return total / 1024


def workers(root: int) -> list[int]:
    out = []
    for pid in processes(root):
        try:
            if "_bentoml_impl.worker.service" in Path(f"/proc/{pid}/cmdline").read_text():
                out.append(pid)
        except OSError:
            continue
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
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
            wrk(url, 5, args.connections, script, path="/")        # warm-up
            start_rss = rss_mb(process.pid)
            soak = wrk(url, args.seconds, args.connections, script, path="/")
            end_rss = rss_mb(process.pid)
            print("soak", soak, start_rss, end_rss, flush=True)

            victims = workers(process.pid)
            killed = {}

            def kill_one() -> None:
                killed["pid"] = victims[0]
                os.kill(victims[0], signal.SIGKILL)
                killed["at"] = time.time()

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
    socket = ", ".join(f"{k} {v}" for k, v in fault["socket_errors"].items() if v) or "none"
    body = f"""## Soak and a killed worker (issue 7)

`python bench/soak.py --seconds {args.seconds} --connections {args.connections} --workers {args.workers}` on {machine()};
wrk (2 threads) alternating `/forecast` (1 market, 26 weeks) and `/forecast_batch` (5 scenarios x 2 markets x 13 weeks).

| phase | seconds | requests | requests/s | p50 ms | p99 ms | non-2xx | socket errors |
|---|---|---|---|---|---|---|---|
| soak | {args.seconds} | {soak['requests']} | {soak['rps']:.0f} | {soak['p50']:.0f} | {soak['p99']:.0f} | {soak['non_2xx']} | {", ".join(f"{k} {v}" for k, v in soak['socket_errors'].items() if v) or "none"} |
| one worker SIGKILLed at 10 s | 30 | {fault['requests']} | {fault['rps']:.0f} | {fault['p50']:.0f} | {fault['p99']:.0f} | {fault['non_2xx']} | {socket} |

Server memory (all its processes, resident): {start_rss:.0f} MB after warm-up, {end_rss:.0f} MB after the soak
({end_rss - start_rss:+.0f} MB). Workers before the kill: {len(victims)}; after: {len(after)}
(the killed pid {killed.get('pid')} was {'replaced' if killed.get('pid') not in after and len(after) == len(victims) else 'NOT replaced'});
ready afterwards: {ready}. Server-side statuses over the whole run: {counts}.
"""
    write_section("soak", body)
    print(body)


if __name__ == "__main__":
    main()
