"""Issue 7: a long schemathesis run against the real service (CI runs a short one).

    python bench/fuzz.py [--max-examples 500]

Fits the default world into a throwaway BentoML store, serves it, and lets schemathesis
generate requests from the service's own OpenAPI schema: every response must have a documented
status and none may be a server error; the service must still be ready at the end. Rewrites
the "fuzz" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import prepare_store  # noqa: E402
from bench.report import machine, write_section  # noqa: E402
from serving.local import start_service, stop, wait_ready  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "bentoml"
        prepare_store(home)
        env = {**os.environ, "BENTOML_HOME": str(home)}
        env.pop("IMPACT_API_TOKEN", None)
        process, url = start_service(env)
        try:
            run = subprocess.run([str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/docs.json",
                                  "--checks", "not_a_server_error,status_code_conformance",
                                  "--max-examples", str(args.max_examples), "--no-color"],
                                 capture_output=True, text=True, timeout=3600, cwd=tmp)
            ready = wait_ready(url, process, seconds=10)
        finally:
            stop(process)
    summary = run.stdout.split("Test cases:")[-1].strip().splitlines()[0] if "Test cases:" in run.stdout else run.stdout[-500:]
    body = f"""## Fuzzing (issue 7)

`python bench/fuzz.py --max-examples {args.max_examples}` on {machine()}: schemathesis driven by `/docs.json`
(checks: not_a_server_error, status_code_conformance), every operation, all phases.

Result: exit code {run.returncode}; {summary}; service ready afterwards: {ready}.
"""
    write_section("fuzz", body)
    print(run.stdout[-1500:])
    print(body)


if __name__ == "__main__":
    main()
