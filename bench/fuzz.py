"""Issue 7: a long schemathesis run against the real service (CI runs a short one).

    python bench/fuzz.py [--max-examples 500]

Fits the default world into a throwaway BentoML store, serves it, and lets schemathesis
generate requests from the service's own OpenAPI schema: every response must have a documented
status and none may be a server error; the service must still be ready at the end. Rewrites
the "fuzz" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import served_default_world  # noqa: E402
from bench.report import machine, write_section  # noqa: E402
from testkit.local import wait_ready  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=500)
    args = parser.parse_args()
    with served_default_world() as (url, process, tmp):
        run = subprocess.run([str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/docs.json",
                              "--mode", "all", "--checks", "not_a_server_error,status_code_conformance,negative_data_rejection",
                              "--max-examples", str(args.max_examples), "--no-color"],
                             capture_output=True, text=True, timeout=3600, cwd=tmp)
        ready = wait_ready(url, process, seconds=10)
    summary = run.stdout.split("Test cases:")[-1].strip().splitlines()[0] if "Test cases:" in run.stdout else run.stdout[-500:]
    body = f"""## Fuzzing (issue 7)

`python bench/fuzz.py --max-examples {args.max_examples}` on {machine()}: schemathesis driven by `/docs.json`
(checks: not_a_server_error, status_code_conformance, negative_data_rejection: a body the schema refuses,
such as one with an unknown field, must not get a 200), valid and invalid data, every operation, all phases.

Result: exit code {run.returncode}; {summary}; service ready afterwards: {ready}.
"""
    write_section("fuzz", body)
    print(run.stdout[-1500:])
    print(body)


if __name__ == "__main__":
    main()
