"""Deployment settings: the limits a request must respect and how the engine runs.

Both read ``GENAI_*`` environment variables, so each cloud's package sets them the same
way (container environment), and tests or the CLI pass them as objects.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Device = Literal["auto", "cuda", "cpu", "mps"]
DType = Literal["auto", "float16", "bfloat16", "float32"]
SchedulerName = Literal["dpm++", "euler", "euler-a", "ddim", "pndm", "model-default"]
CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]
SafetyPolicy = Literal["off", "flag", "blur", "withhold"]
# scoring.schema.Task's values (schema imports this module; a test keeps the two equal)
TASK_NAMES = ("text-to-image", "image-to-image", "inpainting", "outpainting", "text-to-video")


class Limits(BaseSettings):
    """Per-deployment caps, all decided from the request alone before any pixel is decoded
    or the request queues. The defaults suit a 24 GB GPU and a 60 s synchronous call."""

    model_config = SettingsConfigDict(env_prefix="GENAI_", frozen=True, extra="ignore")

    max_pixels: int = Field(1024 * 1024, ge=64 * 64, description="width x height of one output")
    max_side: int = Field(2048, ge=64, description="longest side of one output, in pixels")
    max_steps: int = Field(100, ge=1)
    max_frames: int = Field(48, ge=1)
    max_outputs: int = Field(4, ge=1, description="images or videos per request")
    max_instances: int = Field(4, ge=1, description="requests batched in one envelope")
    max_request_bytes: int = Field(6_000_000, ge=1024, description="size of the request body")
    max_prompt_chars: int = Field(2000, ge=1, description="characters in each text field")
    max_request_pixels: int = Field(
        16 * 1024 * 1024,
        ge=64 * 64,
        description="work budget: width x height x frames x outputs, summed over a request "
        "(every instance of a batch); 16 Mi = 4 outputs of 1024x1024, or 48 frames of 512x512",
    )
    max_image_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="one input image (image, mask) once base64-decoded; refused before decoding",
    )
    max_response_bytes: int | None = Field(
        None,
        ge=1024,
        description="the answer's body: the cloud front end's cap (its descriptor's limit for "
        "the mode); a request whose worst case exceeds it is refused up front "
        "(scoring.answer_size); None: no cap",
    )


class EngineSettings(BaseSettings):
    """How the engine loads and runs the model. ``auto`` picks CUDA when present."""

    model_config = SettingsConfigDict(env_prefix="GENAI_", extra="ignore")

    model_dir: Path | None = None
    model_id: str | None = Field(None, description="reported in responses; default: folder name")
    model_revision: str = "unpinned"
    variant: str | None = Field(
        None,
        description="weight variant (fp16: *.fp16.safetensors); default: what the folder holds",
    )
    device: Device = Field(
        "auto", description="cuda: never fall back to the CPU (the model stays unready)"
    )
    dtype: DType = "auto"
    # customising (docs/customising.md): the default scheduler, the safety policy and the
    # prompt deny list; LoRA adapters and the safety checker are files in the package
    scheduler: SchedulerName = Field(
        "dpm++", description="default scheduler; a request's `scheduler` picks another"
    )
    safety: SafetyPolicy = Field(
        "off",
        description="run the package's safety checker on every output: flag (mark nsfw), "
        "blur (and blur it), withhold (and send a grey placeholder instead)",
    )
    deny_terms: list[str] = Field(
        default_factory=list,
        description="prompt terms refused with a 400 (JSON list), added to the package's "
        "safety/deny_terms.txt",
    )
    task: str = Field(
        "",
        description="the tasks this deployment was planned for (comma-separated; the stack's "
        "`task`); other tasks are refused with a 422. Empty: every task the model can do",
    )
    max_queue: int = Field(8, ge=0, description="requests that may wait while one generates")
    queue_timeout_s: float = Field(30.0, gt=0, description="longest wait for the GPU")
    request_timeout_s: float = Field(55.0, gt=0, description="longest generation, then 504")
    limits: Limits = Field(default_factory=Limits)
    # speed settings (scoring.speed, scoring.server.batching; docs/performance.md)
    compile: bool = Field(
        False, description="torch.compile the denoiser and VAE decoder (minutes at a cold start)"
    )
    compile_mode: CompileMode = Field(
        "max-autotune-no-cudagraphs", description="torch.compile mode when compile is on"
    )
    compile_cache_dir: Path | None = Field(
        None, description="write the compile cache here after the warm-up (to ship it)"
    )
    channels_last: bool | None = Field(
        None, description="channels-last memory format; default: on when compiling on CUDA"
    )
    fuse_qkv: bool = Field(False, description="fuse attention Q/K/V projections")
    vae_tiling_pixels: int = Field(
        2048 * 1024, ge=0, description="decode/encode in tiles above this many pixels; 0: never"
    )
    vae_slicing: bool = Field(True, description="decode a batch one image at a time")
    warmup: bool | None = Field(
        None,
        description="generations before readiness turns green; unset: where they pay "
        "(an accelerator, or compile on), not on the CPU, where a first request pays no "
        "lazy initialisation",
    )
    warmup_steps: int = Field(2, ge=1, le=50, description="denoising steps of the warm-up")
    warmup_sizes: str = Field(
        "", description="WxH[,WxH...] to warm up (compile: each shape); default: native size"
    )
    batch_window_ms: int = Field(
        0, ge=0, le=1000, description="batch same-shaped requests arriving within it; 0: off"
    )
    max_batch: int = Field(4, ge=1, le=16, description="outputs in one batched pipeline call")

    @field_validator("warmup_sizes")
    @classmethod
    def _sizes(cls, v: str) -> str:
        v = v.replace(" ", "")
        if v and not re.fullmatch(r"\d+x\d+(,\d+x\d+)*", v):
            raise ValueError(f"{v!r}: allowed: WIDTHxHEIGHT[,WIDTHxHEIGHT...], e.g. 1024x1024")
        return v

    @field_validator("task")
    @classmethod
    def _tasks(cls, v: str) -> str:
        names = [t.strip() for t in v.split(",") if t.strip()]
        for name in names:
            if name not in TASK_NAMES:
                raise ValueError(f"{name!r} is not a task; allowed: {', '.join(TASK_NAMES)}")
        return ",".join(names)

    @property
    def planned_tasks(self) -> frozenset[str]:
        """``task`` as a set of task names; empty: not narrowed."""
        return frozenset(t for t in self.task.split(",") if t)

    @property
    def warmup_shapes(self) -> list[tuple[int, int]]:
        """``warmup_sizes`` as (width, height) pairs; empty: the model's native size."""
        return [tuple(int(n) for n in s.split("x")) for s in self.warmup_sizes.split(",") if s]
