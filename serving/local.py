"""Starting and stopping real server processes on loopback ports (tests and bench scripts)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request


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
    from pathlib import Path
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
