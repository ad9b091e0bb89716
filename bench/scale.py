"""Growth with markets: the commands users run, fit time per stage, training memory, model size,
service memory and latency, the planner page and /optimise.

    python bench/scale.py [--markets 32,96,249] [--requests 200] [--runs 3] [--only-commands]

Commands (section "scale_commands"): for each market count, `impact train --no-publish`, `impact
train` with its default publish (each in fresh stores) and `impact publish` alone (the champion,
into a new DuckDB file), each a whole process under `/usr/bin/time -v` (wall time and its peak
resident memory: the largest single process, so the fit's worker processes are counted one at a
time), `--runs` times, medians; the warehouse's rows per table, the rows the view `forecasts`
gives, and the file's size; at the largest count the same publish into a PostgreSQL server started
here. The growth exponent of each.

For each market count, simulates the default world grown to that many markets (`impact simulate
--markets N`: the named 32, then every other assigned country code with drawn sizes and launch
weeks) and, in a fresh process, fits it as `impact train` does (n_jobs=-1: the apps fanned out
on local worker processes), recording the wall time, each stage's seconds (summed over apps),
the peak memory of the fitting process and of its largest worker, and the saved model's size.
Then imports the model into a throwaway BentoML store, starts `bentoml serve` (1 worker), warms
it (every app's /forecast), reads the worker's resident memory, times `--requests`
sequential one-market 26-week /forecast calls (p50, p99), then asks every app's widest forecast
(every market, 104 weeks) at five interval levels and reads the worker's memory again: it must
not grow with the levels asked. At the largest count it also fits
serially and on a Dask LocalCluster of 2 worker processes and checks the three saved models are
identical. Writes "scale" in RESULTS.md with the fitted growth exponent (wall ~ markets^b).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import import_model, start  # noqa: E402
from bench.report import machine, write_section  # noqa: E402
from testkit.local import stop  # noqa: E402
from testkit.compare import same_content, saved_content  # noqa: E402

FIT = """
import json, resource, sys, time
from pathlib import Path
from data import WorldSpec, simulate_world
from data.markets import world_markets
from training.model.estimator import ImpactModel
from training.model.fanout import cluster
from training.model.persist import save_model
markets, n_jobs, address, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] or None, Path(sys.argv[4])
panel = simulate_world(seed=0, spec=WorldSpec(markets=world_markets(markets))).panel
with cluster(address):
    started = time.perf_counter()
    model = ImpactModel(n_jobs=n_jobs).fit(panel)
    wall = time.perf_counter() - started
