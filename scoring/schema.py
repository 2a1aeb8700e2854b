"""The one request schema every cloud and task maps onto.

Validation happens in two steps, both before anything reaches the model:
``GenerationRequest`` checks each field on its own (types, ranges, unknown fields, text),
and ``resolve`` checks the fields together against the loaded model and the deployment's
limits. Every failure is a ``RequestError`` naming the field and what is allowed; the
messages are this module's own words (never Python's or pydantic's internals), and echo
at most a few characters of the caller's value.

To add a field: declare it on ``GenerationRequest`` (a free-text field is typed ``Text``,
which gives it the one text check), then check it against the others in ``resolve``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from scoring.errors import Problem, RequestError, UnsupportedTask, echo
from scoring.jsonbody import json_type
from scoring.loras import MAX_LORAS_PER_REQUEST, MAX_SCALE, MIN_SCALE
from scoring.settings import Limits, SchedulerName
from scoring.text import Text, text_problem

MAX_SEED = 2**32 - 1
DEFAULT_STEPS = 30
SCHEDULERS: tuple[str, ...] = get_args(SchedulerName)


class Task(StrEnum):
    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    INPAINTING = "inpainting"
    OUTPAINTING = "outpainting"
    TEXT_TO_VIDEO = "text-to-video"

    @property
    def is_video(self) -> bool:
        return self is Task.TEXT_TO_VIDEO

    @property
    def needs_image(self) -> bool:
        return self in (Task.IMAGE_TO_IMAGE, Task.INPAINTING, Task.OUTPAINTING)


class OutputFormat(StrEnum):
    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"
    MP4 = "mp4"
    GIF = "gif"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self]

    @property
    def is_video(self) -> bool:
        return self in (OutputFormat.MP4, OutputFormat.GIF)

    @classmethod
    def from_content_type(cls, content_type: str) -> OutputFormat | None:
        base = content_type.split(";")[0].strip().lower()
        if base == "image/jpg":
            return cls.JPEG
        return next((fmt for fmt, ct in CONTENT_TYPES.items() if ct == base), None)

    @classmethod
    def from_suffix(cls, suffix: str) -> OutputFormat:
        name = suffix.lower().lstrip(".")
        name = {"jpg": "jpeg"}.get(name, name)
        try:
            return cls(name)
        except ValueError:
            allowed = ", ".join(f".{f.value}" for f in cls)
            raise RequestError(f"unknown output extension '{suffix}'; allowed: {allowed}") from None


CONTENT_TYPES = {
    OutputFormat.PNG: "image/png",
    OutputFormat.JPEG: "image/jpeg",
    OutputFormat.WEBP: "image/webp",
    OutputFormat.MP4: "video/mp4",
    OutputFormat.GIF: "image/gif",
}
IMAGE_FORMATS = (OutputFormat.PNG, OutputFormat.JPEG, OutputFormat.WEBP)
VIDEO_FORMATS = (OutputFormat.MP4, OutputFormat.GIF)


def _not_a_boolean(value: Any) -> Any:
    """JSON true/false is not a number, though pydantic would read it as 1/0."""
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "must be a number, not true or false")
    return value


class Outpaint(BaseModel):
    """Pixels to add on each side of the input image before inpainting the new border."""

    model_config = ConfigDict(extra="forbid")

    left: int = Field(0, ge=0, multiple_of=8)
    right: int = Field(0, ge=0, multiple_of=8)
    top: int = Field(0, ge=0, multiple_of=8)
    bottom: int = Field(0, ge=0, multiple_of=8)

    _no_booleans = field_validator("*", mode="before")(_not_a_boolean)

    @property
    def total(self) -> int:
        return self.left + self.right + self.top + self.bottom


class LoraChoice(BaseModel):
    """One of the deployment's LoRA adapters (``package --lora NAME=PATH``) and its scale."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: Text = Field(min_length=1)
    scale: float = Field(1.0, ge=MIN_SCALE, le=MAX_SCALE)

    _no_booleans = field_validator("scale", mode="before")(_not_a_boolean)


NUMBER_FIELDS = ("width", "height", "num_inference_steps", "guidance_scale", "seed",
                 "num_outputs", "strength", "num_frames", "fps")  # fmt: skip


