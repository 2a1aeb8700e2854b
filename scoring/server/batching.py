"""Same-shaped text-to-image requests that meet in the GPU queue, run as one pipeline call.

Off by default (``GENAI_BATCH_WINDOW_MS=0``), because it gives up the project's promise
that the same request and seed give the same bytes: a batch changes the shape of every
matrix product in the denoiser, hence the order in which floats are summed, so an output
made in a batch differs in its last bits from the same request made alone (on the tiny CPU
model by at most a few levels of 255 per pixel, see tests/scoring/server/test_batching.py; on a GPU
the kernels themselves are chosen per shape). Each output still starts from the noise of
its own seeded CPU generator, so it is the same picture, not a different one.

With a window set, the worker (``GpuWorker``) lets the request at the head of its line wait
at most that long after it arrived for requests with the same :class:`BatchKey`; under load
the line fills while the GPU is busy and no wait is added. A request alone always takes the
unbatched path (same bytes as with batching off); so do multi-request envelopes
(``instances``), image tasks and video.
"""

from __future__ import annotations

import inspect
import secrets
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from scoring.engine import Generated, _to_pil
from scoring.errors import GenerationTimeout
from scoring.schema import MAX_SEED, Task
from scoring.service import Parsed, Result, Scorer


@dataclass(frozen=True)
class BatchKey:
    """What must be equal for requests to share one pipeline call."""

    task: Task
    width: int | None
    height: int | None
    steps: int
    guidance_scale: float
    no_negative: bool  # SDXL encodes "no negative prompt" (zeros) unlike "" : never mixed
    loras: tuple  # the adapter state is one per pipeline call
    scheduler: str  # so is the scheduler


class Batcher:
    """Decides which parsed requests may share a call, and makes that call."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.engine = scorer.engine
        settings = scorer.settings
        self.window_s = settings.batch_window_ms / 1000
        self.max_outputs = settings.max_batch

    def key(self, parsed: Parsed) -> Hashable | None:
        """The request's batch key, or None: it always runs alone."""
        if len(parsed.jobs) != 1:
            return None
        req = parsed.jobs[0].req
        if req.task is not Task.TEXT_TO_IMAGE or req.num_outputs > self.max_outputs:
            return None
        return BatchKey(
            req.task,
            req.width,
            req.height,
            req.num_inference_steps,
            req.guidance_scale,
            req.negative_prompt is None,
            tuple(req.loras),
            req.scheduler or self.engine.default_scheduler,
        )

    def outputs(self, parsed: Parsed) -> int:
        return sum(job.req.num_outputs for job in parsed.jobs)

    def run(self, batch: Sequence[Parsed], queued: Sequence[float]) -> list[list[Result]]:
        """One pipeline call for every output of ``batch`` (requests with one key): output
        i of a request uses seed ``seed + i`` on its own CPU generator, as alone."""
        import torch

        engine = self.engine
        reqs = [parsed.jobs[0].req for parsed in batch]
        first = reqs[0]
        pipe = engine.pipeline_for(first.task)
        seeds: list[list[int]] = []
        for req in reqs:
            base = req.seed if req.seed is not None else secrets.randbelow(MAX_SEED + 1)
            seeds.append([(base + i) % (MAX_SEED + 1) for i in range(req.num_outputs)])
        flat = [s for per in seeds for s in per]
        per_output = [req for req, per in zip(reqs, seeds, strict=True) for _ in per]
        prompts = [req.prompt for req in per_output]
        negatives = None
        if first.negative_prompt is not None:
            negatives = [req.negative_prompt for req in per_output]

        deadline = time.monotonic() + self.scorer.settings.request_timeout_s
        total = first.num_inference_steps
        done = [0]

        def on_step(step: int) -> None:
            done[0] = step + 1
            if time.monotonic() > deadline:
                raise GenerationTimeout(
                    f"generation stopped after {step + 1} of {total} steps: past the "
                    f"{self.scorer.settings.request_timeout_s:g} s limit (a batch of "
                    f"{len(flat)} outputs); ask for fewer steps or pixels"
                )

        call: dict[str, Any] = dict(batch[0].jobs[0].kwargs)
        call.update(
            prompt=prompts,
            negative_prompt=negatives,
            num_images_per_prompt=1,
            generator=[torch.Generator("cpu").manual_seed(s) for s in flat],
            output_type="np",
        )
        if negatives is None:
            call.pop("negative_prompt")
        params = inspect.signature(pipe.__call__).parameters
        if "callback_on_step_end" in params:
            call["callback_on_step_end"] = lambda _p, i, _t, kw: (on_step(i), kw)[1]
        # the same per-call state as an unbatched run: the requests' (shared) adapters and a
        # scheduler of the call's own
        engine.select_adapters(first)
        engine.fresh_scheduler(first, pipe)
        start = time.monotonic()
        with torch.inference_mode():
            images = pipe(**call).images
        inference_s = time.monotonic() - start

        results: list[list[Result]] = []
        at = 0
        for parsed, req, per, queued_s in zip(batch, reqs, seeds, queued, strict=True):
            outputs = [[_to_pil(img)] for img in images[at : at + len(per)]]
            at += len(per)
            outputs, nsfw = engine.screen(outputs)
            width, height = outputs[0][0].size
            generated = Generated(
                outputs,
                per,
                width,
                height,
                inference_s,
                steps_run=done[0],
                extra={**engine.customised(req, nsfw), "batch_outputs": len(flat)},
                nsfw=nsfw,
            )
            results.append(parsed.results([generated], queued_s))
        return results
