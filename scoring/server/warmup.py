"""The warm-up: generations at the served shapes before readiness turns green, so the
first request after a scale-out pays no lazy initialisation (CUDA context, cuDNN/cuBLAS
handles, allocator growth, compilation). The server's loader runs it
(``scoring.server.main.load_scorer``); ``GENAI_WARMUP*`` settings, docs/performance.md."""

from __future__ import annotations

import base64
import io
import logging
import time
from typing import Any

from scoring.errors import ModelNotReady
from scoring.schema import Task
from scoring.service import Result, Scorer
from scoring.speed import SpeedReport, save_compile_cache

log = logging.getLogger(__name__)

WARMUP_PROMPT = "warm-up"


def warm_up(scorer: Scorer) -> float:
    """Run the request path at each served shape before readiness: text-to-image (or
    video) at each warm-up size, image-to-image once, and the output encoder. No deadline:
    a cold compile may take minutes. A failure fails the load (never a half-ready
    replica). Then the compile cache this replica made is written, for shipping. Returns
    the seconds spent."""
    engine = scorer.engine
    settings = engine.settings
    report: SpeedReport | None = getattr(engine, "speed", None)
    if not wanted(settings, engine.device):
        return 0.0
    info = engine.info
    shapes = settings.warmup_shapes or [(info.default_width, info.default_height)]
    start = time.monotonic()
    payloads: list[dict[str, Any]] = []
    for width, height in shapes:
        payloads.append({"prompt": WARMUP_PROMPT, "width": width, "height": height})
    if Task.IMAGE_TO_IMAGE in info.tasks:
        image = _gray_png(*shapes[0])
        payloads.append({"prompt": WARMUP_PROMPT, "image": image, "strength": 1.0})
    try:
        for payload in payloads:
            payload.update(num_inference_steps=settings.warmup_steps, seed=0)
            job = scorer.validate(payload)
            generated = engine.generate(job.req, job.kwargs)
            scorer.to_json(Result(job.req, generated, 0.0))  # the encoder's first call too
    except Exception as exc:
        raise ModelNotReady(f"warm-up generation failed: {exc}") from exc
    took = time.monotonic() - start
    log.info("warm-up: %d generations in %.1f s", len(payloads), took)
    if report is not None:
        report.warmup_s = round(took, 3)
        save_compile_cache(settings, report)
    return took


def wanted(settings, device: str) -> bool:
    """``GENAI_WARMUP`` if set; unset, only where the warm-up buys the first request
    something: an accelerator (CUDA context, cuDNN/cuBLAS handles, allocator) or a
    compile. On the CPU, with the weights already in memory (``scoring.server.
    weight_reads``), a first 64x64 request took what the second did (1.05 s and 1.04 s
    with SD 1.5's UNet size): a warm-up there would only delay readiness by one
    generation per shape (docs/performance.md)."""
    if settings.warmup is not None:
        return settings.warmup
    if device == "cpu" and not settings.compile:
        log.info("warm-up: not needed on the CPU without GENAI_COMPILE (GENAI_WARMUP=true runs it)")
        return False
    return True


def _gray_png(width: int, height: int) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (128, 128, 128)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()
