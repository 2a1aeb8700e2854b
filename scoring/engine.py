"""Load a diffusers pipeline once and run every task the model can do.

Image-to-image and inpainting pipelines are derived from the loaded one with
``from_pipe``, which shares the modules (no second copy of the weights). Outpainting is
inpainting on a grown canvas. Video models are detected by their ``num_frames`` argument.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from scoring import determinism
from scoring.checkpoint import dtype_kwargs, load_checked_modules
from scoring.compose import paste_back
from scoring.errors import GenerationTimeout, ModelNotReady, RequestError
from scoring.families import components, family_of, read_model_index
from scoring.images import prepare_inputs
from scoring.loras import find_loras, load_loras
from scoring.loras import select as select_loras
from scoring.safety import SAFETY_FOLDER, DenyList, SafetyChecker, apply_policy
from scoring.schema import MAX_SEED, SCHEDULERS, ModelInfo, ResolvedRequest, Task
from scoring.settings import EngineSettings
from scoring.variants import VariantError, choose_weights

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass
class Generated:
    """What a generation produced: per output, one frame (image) or many (video)."""

    outputs: list[list[Image.Image]]
    seeds: list[int]
    width: int
    height: int
    inference_s: float
    steps_run: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # scheduler, loras, safety policy
    nsfw: list[bool] | None = None  # per output, when a safety checker ran (GENAI_SAFETY)


def require_device(requested: str) -> None:
    """``cuda`` asked for and CUDA cannot start: ``ModelNotReady`` with one line naming the
    driver found and the one this build needs (``scoring.cuda_host``), never the CPU."""
    if requested != "cuda":
        return
    import warnings

    import torch

    with warnings.catch_warnings(record=True) as caught:  # torch says why as a warning
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    if not available:
        from scoring.cuda_host import cuda_unavailable

        reason = "; ".join(str(w.message) for w in caught)
        raise ModelNotReady(cuda_unavailable(torch.version.cuda, reason))


def pick_device(requested: str) -> str:
    import torch

    require_device(requested)
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(requested: str, device: str):
    """Half precision on accelerators (bf16 where the GPU has it: no fp16 VAE overflow),
    fp32 on CPU, where half precision is slow or unsupported."""
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def quiet_loading() -> None:
    """Loading bars and advisory warnings from diffusers and transformers (deprecations,
    optional backends) would fill server logs; the engine logs one line per load and
    checks the loaded weights itself (``scoring.checkpoint``)."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()


def scheduler_classes() -> dict[str, type]:
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        PNDMScheduler,
    )

    return {
        "dpm++": DPMSolverMultistepScheduler,
        "euler": EulerDiscreteScheduler,
        "euler-a": EulerAncestralDiscreteScheduler,
        "ddim": DDIMScheduler,
        "pndm": PNDMScheduler,
    }


def allowed_schedulers(base) -> tuple[str, ...]:
    """The scheduler names that fit the model's own scheduler (diffusers' ``compatibles``):
    all of them for SD, SDXL and video; only ``model-default`` for flow-matching models
    (SD3, FLUX), which run only with their own kind of scheduler."""
    classes = scheduler_classes()
    return tuple(n for n in SCHEDULERS if n == "model-default" or classes[n] in base.compatibles)


def make_scheduler(name: str, base):
    """A new scheduler of the named kind from the model's own scheduler config (a fresh
    object every time: no state carries from one generation to the next). A name that
    doesn't fit the model gives the model's own kind."""
    if name == "model-default" or name not in allowed_schedulers(base):
        return type(base).from_config(base.config)
    cls = scheduler_classes()[name]
    if name == "dpm++":
        return cls.from_config(base.config, algorithm_type="dpmsolver++")
    if name == "ddim":
        # Stable Diffusion's DDIM runs unclipped; a config that never said so (PNDM's) would
        # get DDIM's clipping default and a deprecation warning on every load (as on main)
        return cls.from_config(base.config, clip_sample=base.config.get("clip_sample", False))
    return cls.from_config(base.config)


