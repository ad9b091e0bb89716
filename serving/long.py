"""Long questions apart from short ones: optimisations run in a process of their own.

An optimisation takes seconds of CPU (up to its 15 s time limit). In the service's worker it
would hold the Python interpreter for as long, and every planner's `/model`, `/attribution` and
forecast would wait behind it. Here each runs in a child process that loaded the same model file
once, so its answer is the one the worker would give, bit for bit, and the worker stays free; the
child runs at a lower CPU priority, so where the cores are short the short answers come first.

At most `size` run at once per worker (IMPACT_LONG_QUESTIONS, default 1: a second one on two cores
would only slow both). When all are busy a new one is refused at once with `Busy`, which carries
when the running ones' time limits run out (the service answers 429 with Retry-After): waiting
behind another would overrun the request timeout. A process that dies mid-answer (killed, out of
memory) is replaced, and its question answered with `Stopped` (the service's 503).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import orjson

NICENESS = 10        # added to the child's nice value: its CPU yields to the worker's
_model = None


class Unavailable(RuntimeError):
    """A long question that cannot be answered now: its HTTP `status`, and `retry_after` seconds."""

    status = 503

    def __init__(self, reason: str, retry_after: int):
        super().__init__(f"{reason}; retry in {retry_after} s")
        self.retry_after = retry_after


class Busy(Unavailable):
    """Every long-question process is busy; `retry_after`: when the first should be free."""

    status = 429

    def __init__(self, retry_after: int):
        super().__init__("the service is answering as many optimisations as it runs at once", retry_after)


class Stopped(Unavailable):
    """The long-question process died mid-answer (killed, out of memory); a new one is starting."""

    def __init__(self):
        super().__init__("the optimisation process stopped before it answered; a new one is starting", 5)


def _load(path: str) -> None:
    """The child's start: a lower CPU priority (NICENESS), so that on a busy machine the worker's
    short answers come first, then the model."""
    global _model
    os.nice(NICENESS)
    from training.model.persist import load_model
    _model = load_model(path)


def _optimise(version: str, body: dict) -> bytes:
    """The /optimise answer as JSON bytes, computed in the child (RequestError travels back as is)."""
    from training import answers
    from training.requests import OptimiseRequest
    return orjson.dumps(answers.optimise(_model, version, OptimiseRequest.model_validate(body)),
                        option=orjson.OPT_NON_STR_KEYS)


def _design_test(version: str, body: dict) -> bytes:
    """The /design_test answer as JSON bytes, computed in the child (its decision is an optimisation)."""
    from training import answers
    from training.requests import DesignTestRequest
    return orjson.dumps(answers.design_test(_model, version, DesignTestRequest.model_validate(body)),
                        option=orjson.OPT_NON_STR_KEYS)


def _ready() -> bool:
    return _model is not None


class LongQuestions:
    """A pool of `size` processes with the model at `path` loaded, started now."""

    def __init__(self, path: str, size: int = 1):
        self.path, self.size = path, size
        self.running: dict[int, float] = {}        # id -> when its time limit runs out
        self._start()

    def _start(self) -> None:
        self._executor = ProcessPoolExecutor(max_workers=self.size, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_load, initargs=(self.path,))
        for _ in range(self.size):          # the processes start, and load the model, before the first question
            self._executor.submit(_ready)

    async def optimise(self, version: str, body: dict, time_limit: float) -> bytes:
        """The answer to an /optimise body (validated, as `model_dump(exclude_unset=True)`), or Busy
        at once when every process is."""
        return await self._ask(_optimise, version, body, time_limit)

    async def design_test(self, version: str, body: dict, time_limit: float) -> bytes:
        """The answer to a /design_test body whose decision is an /optimise body (as `optimise`)."""
        return await self._ask(_design_test, version, body, time_limit)

    async def _ask(self, question, version: str, body: dict, time_limit: float) -> bytes:
        if len(self.running) >= self.size:
            now = time.monotonic()
            raise Busy(max(1, math.ceil(min(self.running.values()) - now)))
        key = id(body)
        self.running[key] = time.monotonic() + time_limit + 2     # the solves share the limit; valuing adds a little
        try:
            return await asyncio.wrap_future(self._executor.submit(question, version, body))
        except BrokenProcessPool:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._start()
            raise Stopped() from None
        finally:
            del self.running[key]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