class GenerationRequest(BaseModel):
    """One generation, as any client sends it once its cloud's envelope is removed."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    task: Task | None = Field(None, description="default: inferred from the other fields")
    prompt: Text = Field(min_length=1)
    negative_prompt: Text | None = None
    width: int | None = Field(None, ge=64, multiple_of=8)
    height: int | None = Field(None, ge=64, multiple_of=8)
    num_inference_steps: int | None = Field(None, ge=1, description="default: 30, capped")
    guidance_scale: float = Field(7.5, ge=0.0, le=50.0)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    num_outputs: int = Field(1, ge=1)
    image: str | None = Field(None, description="base64 (or data: URL) PNG, JPEG or WebP")
    mask: str | None = Field(None, description="base64 image; white = repaint, black = keep")
    strength: float | None = Field(None, gt=0.0, le=1.0)
    outpaint: Outpaint | None = None
    num_frames: int | None = Field(None, ge=1)
    fps: int | None = Field(None, ge=1, le=60)
    output_format: OutputFormat | None = None
    loras: list[LoraChoice] | None = Field(None, description="adapters to apply, with scales")
    scheduler: SchedulerName | None = Field(None, description="default: the deployment's")

    _no_booleans = field_validator(*NUMBER_FIELDS, mode="before")(_not_a_boolean)


FIELDS = tuple(GenerationRequest.model_fields)


def parse_request(data: Any, limits: Limits | None = None) -> GenerationRequest:
    """Validate one request object; a failure names every bad field and what is allowed."""
    if not isinstance(data, dict):
        raise RequestError(
            f"request: must be a JSON object with fields {', '.join(FIELDS)}; "
            f"got {json_type(data)}",
            field="request",
        )
    try:
        return GenerationRequest.model_validate(data, context={"limits": limits or Limits()})
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise RequestError.of(_describe(err) for err in errors) from None


_TYPE_WORDS = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "int_parsing_size": "must be an integer of at most 20 digits",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
}


def _describe(err: dict) -> Problem:
    field = ".".join(str(p) or '""' for p in err["loc"]) or "request"
    kind = err["type"]
    if kind == "extra_forbidden":
        nested = {"outpaint": Outpaint, "loras": LoraChoice}
        parent = nested.get(str(err["loc"][0]), GenerationRequest)
        parent = GenerationRequest if len(err["loc"]) < 2 else parent
        return Problem(field, f"unknown field; allowed fields: {', '.join(parent.model_fields)}")
    if kind == "missing":
        return Problem(field, "required")
    if kind in ("text", "bool_not_number"):
        return Problem(field, err["msg"])
    if kind == "string_unicode":  # a lone surrogate, caught by pydantic before our check
        value = err.get("input")
        return Problem(field, text_problem(value) if isinstance(value, str) else "not text")
    if kind in _TYPE_WORDS:
        return Problem(field, f"{_TYPE_WORDS[kind]} (got {_got(err.get('input'))})")
    msg = err["msg"].replace("Input should be", "must be").replace("Value error, ", "")
    return Problem(field, f"{msg} (got {_got(err.get('input'))})")


def _got(value: Any) -> str:
    """The caller's value, short; containers by their JSON type only."""
    if isinstance(value, dict | list):
        return f"a JSON {json_type(value)}"
    return echo(value)


@dataclass(frozen=True)
class ModelInfo:
    """What the loaded model can do, and its natural output size."""

    model_id: str
    revision: str
    tasks: frozenset[Task]
    default_width: int
    default_height: int
    default_frames: int = 16
    default_fps: int = 8
    loras: frozenset[str] = frozenset()  # the adapters the deployment loaded
    schedulers: tuple[str, ...] = SCHEDULERS  # the request's `scheduler` values that fit
    scheduler_class: str = ""  # the model's own scheduler, named when one doesn't fit

    @property
    def default_task(self) -> Task:
        return Task.TEXT_TO_VIDEO if Task.TEXT_TO_VIDEO in self.tasks else Task.TEXT_TO_IMAGE


