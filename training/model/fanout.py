"""Fan-out of a fit's independent work (one task per app) on joblib.

`fan_out(function, calls, n_jobs)` runs `function(*args)` for each `args` in `calls` and returns
the answers in order. With n_jobs None or 1 (or one call) it runs them here; otherwise on the
active joblib backend: loky's local worker processes by default, or a Dask cluster inside
`cluster(address)`. BLAS runs one thread in a task (threadpoolctl), so workers never
oversubscribe the cores. Each task depends only on its arguments (its random numbers come from
the model's seed and its app), and BLAS runs one thread here too (a multi-threaded BLAS adds up
a large product in another order), so the answers are the same, bit for bit, wherever they run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager

CLUSTER_VARIABLE = "DASK_SCHEDULER_ADDRESS"
CONNECT_SECONDS = 10


class ClusterError(RuntimeError):
    """The Dask scheduler could not be reached; the message says where and why."""


_warming: threading.Thread | None = None


def fan_out(function: Callable, calls: list[tuple], n_jobs: int | None) -> list:
    if n_jobs in (None, 1) or len(calls) <= 1:      # here, with BLAS as in a worker: the same sums, bit for bit
        return [_one_blas_thread(function, args) for args in calls]
    from joblib import Parallel, delayed
    if _warming is not None:
        _warming.join()
    return Parallel(n_jobs=n_jobs)(delayed(_one_blas_thread)(function, args) for args in calls)


def warm_up(n_jobs: int | None, modules: tuple[str, ...] = ()) -> None:
    """Start the local worker processes now, in the background, with the model's modules imported
    (a second and a half on a cold start) and `modules` too (what later tasks need), so that a
    command's first fan-out finds them ready; `fan_out` waits for it. Nothing to do for n_jobs
    None or 1, or on a Dask cluster."""
    global _warming
    if n_jobs in (None, 1) or os.environ.get(CLUSTER_VARIABLE) or _warming is not None:
        return

    def start() -> None:
        from joblib import Parallel, delayed
        try:
            Parallel(n_jobs=n_jobs)(delayed(_import_model)(modules) for _ in range(os.cpu_count() or 1))
        except Exception:       # the first real fan-out starts the workers again and reports what fails
            pass

    _warming = threading.Thread(target=start, name="impact-warm-up", daemon=True)
    _warming.start()


def in_background(address: str | None, function: Callable, *args, **kwargs) -> Future:
    """Start `function(*args, **kwargs)` in a daemon thread and return its Future; its fan-outs use
    the Dask cluster at `address` (as inside `cluster(address)`, whose joblib backend is per
    thread) or local processes. A command exiting early does not wait for it."""
    future: Future = Future()

    def run() -> None:
        try:
            if address is None:
                result = function(*args, **kwargs)
            else:
                from joblib import parallel_config
                with parallel_config(backend="dask"):
                    result = function(*args, **kwargs)
        except BaseException as exc:       # handed to whoever asks for the result
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=run, name="impact-background", daemon=True).start()
    return future


def abandon(future: Future | None) -> None:
    """Give up on a fit still running in the background (its command failed before it needed it):
    the local worker processes are killed, so the command exits now instead of waiting for their
    tasks. A finished future, or work on a Dask cluster, is left alone."""
    if future is None or future.done():
        return
    from joblib.externals.loky import reusable_executor
    executor = reusable_executor._executor       # the local workers, if any were started (no public accessor)
    if executor is not None:
        executor.shutdown(wait=False, kill_workers=True)


def _import_model(modules: tuple[str, ...]) -> None:
    import importlib

    import training.model.estimator  # noqa: F401
    for name in modules:
        importlib.import_module(name)


def _one_blas_thread(function: Callable, args: tuple):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):
        return function(*args)


@contextmanager
def cluster(address: str | None = None) -> Iterator[str | None]:
    """Run the fan-outs inside on the Dask scheduler at `address` (else DASK_SCHEDULER_ADDRESS);
    without either, leave joblib's default backend (local processes). Yields the address used."""
    address = address or os.environ.get(CLUSTER_VARIABLE) or None
    if address is None:
        yield None
        return
    from distributed import Client
    from joblib import parallel_config
    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=True)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"the Dask scheduler at {address} is unreachable: {exc}") from None
    try:
        with parallel_config(backend="dask"):
            yield address
    finally:
        client.close()
