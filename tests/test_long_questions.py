"""Optimisations in a process of their own (serving/long.py), against a saved model."""

from __future__ import annotations

import asyncio
import os
import signal

import orjson
import pytest

from tests.helpers import as_served, without

from serving.long import Busy, LongQuestions, Stopped
from training import answers
from training.requests import OptimiseRequest

BODY = {"app": "instagram", "horizon_weeks": 13}
LONG = {"app": "instagram", "horizon_weeks": 104, "risk": 0.05, "optimality_gap": 0.0,     # about 5 s
        "constraints": {"target_shares": [0.25, 0.5, 0.75, 1.0], "max_step": 0.05, "max_launches_per_week": 1}}


@pytest.fixture(scope="module")
def saved_model(small_model, tmp_path_factory):
    from training.model.persist import save_model
    return save_model(small_model["model"], tmp_path_factory.mktemp("long") / "model")


def test_a_process_that_dies_mid_answer_gets_a_503_and_is_replaced_and_a_full_pool_says_when_to_retry(
        saved_model, small_model):
    long = LongQuestions(str(saved_model))
    try:
        async def scenario():
            first = asyncio.ensure_future(long.optimise("7", BODY, 10.0))
            await asyncio.sleep(0.05)
            with pytest.raises(Busy) as busy:                     # one at a time: the second is refused at once
                await long.optimise("7", BODY, 10.0)
            assert 1 <= busy.value.retry_after <= 12
            await first
            for pid in list(long._executor._processes):          # the child dies mid-answer
                dying = asyncio.ensure_future(long.optimise("7", LONG, 10.0))
                await asyncio.sleep(0.5)
                os.kill(pid, signal.SIGKILL)
                with pytest.raises(Stopped):
                    await dying
            return await long.optimise("7", BODY, 10.0)             # a new process answers
        answer = orjson.loads(asyncio.run(scenario()))
    finally:
        long.close()
    expected = as_served(answers.optimise(small_model["model"], "7", OptimiseRequest(**BODY)))
    assert without(answer, {"seconds", "total_seconds"}) == without(expected, {"seconds", "total_seconds"})