@dataclass(frozen=True)
class ResolvedRequest:
    """A request with every default filled in, checked against model and limits."""

    task: Task
    prompt: str
    negative_prompt: str | None
    width: int | None  # None: take the (rounded) input image size
    height: int | None
    num_inference_steps: int
    guidance_scale: float
    seed: int | None
    num_outputs: int
    image_b64: str | None
    mask_b64: str | None
    strength: float
    outpaint: Outpaint | None
    num_frames: int
    fps: int
    output_format: OutputFormat
    format_explicit: bool = True  # False: the default, which an Accept header may override
    loras: tuple[tuple[str, float], ...] = ()  # (adapter, scale); () = none active
    scheduler: str | None = None  # None: the deployment's default (GENAI_SCHEDULER)


def requested_task(req: GenerationRequest) -> Task | None:
    """The task the request's fields ask for (None: the model's default); the client routes by
    the same rule the server serves by."""
    if req.task is not None:
        return req.task
    if req.outpaint is not None:
        return Task.OUTPAINTING
    if req.image is not None:
        return Task.INPAINTING if req.mask is not None else Task.IMAGE_TO_IMAGE
    if req.num_frames is not None or req.fps is not None:
        return Task.TEXT_TO_VIDEO
    return None


def infer_task(req: GenerationRequest, info: ModelInfo) -> Task:
    return requested_task(req) or info.default_task


def resolve(req: GenerationRequest, info: ModelInfo, limits: Limits) -> ResolvedRequest:
    """Check the fields together; collect every problem so the caller fixes them at once."""
    task = infer_task(req, info)
    if task not in info.tasks:
        can = ", ".join(sorted(t.value for t in info.tasks))
        raise UnsupportedTask(
            f"task: model '{info.model_id}' cannot do {task.value}; it can do: {can}", field="task"
        )
    problems: list[Problem] = []

    def bad(field: str, message: str) -> None:
        problems.append(Problem(field, message))

    steps = req.num_inference_steps or min(DEFAULT_STEPS, limits.max_steps)
    if steps > limits.max_steps:
        bad("num_inference_steps", f"must be between 1 and {limits.max_steps} (got {steps})")
    if req.num_outputs > limits.max_outputs:
        bad("num_outputs", f"must be between 1 and {limits.max_outputs} (got {req.num_outputs})")

    # fields that belong to other tasks are mistakes, not things to ignore silently
    if task.needs_image and req.image is None:
        bad("image", f"required for {task.value} (base64 PNG, JPEG or WebP)")
    if not task.needs_image and req.image is not None:
        bad("image", f"not used by {task.value}; use image-to-image, inpainting or outpainting")
    if task is Task.INPAINTING and req.mask is None:
        bad("mask", "required for inpainting (white = repaint, black = keep)")
    if task is not Task.INPAINTING and req.mask is not None:
        bad("mask", f"only used by inpainting, not {task.value}")
    if task is Task.OUTPAINTING and (req.outpaint is None or req.outpaint.total == 0):
        bad("outpaint", "outpainting needs at least one of left, right, top, bottom > 0")
    if task is not Task.OUTPAINTING and req.outpaint is not None:
        bad("outpaint", f"only used by outpainting, not {task.value}")
    if req.strength is not None and not task.needs_image:
        bad("strength", f"only used with an input image, not by {task.value}")
    if not task.is_video:
        for field in ("num_frames", "fps"):
            if getattr(req, field) is not None:
                bad(field, f"only used by text-to-video, not {task.value}")

    fmt = req.output_format or (OutputFormat.MP4 if task.is_video else OutputFormat.PNG)
    allowed_formats = VIDEO_FORMATS if task.is_video else IMAGE_FORMATS
    if fmt not in allowed_formats:
        names = ", ".join(f.value for f in allowed_formats)
        bad("output_format", f"for {task.value} must be one of {names} (got {fmt.value})")

    num_frames = req.num_frames or info.default_frames
    if task.is_video and num_frames > limits.max_frames:
        bad("num_frames", f"must be between 1 and {limits.max_frames} (got {num_frames})")

    width, height = req.width, req.height
    if not task.needs_image:
        width = width or info.default_width
        height = height or info.default_height
    if width is not None and height is not None and req.outpaint is None:
        # image tasks without both sides get the whole check once the image's header is read
        check_canvas(width, height, limits, bad)
        if not task.needs_image and not problems:
            frames = num_frames if task.is_video else 1
            check_work([(width, height, frames, req.num_outputs)], limits, bad)

    check_loras(req, info, bad)
    if req.scheduler is not None and req.scheduler not in info.schedulers:
        bad(
            "scheduler",
            f"{req.scheduler} does not fit model '{info.model_id}' "
            f"({info.scheduler_class or 'its own scheduler'}); allowed: "
            f"{', '.join(info.schedulers)}",
        )

    strength = req.strength if req.strength is not None else default_strength(task)
    if task.needs_image and int(steps * strength) < 1:
        bad(
            "strength",
            f"num_inference_steps x strength must be at least 1 (got {steps} x {strength})",
        )

    if problems:
        raise RequestError.of(problems)
    return ResolvedRequest(
        task=task,
        prompt=req.prompt,
        negative_prompt=req.negative_prompt,
        width=width,
        height=height,
        num_inference_steps=steps,
        guidance_scale=req.guidance_scale,
        seed=req.seed,
        num_outputs=req.num_outputs,
        image_b64=req.image,
        mask_b64=req.mask,
        strength=strength,
        outpaint=req.outpaint,
        num_frames=num_frames,
        fps=req.fps or info.default_fps,
        output_format=fmt,
        format_explicit=req.output_format is not None,
        loras=tuple((c.name, c.scale) for c in req.loras or ()),
        scheduler=req.scheduler,
    )


