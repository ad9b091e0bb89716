"""Rows per second published to the warehouse, DuckDB and PostgreSQL, for the default world.

    python bench/warehouse.py [--runs 3]

The default world's model (default settings, fitted once here) is published with the standard
scenarios (status quo, full rollout now, each market below full rollout alone; 26 weeks; levels
0.5 and 0.9) to a fresh embedded DuckDB file and to a throwaway PostgreSQL server on loopback
(Debian's postgresql, started here), each `--runs` times: the first publish of a version, then
the same version again (which deletes and replaces its rows). Reported: rows, the whole
publish's wall time (computing the rows included) and the time in the database, as medians of
the runs. The section "warehouse" of RESULTS.md is rewritten.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.report import machine, write_section  # noqa: E402
from data import simulate_world  # noqa: E402
from testkit.local import postgres_server  # noqa: E402
from training.model.estimator import ImpactModel  # noqa: E402
from training.warehouse.publish import VersionInfo, publish  # noqa: E402


def runs(url: str, model: ImpactModel, n: int) -> dict[str, list]:
    info = VersionInfo("1", "bench", dt.datetime(2026, 11, 1), "1")
    out = {"first": [], "again": []}
    for run in range(n):
        for kind in ("first", "again"):
            if kind == "first":
                info.version = str(run + 1)
                info.champion_version = info.version
            out[kind].append(publish(url, model, info))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    model = ImpactModel(seed=0).fit(simulate_world(seed=0).panel)
    fit_seconds = time.perf_counter() - started
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["DuckDB (embedded file)"] = runs(f"duckdb:///{Path(tmp) / 'warehouse.duckdb'}", model, args.runs)
    with postgres_server() as url:
        results["PostgreSQL 15 (loopback, fsync off)"] = runs(url, model, args.runs)
    lines = ["| warehouse | publish | rows | wall (median) | in the database (median) | rows/s, wall | "
             "rows/s, database |", "|---|---|---|---|---|---|---|"]
    for name, kinds in results.items():
        for kind, done in kinds.items():
            rows = sum(done[0].rows.values())
            wall = statistics.median(d.seconds for d in done)
            database = statistics.median(d.write_seconds for d in done)
            label = "new version" if kind == "first" else "same version again (replaces its rows)"
            lines.append(f"| {name} | {label} | {rows:,} | {wall:.1f} s | {database:.1f} s | {rows / wall:,.0f} | "
                         f"{rows / database:,.0f} |")
    tables = results["DuckDB (embedded file)"]["first"][0].rows
    body = f"""## Warehouse publishing (issue 15)

`python bench/warehouse.py --runs {args.runs}` on {machine()}: the default world's model (fitted in
{fit_seconds:.0f} s) published with the standard scenarios (26 weeks, levels 0.5 and 0.9), medians of
{args.runs} runs. Rows per table: {", ".join(f"{t} {n:,}" for t, n in tables.items())}. Every run
publishes the same panel under a new version number, so no earlier vintage is scored for accuracy
(that needs a newer panel; it adds one forecast per vintage and app).

{chr(10).join(lines)}

"Wall" is the whole `publish` (forecasting every scenario, each app's attribution, writing);
"in the database" is the time spent in DuckDB's insert from a registered DataFrame or
PostgreSQL's COPY, the deletes and the commit. PostgreSQL runs with `fsync=off` (a throwaway
test server); a production server with fsync pays for its commit once per publish.
"""
    write_section("warehouse", body)
    print(body)


if __name__ == "__main__":
    main()
