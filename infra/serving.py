"""The serving container's environment, the same rules on every cloud.

The package's ``runtime.env`` (``GENAI_CONTRACT``, ``GENAI_MODEL_ID``, …) comes first; the
keys the plan owns come after and win, so a package can never widen what the deployment was
sized for (a real-time timeout, a request size). ``GENAI_CONTRACT`` is always set to the
cloud's contract (the server picks its routes and model folder from it).

Each cloud's section has a ``speed`` object (:class:`EngineSpeed`): the engine's speed
settings (docs/performance.md), checked at plan time and passed as ``GENAI_*`` variables.
Only keys the stack sets are passed, so the image's defaults apply to the rest and a stack
without the section keeps the environment (hence the model version) it had.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from infra.common import Section
from infra.manifest import PackageManifest

QUEUE_SHARE = 4  # at most a quarter of the request time is spent waiting for the GPU
QUEUE_MAX_S = 30
MARGIN_S = 5  # network and server overhead inside the cloud's request timeout


def time_split(timeout_s: int) -> tuple[int, int]:
    """``(queue wait, generation)`` seconds that fit inside a ``timeout_s`` request."""
    queue = max(1, min(QUEUE_MAX_S, timeout_s // QUEUE_SHARE))
    return queue, max(1, timeout_s - queue - MARGIN_S)


CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


class EngineSpeed(Section):
    """``<cloud>.speed``: the engine's speed settings, one ``GENAI_*`` variable each."""

    compile: bool = False  # GENAI_COMPILE: torch.compile the denoiser and VAE decoder
    compile_mode: CompileMode = "max-autotune-no-cudagraphs"  # GENAI_COMPILE_MODE
    channels_last: bool | None = None  # GENAI_CHANNELS_LAST; default: with compile on CUDA
    fuse_qkv: bool = False  # GENAI_FUSE_QKV
    vae_tiling_pixels: int = Field(default=2048 * 1024, ge=0)  # GENAI_VAE_TILING_PIXELS
    warmup: bool = True  # GENAI_WARMUP: one generation per served shape before readiness
    warmup_steps: int = Field(default=2, ge=1, le=50)  # GENAI_WARMUP_STEPS
    warmup_sizes: list[str] = Field(default_factory=list, max_length=8)  # GENAI_WARMUP_SIZES
    batch_window_ms: int = Field(default=0, ge=0, le=1000)  # GENAI_BATCH_WINDOW_MS; 0: off
    max_batch: int = Field(default=4, ge=1, le=16)  # GENAI_MAX_BATCH

    @field_validator("warmup_sizes")
    @classmethod
    def _sizes(cls, v: list[str]) -> list[str]:
        for size in v:
            m = re.fullmatch(r"(\d+)x(\d+)", size)
            if not m or int(m[1]) % 8 or int(m[2]) % 8 or min(int(m[1]), int(m[2])) < 64:
                raise ValueError(
                    f"{size!r}: allowed: WIDTHxHEIGHT, multiples of 8, at least 64, e.g. 1024x1024"
                )
        return v

    @field_validator("warmup")
    @classmethod
    def _warm_when_compiled(cls, v: bool, info: ValidationInfo) -> bool:
        if not v and info.data.get("compile"):
            raise ValueError(
                "with compile true the first request would compile (minutes) inside its "
                "request timeout; allowed: true (warm up before readiness)"
            )
        return v

    def env(self) -> dict[str, str]:
        """The set keys as the engine reads them (``scoring.settings.EngineSettings``)."""
        out = {}
        for name in sorted(self.model_fields_set):
            value = getattr(self, name)
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, list):
                text = ",".join(value)
            else:
                text = str(value)
            out[f"GENAI_{name.upper()}"] = text
        return out


def container_env(
    manifest: PackageManifest,
    contract: str,
    *,
    task: str,
    timeout_s: int,
    max_request_bytes: int | None,
    extra: dict[str, str] | None = None,
    speed: EngineSpeed | None = None,
) -> dict[str, str]:
    """Environment for the runtime image serving ``manifest`` under ``contract``."""
    queue, generation = time_split(timeout_s)
    env = dict(manifest.runtime.env)
    env.update(
        {
            "GENAI_CONTRACT": contract,
            "GENAI_MODEL_ID": manifest.model.id,
            "GENAI_MODEL_REVISION": manifest.model.revision,
            "GENAI_WEIGHTS_DIGEST": manifest.weights.digest,
            "GENAI_TASK": task,
            "GENAI_QUEUE_TIMEOUT_S": str(queue),
            "GENAI_REQUEST_TIMEOUT_S": str(generation),
        }
    )
    if max_request_bytes is not None:
        env["GENAI_MAX_REQUEST_BYTES"] = str(max_request_bytes)
    if speed is not None:
        env.update(speed.env())
    env.update(extra or {})
    return env
