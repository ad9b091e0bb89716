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


def add_world_options(parser, seeds: str) -> None:
    """--designs, --seeds and --jobs: the held-out worlds a sweep runs over."""
    from data.simulator import DESIGNS
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--seeds", default=seeds)
    parser.add_argument("--jobs", type=int, default=2, help="worlds fitted at once (joblib processes)")


def over_worlds(score, args):
    """`score(seed, WorldSpec(design=...))` on every (design, seed) world of `args`, `args.jobs` at a
    time (joblib processes): the frames concatenated, the number of worlds and the seconds taken."""
    import time

    import pandas as pd
    from joblib import Parallel, delayed

    from data.simulator import WorldSpec
    worlds = [(design, int(seed)) for design in args.designs.split(",") for seed in args.seeds.split(",")]
    start = time.perf_counter()
    frames = Parallel(n_jobs=args.jobs, verbose=10)(delayed(score)(seed, WorldSpec(design=design))
                                                     for design, seed in worlds)
    seconds = time.perf_counter() - start
    print(f"{len(worlds)} worlds in {seconds:.0f} s", flush=True)
    return pd.concat(frames, ignore_index=True), len(worlds), seconds
