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
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from scoring.errors import GenerationTimeout, ModelNotReady
from scoring.images import prepare_inputs
from scoring.schema import MAX_SEED, ModelInfo, ResolvedRequest, Task
from scoring.settings import EngineSettings

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
    extra: dict[str, Any] = field(default_factory=dict)


def pick_device(requested: str) -> str:
    import torch

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
    """Loading bars from diffusers and transformers would fill server logs; the engine
    logs one line per load instead."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def make_scheduler(name: str, base):
    """Build the named scheduler from the model's own scheduler config."""
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        PNDMScheduler,
    )

    config = base.config
    if name == "model-default":
        return base
    if name == "dpm++":
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++")
    classes = {
        "euler": EulerDiscreteScheduler,
        "euler-a": EulerAncestralDiscreteScheduler,
        "ddim": DDIMScheduler,
        "pndm": PNDMScheduler,
    }
    return classes[name].from_config(config)


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
        self._load()
        self.load_s = time.monotonic() - start
        log.info("loaded %s in %.2f s on %s", self.model_dir, self.load_s, self.device)

    def _load(self) -> None:
        import torch
        from diffusers import DiffusionPipeline

        index = self.model_dir / "model_index.json"
        if not index.is_file():
            raise ModelNotReady(
                f"{self.model_dir} is not a diffusers model folder: no model_index.json"
            )
        self.device = pick_device(self.settings.device)
        self.dtype = pick_dtype(self.settings.dtype, self.device)
        if self.device == "cuda":
            torch.backends.cudnn.benchmark = False  # autotuning picks kernels per run
        quiet_loading()
        try:
            with warnings.catch_warnings():
                # `torch_dtype` is what every diffusers the serving images carry understands
                # (0.42 renamed it `dtype`; older ones would ignore `dtype` and load fp32)
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipe = DiffusionPipeline.from_pretrained(
                    self.model_dir,
                    torch_dtype=self.dtype,
                    use_safetensors=True,
                    local_files_only=True,
                )
        except Exception as exc:
            raise ModelNotReady(f"cannot load model from {self.model_dir}: {exc}") from exc
        pipe.scheduler = make_scheduler(self.settings.scheduler, pipe.scheduler)
        pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        self.base = pipe
        from scoring.speed import apply as apply_speed  # GENAI_COMPILE, GENAI_FUSE_QKV, ...

        self.speed = apply_speed(pipe, self.settings, self.device)  # shared by derived pipes

        if "num_frames" in inspect.signature(pipe.__call__).parameters:
            self._pipes[Task.TEXT_TO_VIDEO] = pipe
        else:
            self._pipes[Task.TEXT_TO_IMAGE] = pipe
            self._derive(pipe)

        vae_scale = getattr(pipe, "vae_scale_factor", 8)
        sample = getattr(
            getattr(pipe, "unet", None) or getattr(pipe, "transformer", None), "config", {}
        )
        sample_size = getattr(sample, "sample_size", None) or 64
        if isinstance(sample_size, (list, tuple)):
            sample_size = sample_size[0]
        side = int(sample_size) * int(vae_scale)
        self.info = ModelInfo(
            model_id=self.settings.model_id or self.model_dir.name,
            revision=self.settings.model_revision,
            tasks=frozenset(self._pipes),
            default_width=side,
            default_height=side,
        )

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
        else:
            kwargs.update(width=req.width, height=req.height)
        if req.task.is_video:
            kwargs["num_frames"] = req.num_frames
        accepted = inspect.signature(self._pipes[req.task].__call__).parameters
        return {k: v for k, v in kwargs.items() if k in accepted and v is not None}

    def generate(
        self,
        req: ResolvedRequest,
        kwargs: dict[str, Any],
        *,
        deadline: float | None = None,
        progress: Progress | None = None,
    ) -> Generated:
        """Run the pipeline. Output i uses seed ``seed + i`` on its own CPU generator, so
        each output is reproducible alone and the same on any device type."""
        import torch

        pipe = self._pipes[req.task]
        base_seed = req.seed if req.seed is not None else secrets.randbelow(MAX_SEED + 1)
        seeds = [(base_seed + i) % (MAX_SEED + 1) for i in range(req.num_outputs)]
        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        total = self._steps_to_run(req)
        done = [0]

        def on_step(step: int) -> None:
            done[0] = step + 1
            if deadline is not None and time.monotonic() > deadline:
                raise GenerationTimeout(
                    f"generation stopped after {step + 1} of {total} steps: past the "
                    f"{self.settings.request_timeout_s:g} s limit; ask for fewer steps, "
                    "frames or pixels"
                )
            if progress is not None:
                progress(step + 1, total)

        call = dict(kwargs, generator=generators, output_type="np")
        params = inspect.signature(pipe.__call__).parameters
        if "callback_on_step_end" in params:
            call["callback_on_step_end"] = lambda _p, i, _t, kw: (on_step(i), kw)[1]
        elif "callback" in params:
            call.update(callback=lambda i, _t, _latents: on_step(i), callback_steps=1)

        start = time.monotonic()
        with torch.inference_mode():
            result = pipe(**call)
        inference_s = time.monotonic() - start

        if req.task.is_video:
            outputs = [[_to_pil(f) for f in video] for video in _frames(result)]
        else:
            outputs = [[_to_pil(img)] for img in result.images]
        width, height = outputs[0][0].size
        return Generated(outputs, seeds, width, height, inference_s, steps_run=done[0])

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
