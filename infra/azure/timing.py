"""Request time, the constraint that shapes an Azure ML deployment.

A managed online endpoint answers within ``request_timeout`` (at most 180 s,
``REQUEST_TIMEOUT_MAX_MS``). The plan estimates the worst request the deployment will accept
(the engine's limits, set through ``GENAI_MAX_*``: steps, outputs, batch, frames) on the
chosen GPU, adds the time a request may wait in the engine's queue, and refuses a config
that cannot finish in time, naming the limit to lower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import Field

from infra import catalog
from infra.common import LONG_TASKS, NAMESPACE, ConfigError, Section
from scoring.server.contracts import CLOUDS

KEY = f"{NAMESPACE}:azure"  # the section, as messages name it
# Azure ML managed online endpoints: request_timeout ≤ 180 s (its contract descriptor)
REQUEST_TIMEOUT_MAX_MS = CLOUDS["azure"].limit("managed").timeout_s * 1000

# Seconds per denoising step for one ~1-megapixel image of an SDXL-class model, per GPU:
# ``catalog.step_seconds`` (benchmarks/gpu.py figures where measured, else rough public
# ones); override with ``workload.secondsPerStep`` after measuring.
FRAME_STEP_FACTOR = 0.25  # one video frame (~0.25 MP) per step, relative to a 1 MP image
FIXED_OVERHEAD_S = 10.0  # text encoding, VAE decode, image/video encoding
SAFETY = 1.25  # estimate × SAFETY is the generation budget
MARGIN_S = 5  # network and server overhead inside the request timeout


class Workload(Section):
    """The largest request a deployment accepts (engine limits) and its speed on this GPU."""

    max_steps: int = Field(default=50, ge=1, le=200)  # GENAI_MAX_STEPS
    max_outputs: int = Field(default=1, ge=1, le=8)  # GENAI_MAX_OUTPUTS
    max_batch: int = Field(default=1, ge=1, le=8)  # GENAI_MAX_INSTANCES: requests per envelope
    max_frames: int = Field(default=16, ge=1, le=256)  # GENAI_MAX_FRAMES (video)
    seconds_per_step: float | None = Field(default=None, gt=0, le=60)  # 1 MP image, this GPU


@dataclass(frozen=True)
class Timing:
    estimate_s: float  # worst accepted request on the slowest deployment's GPU
    generation_s: int  # GENAI_REQUEST_TIMEOUT_S
    queue_s: int  # GENAI_QUEUE_TIMEOUT_S
    request_timeout_ms: int  # the deployment's request_timeout
    load_s: int  # expected model load (container start to ready)


def step_seconds(instance: catalog.GpuInstance, workload: Workload) -> float:
    """The uncompiled engine's figure even with ``speed.compile``: a compiled replica only
    finishes sooner, and one still compiling a new shape is slower."""
    if workload.seconds_per_step is not None:
        return workload.seconds_per_step
    return catalog.step_seconds(instance.gpu)[0]


def estimate_seconds(
    task: str,
    instance: catalog.GpuInstance,
    w: Workload,
    frames: int | None = None,
    steps: int | None = None,
) -> float:
    """Worst accepted request: steps × outputs × batch (× frames for video) on this GPU."""
    per_step = step_seconds(instance, w)
    steps = steps if steps is not None else w.max_steps
    work = steps * w.max_outputs * w.max_batch
    if task in LONG_TASKS:
        work *= (frames if frames is not None else w.max_frames) * FRAME_STEP_FACTOR
    return work * per_step + FIXED_OVERHEAD_S


def load_seconds(size_bytes: int) -> int:
    """Container start to ready: CUDA init + weights from local disk to GPU + warm-up."""
    return min(1800, 120 + math.ceil(size_bytes / 2**30) * 20)


def request_timing(
    task: str,
    w: Workload,
    queue_timeout_s: int,
    request_timeout_ms: int | None,
    slowest: catalog.GpuInstance,
    size_bytes: int,
) -> Timing:
    """The deployment's request timeout and the engine's share of it: the configured one,
    if the largest accepted request fits in it, else sized from that request."""
    estimate = estimate_seconds(task, slowest, w)
    generation = math.ceil(estimate * SAFETY)
    queue = queue_timeout_s
    needed_s = generation + queue + MARGIN_S
    limit_s = REQUEST_TIMEOUT_MAX_MS // 1000
    if needed_s > limit_s:
        raise ConfigError(_too_slow(task, w, queue, slowest, estimate, needed_s, limit_s))
    if request_timeout_ms is not None:
        if request_timeout_ms < needed_s * 1000:
            raise ConfigError(
                f"{KEY}.requestTimeoutMs={request_timeout_ms}: the largest accepted "
                f"{task} request needs ≈{estimate:.0f} s on {slowest.name} ({slowest.gpu}), "
                f"{needed_s} s with the {queue} s queue wait and margin; allowed: "
                f"{needed_s * 1000} to {REQUEST_TIMEOUT_MAX_MS}, or smaller workload limits"
            )
        timeout_ms = request_timeout_ms
    else:
        timeout_ms = min(REQUEST_TIMEOUT_MAX_MS, max(60, needed_s) * 1000)
    generation = timeout_ms // 1000 - queue - MARGIN_S  # give the engine the whole budget
    return Timing(
        estimate_s=round(estimate, 1),
        generation_s=generation,
        queue_s=queue,
        request_timeout_ms=timeout_ms,
        load_s=load_seconds(size_bytes),
    )


def _too_slow(
    task: str,
    w: Workload,
    queue_timeout_s: int,
    inst: catalog.GpuInstance,
    estimate: float,
    needed_s: int,
    limit_s: int,
) -> str:
    """The message for a request that cannot finish in time: the limit to lower, and to what."""
    budget = (limit_s - queue_timeout_s - MARGIN_S) / SAFETY
    what = f"steps={w.max_steps}, outputs={w.max_outputs}, batch={w.max_batch}"
    if task in LONG_TASKS:
        what += f", frames={w.max_frames}"
        frames = max(
            (
                f
                for f in range(1, w.max_frames)
                if estimate_seconds(task, inst, w, frames=f) <= budget
            ),
            default=0,
        )
        key, value = "workload.maxFrames", w.max_frames
        fix = f"workload.maxFrames ≤ {frames}" if frames else "fewer steps or frames"
    else:
        steps = max(
            (
                s
                for s in range(1, w.max_steps)
                if estimate_seconds(task, inst, w, steps=s) <= budget
            ),
            default=0,
        )
        key, value = "workload.maxSteps", w.max_steps
        fix = f"workload.maxSteps ≤ {steps}" if steps else "fewer outputs or a smaller batch"
    return (
        f"{KEY}.{key}={value}: the largest accepted {task} request ({what}) needs ≈"
        f"{estimate:.0f} s on {inst.name} ({inst.gpu}, {step_seconds(inst, w):g} s/step), "
        f"{needed_s} s with safety, the {queue_timeout_s} s queue wait and margin, but Azure ML "
        f"allows {limit_s} s per request; allowed: {fix}, a faster instanceType, or another "
        "cloud's long-running path (SageMaker async)"
    )
