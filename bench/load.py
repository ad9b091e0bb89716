"""Serving load: the forecast service against no-op BentoML endpoints, same load, same rounds.

    python bench/load.py [--seconds 10] [--runs 5] [--connections 32] [--workers 1]

Fits the model on the default world and imports it into a throwaway BentoML store, starts
`bentoml serve` for the real service and for the two no-op services of `bench/noop_service.py`
(same worker count, 1 by default: with several workers on one shared socket the kernel's spread
of wrk's 32 connections over them varies run to run), and drives each with wrk (`make
bench-tools` installs it): a one-market, 26-week /forecast. The three run side by side, idle
but for the one under load, and each round loads them in turn, so a round's ratios are taken
on the same machine state. Reports the median over rounds of requests/s, p50 and p99 latency,
the error count, and the median of the rounds' ratios to each no-op (target: at least 0.8 of
the sync no-op, the baseline since issue 5). Rewrites "serving_load" in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.report import machine, write_section  # noqa: E402
from testkit.local import free_port, start_service, stop, wait_ready  # noqa: E402

BODY = {"app": "instagram", "markets": ["BR"], "horizon_weeks": 26, "plan": [{"week": "2026-11-02", "share": 1.0}]}


def start(target: str, env: dict, cwd: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    bentoml = str(Path(sys.executable).parent / "bentoml")
    with open(log, "w") as out:
        process = subprocess.Popen([bentoml, "serve", target, "--host", "127.0.0.1", "--port", str(port)], env=env,
                                   cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    if not wait_ready(url, process):
        stop(process)
        raise SystemExit(f"{target} did not become ready (log: {log})")
    return process, url


def wrk(url: str, seconds: int, connections: int, script: Path, path: str = "/forecast") -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                          f"{url}{path}"], capture_output=True, text=True, check=True).stdout

    def latency_ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p50": latency_ms("50%"), "p99": latency_ms("99%"),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "socket_errors": dict(zip(("connect", "read", "write", "timeout"), map(int, socket_errors.groups())))
            if socket_errors else {}}


def summary(runs: list[dict]) -> dict:
    """Medians of requests/s and latency over rounds; requests and errors summed."""
    socket = {kind: sum(r["socket_errors"].get(kind, 0) for r in runs) for kind in ("connect", "read", "write", "timeout")}
    return {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50", "p99")} | {
        "non_2xx": sum(r["non_2xx"] for r in runs), "socket": socket, "requests": sum(r["requests"] for r in runs)}


def import_model(model_dir: Path, home: Path, run_id: str = "bench") -> None:
    """Import a saved model as engagement-impact:1 into the BentoML store at `home` (in a child
    process, so BentoML's configuration follows that `BENTOML_HOME`)."""
    code = ("import sys; from pathlib import Path; from training.registry import import_to_bentoml; "
            "import_to_bentoml(Path(sys.argv[1]), '1', sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, str(model_dir), run_id], env={**os.environ, "BENTOML_HOME": str(home)},
                   cwd=REPO, check=True, capture_output=True)


def prepare_store(home: Path) -> None:
    """Fit the default world and import it as engagement-impact:1 into the store at `home`."""
    code = ("import sys; from pathlib import Path\nfrom data import simulate_world\n"
            "from training.model.estimator import ImpactModel\nfrom training.model.persist import save_model\n"
            "save_model(ImpactModel().fit(simulate_world(seed=0).panel), Path(sys.argv[1]))\n")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-c", code, f"{tmp}/model"], cwd=REPO, check=True)
        import_model(Path(tmp) / "model", home)


@contextmanager
def served_default_world() -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """The default world's model in a throwaway store, served by `bentoml serve` without an API
    token: (url, process, the throwaway folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "bentoml"
        prepare_store(home)
        env = {**os.environ, "BENTOML_HOME": str(home)}
        env.pop("IMPACT_API_TOKEN", None)
        process, url = start_service(env)
        try:
            yield url, process, Path(tmp)
        finally:
            stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench-tools` (apt-get install wrk)")
    services = (("forecast", "serving.service:EngagementImpact", REPO), ("no-op", "noop_service:Noop", REPO / "bench"),
                ("no-op async", "noop_service:NoopAsync", REPO / "bench"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        home = tmp / "bentoml"
        prepare_store(home)
        script = tmp / "post.lua"
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f"wrk.body = {json.dumps(json.dumps(BODY))}\n")
        env = {**os.environ, "BENTOML_HOME": str(home), "IMPACT_WORKERS": str(args.workers)}
        env.pop("IMPACT_API_TOKEN", None)
        running = {}
        try:
            for name, target, cwd in services:
                running[name] = start(target, env, cwd, tmp / f"{name}.log")
            for name, (_, url) in running.items():
                wrk(url, 5, args.connections, script)                     # warm-up
            rounds = []
            for _ in range(args.runs):
                rounds.append({name: wrk(url, args.seconds, args.connections, script)
                               for name, (_, url) in running.items()})
                print({name: r["rps"] for name, r in rounds[-1].items()}, flush=True)
        finally:
            for process, _ in running.values():
                stop(process)
        results = {name: summary([r[name] for r in rounds]) for name in running}
        for name in running:
            statuses = re.findall(r"\(status=(\d+),", (tmp / f"{name}.log").read_text(errors="replace"))
            results[name]["statuses"] = {code: statuses.count(code) for code in sorted(set(statuses))}
    ratios = {baseline: statistics.median(r["forecast"]["rps"] / r[baseline]["rps"] for r in rounds)
              for baseline in ("no-op", "no-op async")}
    rows = "\n".join(f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['requests']} | {r['non_2xx']} | "
                     + ", ".join(f"{k} {v}" for k, v in r["socket"].items() if v) + " |"
                     for name, r in results.items())
    per_round = "; ".join(f"{r['forecast']['rps'] / r['no-op']['rps']:.2f}" for r in rounds)
    body = f"""## Serving load (issues 5 and 17)

`python bench/load.py --seconds {args.seconds} --runs {args.runs} --connections {args.connections} --workers {args.workers}`
on {machine()}; wrk with 2 threads on the same machine, body `{json.dumps(BODY)}`.
The three services run side by side; each of {args.runs} rounds loads them in turn for {args.seconds} s
(after a 5 s warm-up each). Medians over rounds; requests and errors summed over the rounds.

| endpoint | requests/s | p50 ms | p99 ms | requests | non-2xx | socket errors (wrk) |
|---|---|---|---|---|---|---|
{rows}

Throughput ratio forecast / no-op, median of the rounds' ratios: **{ratios['no-op']:.2f}** (rounds: {per_round};
target: at least 0.8). Against the async no-op (no thread hand-off, the cheapest BentoML endpoint):
**{ratios['no-op async']:.2f}**.
Server-side statuses (all requests incl. warm-up): """ + "; ".join(f"{n}: {r['statuses']}" for n, r in results.items()) + """
"""
    write_section("serving_load", body)
    print(body)


if __name__ == "__main__":
    main()