def check_loras(req: GenerationRequest, info: ModelInfo, bad: Callable[[str, str], None]) -> None:
    """Every adapter named must be one the deployment loaded, each at most once."""
    chosen = req.loras or []
    if len(chosen) > MAX_LORAS_PER_REQUEST:
        bad("loras", f"at most {MAX_LORAS_PER_REQUEST} adapters per request (got {len(chosen)})")
        return
    have = ", ".join(sorted(info.loras)) or "none (packaged without --lora)"
    seen: set[str] = set()
    for i, choice in enumerate(chosen):
        if choice.name not in info.loras:
            bad(f"loras.{i}.name", f"unknown LoRA {echo(choice.name)}; this deployment has: {have}")
        elif choice.name in seen:
            bad(f"loras.{i}.name", f"LoRA {echo(choice.name)} is listed twice")
        seen.add(choice.name)


def default_strength(task: Task) -> float:
    """Image-to-image keeps some of the input; (out)inpainting repaints the masked area fully."""
    return 0.8 if task is Task.IMAGE_TO_IMAGE else 1.0


def check_canvas(
    width: int,
    height: int,
    limits: Limits,
    bad: Callable[[str, str], None],
    *,
    width_field: str = "width",
    height_field: str = "height",
    what: str = "",
) -> None:
    """Report a canvas that is too large, each side against the field it came from (an
    explicit ``width``/``height``, the input ``image``, or ``outpaint``); ``bad(field,
    message)`` collects the problem. Python integers: no overflow, whatever was sent."""
    too_long = False
    for side, field in ((width, width_field), (height, height_field)):
        if side > limits.max_side:
            too_long = True
            bad(field, f"{what}each side at most {limits.max_side} px (got {width}x{height})")
    if not too_long and width * height > limits.max_pixels:
        field = height_field if height > width else width_field
        bad(
            field,
            f"{what}width x height must be at most {limits.max_pixels} pixels "
            f"(got {width}x{height} = {width * height})",
        )


def check_work(
    items: list[tuple[int, int, int, int]], limits: Limits, bad: Callable[[str, str], None]
) -> None:
    """The work budget of one request: width x height x frames x outputs, summed over its
    items (one per instance of a batch), against ``max_request_pixels``."""
    total = sum(w * h * frames * outputs for w, h, frames, outputs in items)
    if total <= limits.max_request_pixels:
        return
    if len(items) > 1:
        field, parts = "instances", f"{len(items)} instances together ask for"
    else:
        w, h, frames, outputs = items[0]
        field = "num_outputs" if outputs > 1 else "num_frames" if frames > 1 else "width"
        parts = f"{w}x{h} x {frames} frame(s) x {outputs} output(s) ="
    bad(
        field,
        f"{parts} {total} pixels of work; at most {limits.max_request_pixels} per request "
        "(ask for fewer outputs, frames or pixels)",
    )