class Engine:
    """A loaded model and the pipelines for each task it supports. Not thread-safe by
    itself: callers serialise generations through ``GenerationGate``."""

    def __init__(self, settings: EngineSettings) -> None:
        if settings.model_dir is None:
            raise ModelNotReady("no model folder given (GENAI_MODEL_DIR or --model-dir)")
        self.settings = settings
        self.model_dir = Path(settings.model_dir)
        start = time.monotonic()
        self._pipes: dict[Task, Any] = {}
        self.phases: dict[str, float] = {}  # to device, compile: the start-up line
        self._load()
        self.load_s = time.monotonic() - start
        log.info("loaded %s in %.2f s on %s", self.model_dir, self.load_s, self.device)

    def _load(self) -> None:
        from diffusers import DiffusionPipeline

        index_file = self.model_dir / "model_index.json"
        if not index_file.is_file():
            raise ModelNotReady(
                f"{self.model_dir} is not a diffusers model folder: no model_index.json"
            )
        index = read_model_index(self.model_dir)
        self.family = family_of(str(index.get("_class_name", "")))
        self.variant = self._pick_variant(index)
        self.device = pick_device(self.settings.device)
        self.dtype = pick_dtype(self.settings.dtype, self.device)
        # before the first matrix product: MKL's reproducible mode can only be set then
        self.determinism = determinism.configure(self.device)
        quiet_loading()
        # each torch module loaded by its own library and checked against its weights:
        # a mismatched checkpoint fails here instead of serving random weights
        modules = load_checked_modules(self.model_dir, index, self.variant, self.dtype)
        # SD 1.x checkpoints ship a safety checker the pipeline would run itself, blacking
        # images out silently; the engine runs it (or the package's) by GENAI_SAFETY instead
        own_checker = modules.pop("safety_checker", None)
        if "safety_checker" in components(index):
            modules["safety_checker"] = None
        try:
            pipe = DiffusionPipeline.from_pretrained(
                self.model_dir,
                **modules,
                **dtype_kwargs("diffusers", self.dtype),
                variant=self.variant,
                use_safetensors=True,
                local_files_only=True,
            )
        except Exception as exc:
            raise ModelNotReady(f"cannot load model from {self.model_dir}: {exc}") from exc
        self._customise(pipe, own_checker)
        moving = time.monotonic()
        pipe.to(self.device)
        self.phases["to device"] = time.monotonic() - moving
        pipe.set_progress_bar_config(disable=True)
        determinism.standard_layout(pipe)  # derived pipelines share these modules
        self.base = pipe
        from scoring.speed import apply as apply_speed  # GENAI_COMPILE, GENAI_FUSE_QKV, ...

        compiling = time.monotonic()
        self.speed = apply_speed(pipe, self.settings, self.device)  # shared by derived pipes
        if self.settings.compile:
            self.phases["compile"] = time.monotonic() - compiling

        if "num_frames" in inspect.signature(pipe.__call__).parameters:
            self._pipes[Task.TEXT_TO_VIDEO] = pipe
        else:
            self._pipes[Task.TEXT_TO_IMAGE] = pipe
            self._derive(pipe)

        vae_scale = getattr(pipe, "vae_scale_factor", 8)
        sample = getattr(
            getattr(pipe, "unet", None) or getattr(pipe, "transformer", None), "config", {}
        )
        # FLUX's transformer has no sample_size; its pipeline fixes one (128 latents)
        sample_size = (
            getattr(sample, "sample_size", None) or getattr(pipe, "default_sample_size", None) or 64
        )
        if isinstance(sample_size, (list, tuple)):
            sample_size = sample_size[0]
        side = int(sample_size) * int(vae_scale)
        self.info = ModelInfo(
            model_id=self.settings.model_id or self.model_dir.name,
            revision=self.settings.model_revision,
            tasks=self._served_tasks(),
            default_width=side,
            default_height=side,
            loras=frozenset(self.loras),
            schedulers=self.schedulers,
            scheduler_class=type(self.base_scheduler).__name__,
        )

    def _served_tasks(self) -> frozenset[Task]:
        """The model's tasks, narrowed to the ones the deployment was planned for
        (``GENAI_TASK``: the stack's ``task``, which sized its timeouts and caps)."""
        can = frozenset(self._pipes)
        planned = frozenset(Task(t) for t in self.settings.planned_tasks)
        if not planned:
            return can
        if not planned <= can:
            names = ", ".join(sorted(t.value for t in can))
            raise ModelNotReady(
                f"GENAI_TASK={self.settings.task}: the model in {self.model_dir} can do "
                f"only {names}"
            )
        return planned

    def _customise(self, pipe, own_checker) -> None:
        """Schedulers, LoRA adapters, safety checker and deny list (docs/customising.md);
        before the pipeline moves to its device, so adapters move with it."""
        self.base_scheduler = pipe.scheduler  # every generation builds its own from this
        self.schedulers = allowed_schedulers(pipe.scheduler)
        self.default_scheduler = self.settings.scheduler
        if self.default_scheduler not in self.schedulers:
            log.info(
                "GENAI_SCHEDULER=%s does not fit %s; using the model's own",
                self.default_scheduler,
                type(pipe.scheduler).__name__,
            )
            self.default_scheduler = "model-default"
        pipe.scheduler = make_scheduler(self.default_scheduler, self.base_scheduler)
        self.loras = load_loras(pipe, find_loras(self.model_dir), self.family.value)
        self.checker = self._safety_checker(pipe, own_checker)
        self.deny = DenyList.load(self.settings.deny_terms, self.model_dir)

    def _safety_checker(self, pipe, own_checker) -> SafetyChecker | None:
        """The package's checker (``safety/``), else the model's own, when GENAI_SAFETY is
        on; a policy without a checker fails the load rather than serve unchecked."""
        policy = self.settings.safety
        folder = self.model_dir / SAFETY_FOLDER
        shipped = (folder / "config.json").is_file()
        if policy == "off":
            if shipped or own_checker is not None:
                log.info("a safety checker is shipped but GENAI_SAFETY=off: not run")
            return None
        if shipped:
            checker = SafetyChecker.from_folder(folder, self.device, self.dtype)
        elif own_checker is not None and getattr(pipe, "feature_extractor", None) is not None:
            checker = SafetyChecker(own_checker, pipe.feature_extractor, self.device, self.dtype)
        else:
            raise ModelNotReady(
                f"GENAI_SAFETY={policy}: no safety checker in {self.model_dir}; ship one with "
                "`genai-endpoints package --safety-checker PATH`, or set GENAI_SAFETY=off"
            )
        log.info("safety checker on: GENAI_SAFETY=%s", policy)
        return checker

    def _pick_variant(self, index: dict) -> str | None:
        """The weight variant to load: GENAI_VARIANT if set, else what the folder holds
        (a package holds one variant; a folder with plain and variant files loads the
        plain ones), by the same rule packaging applied (``scoring.variants``)."""
        paths = [
            p.relative_to(self.model_dir).as_posix()
            for p in self.model_dir.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        ]
        try:
            return choose_weights(paths, components(index), self.settings.variant).variant
        except VariantError as exc:
            raise ModelNotReady(f"{self.model_dir}: {exc}") from None

    def _derive(self, pipe) -> None:
        """Image-to-image and inpainting share the loaded modules: no second load."""
        from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

        for task, auto in (
            (Task.IMAGE_TO_IMAGE, AutoPipelineForImage2Image),
            (Task.INPAINTING, AutoPipelineForInpainting),
        ):
            try:
                derived = auto.from_pipe(pipe)
            except Exception as exc:  # the model family has no such pipeline
                log.info("%s not available for %s: %s", task, type(pipe).__name__, exc)
                continue
            derived.set_progress_bar_config(disable=True)
            self._pipes[task] = derived
        if Task.INPAINTING in self._pipes:
            self._pipes[Task.OUTPAINTING] = self._pipes[Task.INPAINTING]

    def pipeline_for(self, task: Task):
        return self._pipes[task]

    def prepare(self, req: ResolvedRequest) -> dict[str, Any]:
        """Decode inputs and build the pipeline's arguments: every check that needs the
        pixels runs here, before the caller queues for the GPU."""
        self.deny.check("prompt", req.prompt)  # before any pixel is decoded
        kwargs: dict[str, Any] = {
            "prompt": req.prompt,
            "negative_prompt": req.negative_prompt,
            "num_inference_steps": req.num_inference_steps,
            "guidance_scale": req.guidance_scale,
            "num_images_per_prompt": req.num_outputs,
        }
        if req.task.needs_image:
            # the image is already at the output size; pipelines that take a size
            # (inpainting) would otherwise fall back to the model's default
            image, mask, width, height = prepare_inputs(req, self.settings.limits)
            kwargs.update(image=image, strength=req.strength, width=width, height=height)
            if mask is not None:
                kwargs["mask_image"] = mask
            self._check_size_multiple(width, height, "outpaint" if req.outpaint else "image")
        else:
            kwargs.update(width=req.width, height=req.height)
            self._check_size_multiple(req.width, req.height, "width")
        if req.task.is_video:
            kwargs["num_frames"] = req.num_frames
        accepted = inspect.signature(self._pipes[req.task].__call__).parameters
        return {k: v for k, v in kwargs.items() if k in accepted and v is not None}

    def _check_size_multiple(self, width: int | None, height: int | None, field: str) -> None:
        """SD3 and FLUX need sides in multiples of 16 (their pipelines would fail or
        silently resize): a 400 before the GPU queue, not a 500 or a wrong size."""
        step = self.family.size_multiple
        if width is not None and height is not None and (width % step or height % step):
            raise RequestError(
                f"{field}: {self.family.value} models need width and height in multiples of "
                f"{step} (got {width}x{height})",
                field=field,
            )

    def generate(
        self,
        req: ResolvedRequest,
        kwargs: dict[str, Any],
        *,
        deadline: float | None = None,
        progress: Progress | None = None,
    ) -> Generated:
        """Run the pipeline once per output. Output i uses seed ``seed + i`` on its own CPU
        generator, in a call of its own: batching would change the shapes, hence the float
        summation order, of every matrix product, so output i would differ from the same
        request made alone with ``seed + i``. (The text-to-video pipeline cannot batch at
        all: it ignores ``num_images_per_prompt`` and refuses a list of generators.)"""
        base_seed = req.seed if req.seed is not None else secrets.randbelow(MAX_SEED + 1)
        seeds = [(base_seed + i) % (MAX_SEED + 1) for i in range(req.num_outputs)]
        per_output = self._steps_to_run(req)
        total = per_output * len(seeds)
        done = [0]

        def on_step(offset: int, step: int) -> None:
            done[0] = offset + step + 1
            if deadline is not None and time.monotonic() > deadline:
                raise GenerationTimeout(
                    f"generation stopped after {done[0]} of {total} steps: past the "
                    f"{self.settings.request_timeout_s:g} s limit; ask for fewer steps, "
                    "frames, outputs or pixels"
                )
            if progress is not None:
                progress(done[0], total)

        start = time.monotonic()
        self.select_adapters(req)
        outputs: list[list[Image.Image]] = []
        for i, seed in enumerate(seeds):
            outputs += self._run(req, kwargs, [seed], partial(on_step, i * per_output))
        outputs, nsfw = self.screen(outputs)
        inference_s = time.monotonic() - start
        width, height = outputs[0][0].size
        return Generated(
            outputs,
            seeds,
            width,
            height,
            inference_s,
            steps_run=done[0],
            extra=self.customised(req, nsfw),
            nsfw=nsfw,
        )

    # The per-request customisation, in methods of their own so that any path that calls a
    # pipeline (a batched call too) applies the same: adapters, a fresh scheduler, safety.

    def select_adapters(self, req: ResolvedRequest) -> None:
        """Set the whole adapter state for ``req`` (its LoRAs, or none): nothing carries
        over from the request before. Requests sharing one call must share ``req.loras``."""
        if self.loras:
            select_loras(self.base, req.loras)

    def fresh_scheduler(self, req: ResolvedRequest, pipe) -> None:
        """A scheduler of its own for every pipeline call, from the model's config: neither
        a request's choice nor any scheduler state carries over."""
        name = req.scheduler or self.default_scheduler
        pipe.scheduler = make_scheduler(name, self.base_scheduler)

    def screen(
        self, outputs: list[list[Image.Image]]
    ) -> tuple[list[list[Image.Image]], list[bool] | None]:
        """The safety checker's flag per output and the outputs as GENAI_SAFETY sends them
        (flags None when no checker runs)."""
        if self.checker is None:
            return outputs, None
        nsfw = self.checker.flags(outputs)
        return apply_policy(self.settings.safety, outputs, nsfw), nsfw

    def customised(self, req: ResolvedRequest, nsfw: list[bool] | None) -> dict[str, Any]:
        """What the answer's metadata says about it: scheduler, adapters, safety policy."""
        extra: dict[str, Any] = {"scheduler": req.scheduler or self.default_scheduler}
        if self.loras:
            extra["loras"] = [{"name": n, "scale": s} for n, s in req.loras]
        if nsfw is not None:
            extra["safety"] = self.settings.safety
        return extra

    def _run(
        self,
        req: ResolvedRequest,
        kwargs: dict[str, Any],
        seeds: list[int],
        on_step: Callable[[int], None],
    ) -> list[list[Image.Image]]:
        """One pipeline call making ``len(seeds)`` outputs (one, unless a later batching
        mode trades per-output reproducibility for speed)."""
        import torch

        pipe = self._pipes[req.task]
        self.fresh_scheduler(req, pipe)
        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        call = dict(kwargs, generator=generators, output_type="np")
        if "num_images_per_prompt" in call:
            call["num_images_per_prompt"] = len(seeds)
        params = inspect.signature(pipe.__call__).parameters
        if "callback_on_step_end" in params:
            call["callback_on_step_end"] = lambda _p, i, _t, kw: (on_step(i), kw)[1]
        elif "callback" in params:
            call.update(callback=lambda i, _t, _latents: on_step(i), callback_steps=1)
        with torch.inference_mode():
            result = pipe(**call)
        if req.task.is_video:
            return [[_to_pil(f) for f in video] for video in _frames(result)]
        outputs = [[_to_pil(img)] for img in result.images]
        if "mask_image" in kwargs:  # what the mask keeps comes back exactly as sent
            outputs = [
                [paste_back(kwargs["image"], out[0], kwargs["mask_image"])] for out in outputs
            ]
        return outputs

    def _steps_to_run(self, req: ResolvedRequest) -> int:
        if req.task.needs_image:
            return min(int(req.num_inference_steps * req.strength), req.num_inference_steps)
        return req.num_inference_steps


def _frames(result) -> list:
    frames = result.frames
    if isinstance(frames, np.ndarray) and frames.ndim == 4:  # one video, no batch axis
        frames = frames[None]
    return list(frames)


def _to_pil(array) -> Image.Image:
    """Float [0, 1] HWC to 8-bit RGB, rounded the way diffusers rounds."""
    arr = np.asarray(array, dtype=np.float32)
    return Image.fromarray((arr.clip(0, 1) * 255).round().astype(np.uint8))
