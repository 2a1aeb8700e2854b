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

import json
import re
import unicodedata
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from infra.common import NAMESPACE, ConfigError, Section
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
    gpu: bool,
    extra: dict[str, str] | None = None,
    speed: EngineSpeed | None = None,
    engine: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment for the runtime image serving ``manifest`` under ``contract``;
    ``engine`` is the stack's ``engine`` section (``engine_env``). ``gpu``: the plan put
    the model on a GPU instance (the catalog's), so the server must use CUDA or stay
    unready (``GENAI_DEVICE=cuda``), never serve on the CPU past every timeout."""
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
    if gpu:
        env["GENAI_DEVICE"] = "cuda"
    if speed is not None:
        env.update(speed.env())
    env.update(engine or {})
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- engine


# the engine's own names (scoring.settings SchedulerName, SafetyPolicy); infra does not
# import scoring, so tests/infra/test_engine_settings.py keeps these equal to them
SCHEDULERS = ("dpm++", "euler", "euler-a", "ddim", "pndm", "model-default")
SAFETY_POLICIES = ("off", "flag", "blur", "withhold")
# families whose pipelines run only their own flow-matching scheduler (scoring.engine)
FLOW_FAMILIES = frozenset({"sd3", "flux"})
# SageMaker ContainerDefinition.Environment: each key and value at most 1024 bytes
ENV_VALUE_BYTES = 1024
MAX_TERM_CHARS = 200
ENGINE_KEY = f"{NAMESPACE}:engine"


class EngineSection(Section):
    """``genai-endpoints:engine``: how the engine runs, the same on every cloud (so one
    request gets the same answer from each). Unset keys keep the image's defaults."""

    scheduler: Literal["dpm++", "euler", "euler-a", "ddim", "pndm", "model-default"] | None = None
    safety: Literal["off", "flag", "blur", "withhold"] | None = None
    deny_terms: list[str] = Field(default_factory=list)

    @field_validator("deny_terms")
    @classmethod
    def _terms(cls, terms: list[str]) -> list[str]:
        for i, term in enumerate(terms):
            if not term.strip():
                raise ValueError(f"term {i} is empty; allowed: words or phrases")
            if len(term) > MAX_TERM_CHARS or any(unicodedata.category(c) == "Cc" for c in term):
                raise ValueError(
                    f"term {i} must be at most {MAX_TERM_CHARS} characters without control "
                    "characters"
                )
        size = len(deny_terms_json(terms).encode())
        if size > ENV_VALUE_BYTES:
            raise ValueError(
                f"the list takes {size} bytes as GENAI_DENY_TERMS; allowed: at most "
                f"{ENV_VALUE_BYTES} (a container environment value on SageMaker); ship a "
                "longer list in the package: genai-endpoints package --deny-terms FILE"
            )
        return terms

    def env(self) -> dict[str, str]:
        """``GENAI_SCHEDULER``, ``GENAI_SAFETY``, ``GENAI_DENY_TERMS`` for what is set."""
        env = {}
        if self.scheduler is not None:
            env["GENAI_SCHEDULER"] = self.scheduler
        if self.safety is not None:
            env["GENAI_SAFETY"] = self.safety
        if self.deny_terms:
            env["GENAI_DENY_TERMS"] = deny_terms_json(self.deny_terms)
        return env


def deny_terms_json(terms: list[str]) -> str:
    return json.dumps(terms, ensure_ascii=False, separators=(",", ":"))


def engine_env(engine: EngineSection, manifest: PackageManifest) -> dict[str, str]:
    """The engine settings checked against the package, as container environment: a
    scheduler the model can't run, or a safety policy without a shipped checker, stops the
    plan here instead of the endpoint at start."""
    model = manifest.model
    if engine.scheduler not in (None, "model-default") and model.family in FLOW_FAMILIES:
        raise ConfigError(
            f"{ENGINE_KEY}.scheduler={engine.scheduler!r}: the package's model {model.id!r} "
            f"is a {model.family} model, which runs only its own flow-matching scheduler; "
            "allowed: 'model-default' (or leave it unset)"
        )
    if engine.safety not in (None, "off") and not model.safety_checker:
        raise ConfigError(
            f"{ENGINE_KEY}.safety={engine.safety!r}: the package ships no safety checker; "
            "allowed: 'off', or rebuild the package with "
            "`genai-endpoints package --safety-checker PATH`"
        )
    return engine.env()
