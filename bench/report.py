"""Shared by the bench scripts: machine facts and writing a generated section of RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"


def machine() -> str:
    """One line: cores, CPU, Python and key package versions, date (UTC)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = ", ".join(f"{p} {version(p)}" for p in ("numpy", "pandas", "statsmodels"))
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {packages}; "
            f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between `<!-- name:start -->` and `<!-- name:end -->`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nEvery figure below is written by a script in `bench/`; none is typed in by hand.\n"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


OUT = Path(__file__).parent / "out"      # the benches' raw rows (CSV), next to RESULTS.md


def world_sweep(score, description: str, seeds: str, csv_name: str):
    """A sweep over held-out worlds: reads --designs, --seeds (default `seeds`) and --jobs, runs
    `score(seed, WorldSpec(design=...))` on every (design, seed) world, `--jobs` at a time (joblib
    processes), and writes the rows to bench/out/`csv_name`. Returns the arguments, the rows, the
    number of worlds and the seconds taken."""
    import argparse
    import time

    import pandas as pd
    from joblib import Parallel, delayed

    from data.simulator import DESIGNS, WorldSpec
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--seeds", default=seeds)
    parser.add_argument("--jobs", type=int, default=2, help="worlds fitted at once (joblib processes)")
    args = parser.parse_args()
    worlds = [(design, int(seed)) for design in args.designs.split(",") for seed in args.seeds.split(",")]
    start = time.perf_counter()
    frames = Parallel(n_jobs=args.jobs, verbose=10)(delayed(score)(seed, WorldSpec(design=design))
                                                     for design, seed in worlds)
    seconds = time.perf_counter() - start
    print(f"{len(worlds)} worlds in {seconds:.0f} s", flush=True)
    rows = pd.concat(frames, ignore_index=True)
    OUT.mkdir(exist_ok=True)
    rows.to_csv(OUT / csv_name, index=False)
    return args, rows, len(worlds), seconds
