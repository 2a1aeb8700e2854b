"""Batching (GENAI_BATCH_WINDOW_MS): off by default; when on, same-shaped text-to-image
requests meeting in the GPU line share one pipeline call, each output from its own seed.

Batching is off by default because the bytes are not those of the same request alone: a
batch changes the denoiser's matrix shapes, so the float sums' order. Measured here on the
tiny CPU model: at most 1 level of 255 on a few pixels. ``test_batched_outputs_...`` holds
that tolerance and says whether the bytes happened to match.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import numpy as np
import pytest

from scoring.errors import Busy
from scoring.server.worker import GpuWorker

# --------------------------------------------------------------- the worker, no model


def run(coro):
    """Run ``coro`` on a loop of its own, leaving the thread's event loop as it was
    (``asyncio.run`` would unset it, and later tests, Pulumi's mocks, need one)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


@dataclass(frozen=True)
class Job:
    name: str
    key: str | None = "a"
    outputs: int = 1


class FakeBatcher:
    def __init__(self, window_s=0.2, max_outputs=4, fail=False):
        self.window_s = window_s
        self.max_outputs = max_outputs
        self.batches: list[list[str]] = []
        self.fail = fail

    def key(self, job):
        return job.key

    def outputs(self, job):
        return job.outputs

    def run(self, jobs, queued):
        self.batches.append([j.name for j in jobs])
        time.sleep(0.05)
        if self.fail:
            raise RuntimeError("GPU fault")
        return [f"{j.name}@batch" for j in jobs]


def worker(batcher, **kw):
    ran = []

    def run(job, queued_s):
        ran.append(job.name)
        time.sleep(0.05)
        return f"{job.name}@alone"

    w = GpuWorker(run, max_queue=kw.pop("max_queue", 8), queue_timeout_s=5, batcher=batcher)
    return w, ran


def test_requests_in_the_window_share_a_call_others_do_not():
    async def main():
        b = FakeBatcher(window_s=0.2)
        w, ran = worker(b)
        first = asyncio.create_task(w.submit(Job("1")))
        await asyncio.sleep(0.05)
        others = [
            asyncio.create_task(w.submit(job))
            for job in (Job("2"), Job("x", key="b"), Job("3"), Job("solo", key=None))
        ]
        results = await asyncio.gather(first, *others)
        return b, ran, results

    b, ran, results = run(main())
    assert b.batches[0] == ["1", "2", "3"]  # the head, then compatible waiters in line order
    assert results == ["1@batch", "2@batch", "x@alone", "3@batch", "solo@alone"]
    assert ran == ["x", "solo"]  # different key, or unbatchable: alone, in order


def test_a_lone_request_waits_at_most_the_window_and_runs_unbatched():
    async def main():
        b = FakeBatcher(window_s=0.15)
        w, ran = worker(b)
        start = time.monotonic()
        result = await w.submit(Job("1"))
        return b, ran, result, time.monotonic() - start

    b, ran, result, took = run(main())
    assert result == "1@alone" and ran == ["1"] and not b.batches  # the unbatched path
    assert 0.15 <= took < 0.15 + 0.05 + 0.3


def test_a_full_batch_starts_without_waiting_out_the_window():
    async def main():
        b = FakeBatcher(window_s=5, max_outputs=3)
        w, _ = worker(b)
        start = time.monotonic()
        results = await asyncio.gather(w.submit(Job("1", outputs=2)), w.submit(Job("2")))
        return b, results, time.monotonic() - start

    b, results, took = run(main())
    assert b.batches == [["1", "2"]] and results == ["1@batch", "2@batch"]
    assert took < 1


def test_the_output_cap_leaves_the_rest_for_the_next_call():
    async def main():
        b = FakeBatcher(window_s=0.05, max_outputs=2)
        w, _ = worker(b)
        jobs = [w.submit(Job(str(i))) for i in range(5)]
        return b, await asyncio.gather(*jobs)

    b, results = run(main())
    assert b.batches == [["0", "1"], ["2", "3"]]
    assert results[-1] == "4@alone"


def test_a_failure_reaches_every_request_of_the_batch():
    async def main():
        w, _ = worker(FakeBatcher(window_s=0.1, fail=True))
        return await asyncio.gather(w.submit(Job("1")), w.submit(Job("2")), return_exceptions=True)

    results = run(main())
    assert all(isinstance(r, RuntimeError) for r in results)


def test_queue_limits_are_unchanged_with_batching():
    async def main():
        w, _ = worker(FakeBatcher(window_s=0.3), max_queue=2)
        tasks = [asyncio.create_task(w.submit(Job(str(i)))) for i in range(2)]
        await asyncio.sleep(0.01)  # both wait in line (the head's window is open)
        with pytest.raises(Busy) as full:
            await w.submit(Job("3"))
        await asyncio.gather(*tasks)
        return full.value

    err = run(main())
    assert err.status == 429 and err.retry_after_s >= 1


# --------------------------------------------------------------- with the tiny model


@pytest.fixture(scope="module")
def batching_scorer(tiny_image_model):
    from scoring.engine import Engine
    from scoring.service import Scorer
    from scoring.settings import EngineSettings

    return Scorer(Engine(EngineSettings(model_dir=tiny_image_model, batch_window_ms=300)))


def test_batching_is_off_by_default():
    from scoring.settings import EngineSettings

    assert EngineSettings().batch_window_ms == 0


def test_only_single_text_to_image_requests_of_one_shape_batch(batching_scorer):
    from scoring.server.batching import Batcher
    from tests.helpers import png_b64

    b = Batcher(batching_scorer)
    key = b.key(batching_scorer.parse_payload({"prompt": "a", "num_inference_steps": 3}))
    assert key is not None
    same = batching_scorer.parse_payload({"prompt": "other words", "num_inference_steps": 3})
    assert b.key(same) == key  # the prompt may differ
    for other in (
        {"prompt": "a", "num_inference_steps": 4},
        {"prompt": "a", "num_inference_steps": 3, "width": 128},
        {"prompt": "a", "num_inference_steps": 3, "guidance_scale": 3},
        {"prompt": "a", "num_inference_steps": 3, "negative_prompt": "blur"},
    ):
        assert b.key(batching_scorer.parse_payload(other)) not in (None, key), other
    for alone in (
        {"prompt": "a", "image": png_b64()},
        {"prompt": "a", "num_outputs": 5},
        {"instances": [{"prompt": "a"}, {"prompt": "b"}]},
    ):
        try:
            parsed = batching_scorer.parse_payload(alone)
        except Exception:  # over a limit: refused before it could batch
            continue
        assert b.key(parsed) is None, alone


def test_batched_outputs_match_alone_within_tolerance(batching_scorer):
    from scoring.server.batching import Batcher

    b = Batcher(batching_scorer)
    payloads = [
        {"prompt": "a fox", "num_inference_steps": 3, "seed": 5},
        {"prompt": "a lighthouse at dusk", "num_inference_steps": 3, "seed": 9, "num_outputs": 2},
    ]
    parsed = [batching_scorer.parse_payload(p) for p in payloads]
    batched = b.run(parsed, [0.0, 0.0])
    same_bytes = True
    for p, results in zip(parsed, batched, strict=True):
        together = results[0].generated
        assert together.extra["batch_outputs"] == 3
        for i, seed in enumerate(together.seeds):
            # output i alone: one output with seed + i
            prompt = p.jobs[0].req.prompt
            alone = batching_scorer.parse_payload(
                {"prompt": prompt, "num_inference_steps": 3, "seed": seed}
            )
            ref = batching_scorer.run(alone)[0].generated.outputs[0][0]
            a = np.asarray(together.outputs[i][0], dtype=np.int16)
            r = np.asarray(ref, dtype=np.int16)
            diff = np.abs(a - r)
            assert diff.max() <= 2 and diff.mean() < 0.01, (seed, diff.max(), diff.mean())
            same_bytes &= bool((diff == 0).all())
    print(f"batched bytes equal to unbatched: {same_bytes}")


def test_the_server_batches_concurrent_requests(batching_scorer, monkeypatch):
    """Over the ASGI app: three concurrent requests, two of one shape (one call), one of
    another (alone); every answer has its own seed and the shape it asked for."""
    import httpx

    from scoring.server import batching
    from scoring.server.app import ModelState, build_app
    from scoring.server.contracts import detect
    from scoring.server.settings import ServerSettings

    calls = []
    real = batching.Batcher.run

    def spy(self, jobs, queued):
        calls.append(len(jobs))
        return real(self, jobs, queued)

    monkeypatch.setattr(batching.Batcher, "run", spy)
    contract = detect([], {"GENAI_CONTRACT": "azureml", "AZUREML_MODEL_DIR": "/x"})
    state = ModelState()
    state.scorer = batching_scorer
    app = build_app(contract, ServerSettings(), state)

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

            def post(**body):
                return client.post(contract.predict_route, json=body, timeout=120)

            return await asyncio.gather(
                post(prompt="one", num_inference_steps=2, seed=1),
                post(prompt="two", num_inference_steps=2, seed=2),
                post(prompt="three", num_inference_steps=2, seed=3, width=96),
            )

    replies = run(main())
    assert [r.status_code for r in replies] == [200, 200, 200], [r.text for r in replies]
    assert [r.json()["metadata"]["seeds"] for r in replies] == [[1], [2], [3]]
    assert replies[2].json()["metadata"]["width"] == 96
    assert calls == [2]


def test_a_batched_dialect_request_is_answered_in_its_own_shape(batching_scorer):
    from scoring.server.batching import Batcher
    from scoring.service import Accept

    # OpenAI's quality "low" is 15 steps and its 1024x1024 the model's native square
    ours = batching_scorer.parse_payload({"prompt": "a fox", "num_inference_steps": 15})
    openai = batching_scorer.parse(
        json.dumps({"prompt": "a fox", "n": 1, "quality": "low", "size": "1024x1024"}).encode(),
        "application/json; dialect=openai",
    )
    assert Batcher(batching_scorer).key(openai) == Batcher(batching_scorer).key(ours)
    batched = Batcher(batching_scorer).run([ours, openai], [0.0, 0.0])
    answer = batching_scorer.render(batched[1], Accept(None)).json()
    assert {"created", "data"} <= set(answer) and answer["data"][0]["b64_json"]
    assert "outputs" in batching_scorer.render(batched[0], Accept(None)).json()
