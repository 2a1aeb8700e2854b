"""One generation at a time, a bounded wait queue, 429/503 with Retry-After, timeouts:
the gate of in-process callers, and the same promises through the server's path."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from scoring.errors import Busy
from scoring.gate import GenerationGate
from tests.scoring.helpers import Served


def test_full_queue_is_429_with_retry_after():
    gate = GenerationGate(max_queue=1, queue_timeout_s=5)
    release = threading.Event()
    entered = threading.Event()

    def holder():
        with gate.slot():
            entered.set()
            release.wait(5)

    def waiter():
        with gate.slot() as queued:
            return queued

    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(holder)
        assert entered.wait(5)
        second = pool.submit(waiter)
        _wait_until(lambda: gate.waiting == 1)
        with pytest.raises(Busy) as exc, gate.slot():
            pass
        assert exc.value.status == 429
        assert int(exc.value.headers()["Retry-After"]) >= 1
        release.set()
        first.result(5)
        assert second.result(5) > 0  # it waited, then ran


def test_wait_past_queue_timeout_is_503():
    gate = GenerationGate(max_queue=4, queue_timeout_s=0.2)
    release = threading.Event()
    entered = threading.Event()

    def holder():
        with gate.slot():
            entered.set()
            release.wait(5)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(holder)
        assert entered.wait(5)
        with pytest.raises(Busy) as exc, gate.slot():
            pass
        assert exc.value.status == 503 and "Retry-After" in exc.value.headers()
        release.set()
    assert gate.waiting == 0


def test_never_two_generations_at_once():
    gate = GenerationGate(max_queue=16, queue_timeout_s=10)
    running, peak, lock = [0], [0], threading.Lock()

    def job(_):
        with gate.slot():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.01)
            with lock:
                running[0] -= 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(job, range(16)))
    assert peak[0] == 1


def test_concurrent_callers_on_the_real_engine(image_engine, monkeypatch):
    """Through the server's request path: the one running and those queued succeed, the
    rest get 429."""
    import anyio

    from scoring.service import Scorer

    scorer = Scorer(image_engine)
    scorer.settings = scorer.settings.model_copy(update={"max_queue": 2})
    real = image_engine.generate
    gate_open = threading.Event()

    def slow(*args, **kwargs):
        gate_open.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(image_engine, "generate", slow)
    body = json.dumps({"prompt": "x", "num_inference_steps": 1, "seed": 1}).encode()
    served = Served(scorer)

    async def six_at_once() -> list:
        answers: list = [None] * 6

        async def call(i: int) -> None:
            answers[i] = await served.post_async(body)

        async with anyio.create_task_group() as group:
            for i in range(6):
                group.start_soon(call, i)
            with anyio.fail_after(10):
                while sum(a is not None for a in answers) < 3:  # 1 running + 2 queued
                    await anyio.sleep(0.01)
            gate_open.set()
        return answers

    answers = anyio.run(six_at_once)
    served.close()
    statuses = sorted(a.status for a in answers)
    assert statuses == [200, 200, 200, 429, 429, 429]
    assert all("Retry-After" in a.headers for a in answers if a.status == 429)
    outputs = {a.json()["outputs"][0]["data"] for a in answers if a.status == 200}
    assert len(outputs) == 1  # same request, same seed, same bytes even under contention


def test_generation_past_the_request_timeout_is_504(tiny_image_model):
    from scoring.engine import Engine
    from scoring.service import Scorer
    from scoring.settings import EngineSettings

    scorer = Scorer(Engine(EngineSettings(model_dir=tiny_image_model, request_timeout_s=0.001)))
    served = Served(scorer)
    ans = served.post(b'{"prompt": "x", "num_inference_steps": 50}')
    assert ans.status == 504 and "steps" in ans.json()["error"]["message"]
    assert served.idle
    served.close()


def _wait_until(pred, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.01)
