"""Starting and stopping real server processes on loopback ports (tests and bench scripts): the
service, and a throwaway PostgreSQL server for the warehouse."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, path: str = "/readyz", seconds: float = 120) -> bool:
    """Poll `url + path` until it answers 200; False if the process dies or time runs out."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + path, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        if process.poll() is not None:
            return False
        time.sleep(0.5)
    return False


def stop(process: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True, and every child it spawned."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass


def start_service(env: dict, target: str = "serving.service:EngagementImpact", cwd=None,
                  log=subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """`bentoml serve target` on a free loopback port; returns once /healthz answers."""
    import sys
    port = free_port()
    process = subprocess.Popen([str(Path(sys.executable).parent / "bentoml"), "serve", target, "--host", "127.0.0.1",
                                "--port", str(port)], env=env, cwd=cwd or Path(__file__).parents[1],
                               stdout=log, stderr=subprocess.STDOUT if log is not subprocess.DEVNULL else log,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    if not wait_ready(url, process, path="/healthz"):
        stop(process)
        raise RuntimeError(f"bentoml serve {target} did not start")
    return process, url


POSTGRES_USER = "impact"


def postgres_bindir() -> Path:
    """Where Debian's postgresql package keeps initdb and pg_ctl (the newest version installed)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed: `make services` installs Debian's postgresql")
    return found[-1].parent


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on a free loopback port, its data in a temporary folder;
    yields its SQLAlchemy URL and removes everything after. PostgreSQL refuses to run as root,
    so under root it runs as the `postgres` user the package creates."""
    import shutil
    import tempfile
    bindir = postgres_bindir()
    root = Path(tempfile.mkdtemp(prefix="impact-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", POSTGRES_USER,
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, timeout=120)
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "start", "-o",
                        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"],
                       check=True, capture_output=True, timeout=120)
        yield f"postgresql+psycopg://{POSTGRES_USER}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def chromium_path() -> str:
    """Debian's chromium (installed by `make services`), or IMPACT_CHROMIUM."""
    import shutil
    found = os.environ.get("IMPACT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("chromium is not installed: `make services` installs Debian's chromium")
    return found


@contextmanager
def headless_chromium():
    """A headless Chromium driven by playwright (the test extras), closed afterwards."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