save_model(model, out)
from joblib.externals.loky import get_reusable_executor
get_reusable_executor().shutdown(wait=True)        # the workers end, so their peak is in RUSAGE_CHILDREN
print(json.dumps({"wall": wall, "stages": model.stage_seconds_, "rows": len(panel),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def fit(markets: int, out: Path, n_jobs: int = -1, address: str = "") -> dict:
    done = subprocess.run([sys.executable, "-c", FIT, str(markets), str(n_jobs), address, str(out)], cwd=REPO,
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["model_mb"] = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
    return result


def same_model(one: Path, other: Path) -> bool:
    return same_content(saved_content(one), saved_content(other)) == []


def worker_rss_mb(server_pid: int) -> float:
    """Resident memory of the largest process under the server (its worker)."""
    import psutil
    processes = psutil.Process(server_pid).children(recursive=True)
    return max(p.memory_info().rss for p in processes) / 2**20


LEVELS = (0.5, 0.8, 0.9, 0.95, 0.99)
IMPACT = str(Path(sys.executable).parent / "impact")
TABLES = ("forecast_rows", "attribution", "scenarios")


def timed(args: list[str], env: dict) -> dict:
    """A whole `impact` command under /usr/bin/time -v: wall seconds, peak MB, its stdout."""
    done = subprocess.run(["/usr/bin/time", "-v", IMPACT, *args], env=env, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"impact {' '.join(args)} failed: {done.stderr[-2000:]}")
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    hours, minutes, seconds = int(clock[1] or 0), int(clock[2]), float(clock[3])
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1])
    return {"wall": 3600 * hours + 60 * minutes + seconds, "peak_mb": peak / 1024, "stdout": done.stdout}


def fresh_env(root: Path) -> dict:
    """Fresh MLflow store, warehouse and BentoML store under `root`."""
    env = {**os.environ, "IMPACT_HOME": str(root / "impact"), "BENTOML_HOME": str(root / "bentoml")}
    for name in ("MLFLOW_TRACKING_URI", "IMPACT_WAREHOUSE_URL", "DASK_SCHEDULER_ADDRESS"):
        env.pop(name, None)
    return env


def warehouse_rows(url: str) -> dict:
    import sqlalchemy as sa
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in (*TABLES, "forecasts")}
    engine.dispose()
    return rows


def commands(markets: int, tmp: Path, runs: int, postgres: bool) -> dict:
    """Medians over `runs` of the three commands on the default world grown to `markets`."""
    panel = tmp / f"world-{markets}"
    subprocess.run([IMPACT, "simulate", "--markets", str(markets), "--out", str(panel)], check=True,
                   capture_output=True, env=fresh_env(tmp / "simulate"))
    data = ["--data", str(panel / "panel.parquet"), "--quiet"]
    seen: dict[str, list] = {"train --no-publish": [], "train": [], "publish": [], "publish to PostgreSQL": []}
    for run in range(runs):
        seen["train --no-publish"].append(timed(["train", *data, "--no-publish"], fresh_env(tmp / f"a{markets}-{run}")))
        home = tmp / f"b{markets}-{run}"
        seen["train"].append(timed(["train", *data], fresh_env(home)))
        target = tmp / f"publish-{markets}-{run}.duckdb"
        seen["publish"].append(timed(["publish", "--quiet", "--warehouse", f"duckdb:///{target}"], fresh_env(home)))
    out = {name: {"wall": statistics.median(r["wall"] for r in runs_), "peak_mb": statistics.median(r["peak_mb"] for r in runs_),
                  "walls": [r["wall"] for r in runs_]} for name, runs_ in seen.items() if runs_}
    out["rows"] = warehouse_rows(f"duckdb:///{target}")
    out["file_mb"] = target.stat().st_size / 2**20
    if postgres:
        out["service"] = planner_and_optimiser(tmp / f"b{markets}-0", runs)
        from testkit.local import postgres_server
        import sqlalchemy as sa
        with postgres_server() as url:
            engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            walls = []
            for run in range(runs):
                with engine.connect() as conn:
                    conn.exec_driver_sql(f"CREATE DATABASE publish_{run}")
                walls.append(timed(["publish", "--quiet", "--warehouse", f"{url.rsplit('/', 1)[0]}/publish_{run}"],
                                   fresh_env(tmp / f"b{markets}-0")))
            engine.dispose()
        out["publish to PostgreSQL"] = {"wall": statistics.median(r["wall"] for r in walls),
                                        "peak_mb": statistics.median(r["peak_mb"] for r in walls),
                                        "walls": [r["wall"] for r in walls]}
    return out


def planner_and_optimiser(home: Path, runs: int) -> dict:
    """The champion a `impact train` put in `home`'s BentoML store, served (1 worker): the planner
    page's first render in headless Chromium (fresh context each time, as bench/page.py) and a
    26-week /optimise of every Instagram market with a launch limit and a cost range; medians."""
    import httpx

    from bench.page import SIZES, visit
    from testkit.local import headless_chromium
    env = {**fresh_env(home), "IMPACT_WORKERS": "1"}
    env.pop("IMPACT_API_TOKEN", None)
    process, url = start("serving.service:EngagementImpact", env, REPO, home / "serve.log")
    try:
        with headless_chromium() as browser:
            renders = [visit(browser, url, SIZES["1280x800"])["first_render"] for _ in range(runs)]
        body = {"app": "instagram", "horizon_weeks": 26, "constraints": {"max_launches_per_week": 2},
                "cost": {"per_exposed_dau_week_usd": {"low": 0.01, "high": 0.03}}}
        seconds = []
        with httpx.Client(base_url=url, timeout=120) as client:
            for _ in range(runs):
                started = time.perf_counter()
                answer = client.post("/optimise", json=body)
                seconds.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text[:500]
    finally:
        stop(process)
    return {"first_render_ms": statistics.median(renders), "renders": renders,
            "optimise_s": statistics.median(seconds), "optimises": seconds,
            "candidates": answer.json()["solver"]["candidates"]}


def commands_section(counts: list[int], runs: int) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = {n: commands(n, Path(tmp), runs, postgres=n == counts[-1]) for n in counts}
    for n, r in rows.items():
        print(n, json.dumps({k: v for k, v in r.items()}), flush=True)
    names = ["train --no-publish", "train", "publish"]

    def exponent(values: list[float]) -> str:
        return f"{np.polyfit(np.log(counts), np.log(values), 1)[0]:.2f}" if len(counts) > 1 else "n/a"

    lines = "\n".join(
        f"| {n} | " + " | ".join(f"{r[c]['wall']:.1f} ({', '.join(f'{w:.1f}' for w in r[c]['walls'])}) | {r[c]['peak_mb']:,.0f}"
                                 for c in names)
        + f" | {r['rows']['forecast_rows']:,} | {r['rows']['forecasts']:,} | {r['rows']['attribution']:,} | {r['file_mb']:.0f} |"
        for n, r in rows.items())
    growth = " | ".join(f"{exponent([rows[n][c]['wall'] for n in counts])} / {exponent([rows[n][c]['peak_mb'] for n in counts])}"
                        for c in names)
    rows_growth = exponent([rows[n]["rows"]["forecast_rows"] for n in counts])
    largest = rows[counts[-1]]
    pg = largest.get("publish to PostgreSQL")
    body = f"""## The commands users run, by markets (issue 27)

`python bench/scale.py --only-commands --markets {','.join(map(str, counts))} --runs {runs}` on {machine()};
took {time.perf_counter() - started:.0f} s. The default world grown to N markets x 3 apps; each command a whole process
under `/usr/bin/time -v`, medians of {runs} runs (each run in parentheses). `impact train` runs in fresh stores (a new
MLflow database, BentoML store and DuckDB warehouse), so its first model is promoted and, without `--no-publish`,
published; `impact publish` publishes that champion into a new DuckDB file. Peak memory is the largest single
process (the fit's workers are processes of their own, each smaller than the driver at these sizes).

| markets | train --no-publish s | peak MB | train (with publish) s | peak MB | publish s | peak MB | forecast_rows | rows the view `forecasts` gives | attribution rows | DuckDB file MB |
|---|---|---|---|---|---|---|---|---|---|---|
{lines}

Growth exponents (wall / peak memory ~ markets^b over {', '.join(map(str, counts))}): train --no-publish, train,
publish: {growth}; stored forecast rows: {rows_growth}.
{'' if pg is None else f"The same publish into PostgreSQL (a server started here on loopback) at {counts[-1]} markets: **{pg['wall']:.1f} s** ({', '.join(f'{w:.1f}' for w in pg['walls'])}), peak {pg['peak_mb']:,.0f} MB."}
{'' if 'service' not in largest else f"Served at {counts[-1]} markets (1 worker, the champion of the first run): the planner page's first render with data **{largest['service']['first_render_ms']:.0f} ms** (median of {', '.join(f'{v:.0f}' for v in largest['service']['renders'])}; target under 1 s, headless Chromium at 1280x800, a fresh context each time) and a 26-week `/optimise` of every Instagram market with a launch limit of 2 a week and a cost range of 0.01-0.03 USD per exposed DAU-week ({largest['service']['candidates']} candidates) **{largest['service']['optimise_s']:.2f} s** (median of {', '.join(f'{v:.2f}' for v in largest['service']['optimises'])}; target under 5 s)."}
Targets at {counts[-1]} markets: `impact train` under 120 s and 4 GB; `impact publish` under 60 s and 1.5 GB, a DuckDB
file under 1 GB.
"""
    write_section("scale_commands", body)
    print(body)


def serve(model_dir: Path, tmp: Path, requests: int) -> dict:
    """Service memory per worker after warm-up and after every app's widest forecast at every
    level, the latency of one-market forecasts and of the widest one."""
    import httpx
    home = tmp / "bentoml"
    import_model(model_dir, home, "scale")
    env = {**os.environ, "BENTOML_HOME": str(home), "IMPACT_WORKERS": "1"}
    env.pop("IMPACT_API_TOKEN", None)
    process, url = start("serving.service:EngagementImpact", env, REPO, tmp / "serve.log")
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            apps = client.post("/model", json={}).json()["apps"]
            for app in apps:
                client.post("/forecast", json={"app": app, "horizon_weeks": 26})
            body = {"app": "instagram", "markets": ["BR"], "horizon_weeks": 26,
                    "plan": [{"week": apps["instagram"]["forecast_start"], "share": 1.0}]}
            for _ in range(20):
                client.post("/forecast", json=body)
            rss = worker_rss_mb(process.pid)
            latencies = []
            for _ in range(requests):
                started = time.perf_counter()
                assert client.post("/forecast", json=body).status_code == 200
                latencies.append((time.perf_counter() - started) * 1e3)
            widest = []                       # every market, 104 weeks, every app, at every level
            for level in LEVELS:
                for app in apps:
                    started = time.perf_counter()
                    assert client.post("/forecast", json={"app": app, "horizon_weeks": 104,
                                                          "interval": level}).status_code == 200
                    widest.append((time.perf_counter() - started) * 1e3)
            rss_after = worker_rss_mb(process.pid)
    finally:
        stop(process)
    return {"worker_mb": rss, "worker_after_mb": rss_after, "p50_ms": float(np.percentile(latencies, 50)),
            "p99_ms": float(np.percentile(latencies, 99)), "widest_ms": float(np.median(widest))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", default="32,96,249")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (medians)")
    parser.add_argument("--only-commands", action="store_true", help="measure the commands only")
    args = parser.parse_args()
    counts = [int(n) for n in args.markets.split(",")]
    commands_section(counts, args.runs)
    if args.only_commands:
        return
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in counts:
            rows[n] = fit(n, tmp / f"model-{n}")
            rows[n] |= serve(tmp / f"model-{n}", tmp / f"serve-{n}", args.requests)
            print(n, json.dumps(rows[n]), flush=True)
        largest = counts[-1]
        serial = fit(largest, tmp / "serial", n_jobs=1)
        from distributed import LocalCluster
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as local:
            on_dask = fit(largest, tmp / "dask", n_jobs=-1, address=local.scheduler_address)
        identical = same_model(tmp / "serial", tmp / f"model-{largest}") and same_model(tmp / "serial", tmp / "dask")
    print("serial", serial["wall"], "dask", on_dask["wall"], "identical", identical, flush=True)

    exponent = float(np.polyfit(np.log(counts), np.log([rows[n]["wall"] for n in counts]), 1)[0])
    stage_names = list(rows[counts[0]]["stages"])
    lines = "\n".join(
        f"| {n} | {r['rows']:,} | **{r['wall']:.1f}** | " + " | ".join(f"{r['stages'][s]:.1f}" for s in stage_names)
        + f" | {r['peak_mb']:.0f} | {r['worker_peak_mb']:.0f} | {r['model_mb']:.0f} | {r['worker_mb']:.0f} | "
          f"{r['worker_after_mb']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['widest_ms']:.0f} |"
        for n, r in rows.items())
    big = rows[largest]
    per_app_task = sum(big["stages"].values()) / 3
    tasks = 5 * 4                                       # 5 apps x 4 segments, each an app-sized task
    body = f"""## Growth with markets (issue 17)

`python bench/scale.py --markets {args.markets} --requests {args.requests}` on {machine()}.
The default world grown to N markets (`impact simulate --markets N`), 3 apps x 304 weeks; each fit in a fresh
process as `impact train` fits (n_jobs=-1: the apps on 2 local worker processes); stage seconds are summed over
apps (work, not wall). Memory: peak resident set of the fitting process and of its largest worker. Service: 1
worker; its resident memory after warm-up, then {args.requests} sequential one-market 26-week /forecast calls
(p50, p99), then every app's widest /forecast (every market, 104 weeks) at each level {', '.join(map(str, LEVELS))}
(median time) and its resident memory after those.

| markets | panel rows | fit wall s | {' s | '.join(stage_names)} s | peak MB (driver) | peak MB (worker) | model MB | service worker MB | after widest at 5 levels MB | /forecast p50 ms | p99 ms | widest /forecast ms |
|---|---|---|{'---|' * len(stage_names)}---|---|---|---|---|---|---|---|
{lines}

Fit wall time grows as markets^**{exponent:.2f}** (least squares on log-log over {', '.join(map(str, counts))}).
At {largest} markets: serial (n_jobs=1) {serial['wall']:.1f} s, local processes {big['wall']:.1f} s
({serial['wall'] / big['wall']:.2f}x), Dask LocalCluster of 2 worker processes {on_dask['wall']:.1f} s
({serial['wall'] / on_dask['wall']:.2f}x); the three saved models are **{'identical' if identical else 'NOT identical'}**
(every array, bit for bit, and the description apart from timings and n_jobs).

On paper, {largest} markets x 5 apps x 4 segments on a Dask cluster: each (app, segment) is one task of the
fan-out, about {per_app_task:.0f} s of work here (the {largest}-market work summed over stages, divided by 3 apps)
and at most {big['worker_peak_mb']:.0f} MB in a worker; {tasks} tasks on W single-threaded workers take about
ceil({tasks}/W) x {per_app_task:.0f} s plus the driver's shape choice and bootstrap design (under a minute
here), so 2 workers retrain in about {np.ceil(tasks / 2) * per_app_task / 60:.1f} min and 4 in about
{np.ceil(tasks / 4) * per_app_task / 60:.1f} min, inside 10 minutes with 2 GB per worker.
"""
    write_section("scale", body)
    print(body)


if __name__ == "__main__":
    main()
