"""The cloud-neutral request path: bytes in, an HTTP-style answer out.

Every cloud adapter calls ``Scorer``; they differ only in transport. Order matters:
size, JSON (bounded), envelope, schema, model and limits, the output canvas from the input
image's header, the work budget and the batch totals are all decided from the request
alone, then input pixels are decoded, all before a request queues for the GPU, so nothing
invalid reaches the model and no refused request allocates more than its limits.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from scoring import __version__, answer_size, encoders, jsonbody
from scoring.dialects import JsonDialect, ModelShape, Output, Reading
from scoring.dialects.base import mark
from scoring.engine import Engine, Generated, Progress
from scoring.envelopes import Envelope, Unwrapped, unwrap
from scoring.errors import (
    NotAcceptable,
    PayloadTooLarge,
    Problem,
    RequestError,
    ScoringError,
    UnsupportedMediaType,
    UnsupportedTask,
    echo,
)
from scoring.gate import GenerationGate
from scoring.images import plan_canvas
from scoring.schema import (
    CONTENT_TYPES,
    OutputFormat,
    ResolvedRequest,
    check_work,
    infer_task,
    parse_request,
    resolve,
)

JSON = "application/json"
JSON_TYPES = (JSON, "text/json", "application/x-json")
MAX_ERROR_CHARS = 2000  # SHOWN_PROBLEMS problems of MAX_DETAIL_CHARS each, with room


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)

    @classmethod
    def of_json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
        return cls(status, json.dumps(obj).encode(), JSON, headers or {})

    @classmethod
    def of_error(cls, err: ScoringError) -> Answer:
        """``{"error": {"code", "field", "message"}}``, a few hundred bytes at most; an
        error about a body read in another API's dialect also carries the fields that
        API's clients read (``in_dialect``)."""
        body = err.to_dict()
        message = body["error"]["message"]
        if len(message) > MAX_ERROR_CHARS:
            body["error"]["message"] = message[: MAX_ERROR_CHARS - 3] + "..."
        dialect = getattr(err, "dialect", None)
        if dialect is not None:
            body = dialect.error_body(body, err)
        return cls.of_json(body, err.status, err.headers())


def in_dialect(err: ScoringError, reading: Reading | None) -> ScoringError:
    """An error about a body read in a dialect, tagged so its answer takes that API's
    error fields (``scoring.dialects.base.mark``)."""
    return err if reading is None else mark(err, reading.dialect)


def answer_headers(meta: dict[str, Any]) -> dict[str, str]:
    """``X-Genai-Seed`` (the first output's; output i used seed + i) and
    ``X-Genai-Timings-Ms`` as ``queued=1.2;inference=30.5;encode=2.1``: no value holds a
    comma, which some front ends (Azure ML's) split into several headers."""
    timings = ";".join(f"{k}={v}" for k, v in meta["timings_ms"].items())
    return {"X-Genai-Seed": str(meta["seeds"][0]), "X-Genai-Timings-Ms": timings}


def media_type_params(content_type: str | None) -> dict[str, str]:
    """The parameters of a media type: ``application/json; dialect=openai`` → {dialect: openai}."""
    params = {}
    for part in (content_type or "").split(";")[1:]:
        key, eq, value = part.partition("=")
        if eq:
            params[key.strip().lower()] = value.strip().strip('"')
    return params


class Accept:
    """What the caller's Accept header asks for: JSON, or raw bytes of one format."""

    def __init__(self, header: str | None) -> None:
        self.raw_format: OutputFormat | None = None
        self.raw_any = False
        kinds = [p.split(";")[0].strip().lower() for p in (header or "").split(",") if p.strip()]
        # JSON named outright: a dialect that answers raw bytes (Hugging Face) answers ours
        self.json_explicit = any(k in JSON_TYPES for k in kinds)
        if not kinds or any(k in (JSON, "*/*", "application/*") for k in kinds):
            return
        for kind in kinds:
            fmt = OutputFormat.from_content_type(kind)
            if fmt is not None:
                self.raw_format = fmt
                return
            if kind in ("image/*", "video/*"):
                self.raw_any = True
                return
        allowed = ", ".join([JSON, *CONTENT_TYPES.values()])
        raise NotAcceptable(
            f"Accept: cannot answer with {echo(header)}; allowed: {allowed}", field="Accept"
        )

    @property
    def raw(self) -> bool:
        return self.raw_any or self.raw_format is not None


class Scorer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.limits = engine.settings.limits
        self.gate = GenerationGate(self.settings.max_queue, self.settings.queue_timeout_s)
        # this cloud's modes with a larger response cap, for the refusal's "what fits"
        # (set by the server: scoring.server.caps.roomier)
        self.roomier = ""
        # seconds per start-up phase, for readiness (set by the server:
        # scoring.server.startup)
        self.startup: dict[str, float] | None = None

    @property
    def model_shape(self) -> ModelShape:
        """The loaded model's native size and size multiple, which dialect sizes fit."""
        info = self.engine.info
        family = getattr(self.engine, "family", None)
        multiple = family.size_multiple if family is not None else 8
        return ModelShape(info.default_width, info.default_height, multiple)

    def health(self) -> dict[str, Any]:
        info = self.engine.info
        return {
            "status": "ok",
            "model_id": info.model_id,
            "model_revision": info.revision,
            "tasks": sorted(t.value for t in info.tasks),
            "device": self.engine.device,
            "engine_version": __version__,
            "busy": self.gate.busy,
            "waiting": self.gate.waiting,
        }

    # The stages of a request, separate so the server runs each where it belongs
    # (scoring.server.app): parse and negotiate on its parse threads, ``run`` on the GPU
    # thread, ``render`` off it. In-process callers (the CLI's generate) use ``execute``.

    def parse(
        self, body: bytes | str, content_type: str | None = JSON, dialect: str | None = None
    ) -> Parsed:
        """Size, media type, JSON, envelope, schema, model, limits and input headers.
        ``dialect`` (or ``Content-Type: application/json; dialect=NAME``) names the API
        the body is written for; without one it is told from the body."""
        if isinstance(body, str):  # surrogatepass: a lone surrogate is then invalid UTF-8
            body = body.encode("utf-8", "surrogatepass")
        if len(body) > self.limits.max_request_bytes:
            raise PayloadTooLarge(
                f"body: {len(body)} bytes; at most {self.limits.max_request_bytes}", field="body"
            )
        base = (content_type or JSON).split(";")[0].strip().lower()
        if base not in JSON_TYPES:
            raise UnsupportedMediaType(
                f"Content-Type: {echo(content_type)} is not JSON; send {JSON}",
                field="Content-Type",
            )
        selector = dialect or media_type_params(content_type).get("dialect")
        return self.parse_payload(jsonbody.loads(body, self.limits.max_request_bytes), selector)

    def parse_payload(self, payload: Any, dialect: str | None = None) -> Parsed:
        """A parsed body (also what adapters whose server parses JSON hand over): every
        request of the envelope (or dialect) planned, the batch totals checked, then
        inputs decoded."""
        jsonbody.check_shape(payload)
        unwrapped = unwrap(payload, self.limits, self.model_shape, dialect)
        try:
            jobs = self._plan_all(unwrapped)
        except ScoringError as err:
            raise in_dialect(err, unwrapped.reading) from None
        return Parsed(unwrapped.envelope, jobs, unwrapped.reading)

    def _plan_all(self, unwrapped: Unwrapped) -> list[Job]:
        """Plan every request (errors relocated to where the caller wrote each field),
        check the batch totals, then decode the inputs."""
        plans: list[Plan] = []
        problems: list[Problem] = []
        for i, item in enumerate(unwrapped.requests):
            try:
                plans.append(self.plan(item))
            except RequestError as err:
                problems += err.relocated(partial(unwrapped.locate, i)).problems
        if problems:
            raise RequestError.of(list(dict.fromkeys(problems)))
        self.check_batch(plans)
        jobs = []
        for i, plan in enumerate(plans):
            try:
                jobs.append(self.prepare(plan))
            except RequestError as err:
                raise err.relocated(partial(unwrapped.locate, i)) from None
        return jobs

    def validate(self, item: dict) -> Job:
        """Schema, model, limits and input pixels: everything short of running the model."""
        return self.prepare(self.plan(item))

    def plan(self, item: dict) -> Plan:
        """Everything decided from the request alone: schema, model, limits, the output
        canvas (from the input image's header) and the work budget. No pixel is decoded."""
        req = self._resolve(item)
        width, height = req.width, req.height
        if req.task.needs_image:
            canvas = plan_canvas(req, self.limits)
            width, height = canvas.width, canvas.height
        frames = req.num_frames if req.task.is_video else 1
        plan = Plan(req, width, height, frames)
        problems: list[Problem] = []
        check_work([plan.work], self.limits, lambda f, m: problems.append(Problem(f, m)))
        if problems:
            raise RequestError.of(problems)
        return plan

    def _resolve(self, item: dict) -> ResolvedRequest:
        """Schema and model; a task the model can do but the deployment was not planned
        for (``GENAI_TASK``) says so, naming the tasks it serves."""
        info = self.engine.info
        parsed = parse_request(item, self.limits)
        try:
            return resolve(parsed, info, self.limits)
        except UnsupportedTask:
            if not getattr(self.settings, "planned_tasks", None):
                raise
            served = ", ".join(sorted(t.value for t in info.tasks))
            asked = infer_task(parsed, info).value
            raise UnsupportedTask(
                f"task: this deployment serves {served} (GENAI_TASK, the stack's task), "
                f"not {asked}",
                field="task",
            ) from None

    def check_batch(self, plans: list[Plan]) -> None:
        """Totals over the requests of one body (a Vertex batch runs in one GPU turn)."""
        if len(plans) < 2:
            return
        problems: list[Problem] = []
        outputs = sum(p.req.num_outputs for p in plans)
        if outputs > self.limits.max_outputs:
            problems.append(
                Problem(
                    "instances",
                    f"{outputs} outputs in all ({len(plans)} instances, num_outputs "
                    f"{'+'.join(str(p.req.num_outputs) for p in plans)}); "
                    f"at most {self.limits.max_outputs} per request",
                )
            )
        check_work(
            [p.work for p in plans], self.limits, lambda f, m: problems.append(Problem(f, m))
        )
        if problems:
            raise RequestError.of(problems)

    def prepare(self, plan: Plan) -> Job:
        """Decode the inputs and build the pipeline's arguments (sizes already decided)."""
        return Job(plan.req, self.engine.prepare(plan.req), (plan.width, plan.height, plan.frames))

    def negotiate(self, parsed: Parsed, wants: Accept) -> None:
        """Refuse an Accept header the answer could not honour, and a request whose answer
        could exceed the response cap (``scoring.answer_size``), before it queues."""
        raw = self._answers_raw(parsed.reading, wants)
        try:
            self._check_answer_size(parsed, raw)
        except ScoringError as err:
            raise in_dialect(err, parsed.reading) from None
        if not raw:
            return
        try:
            if len(parsed.jobs) > 1 or parsed.jobs[0].req.num_outputs > 1:
                raise NotAcceptable(
                    "Accept: asks for one raw file, but the request makes several outputs; "
                    "accept application/json instead"
                )
            self._raw_format(parsed.jobs[0].req, wants)
        except ScoringError as err:
            raise in_dialect(err, parsed.reading) from None

    def _check_answer_size(self, parsed: Parsed, raw: bool) -> None:
        shapes = [
            answer_size.Shape(job.req.num_outputs, *job.size, job.req.output_format)
            for job in parsed.jobs
            if job.size is not None
        ]
        if shapes:
            answer_size.check_fits(shapes, raw, self.limits.max_response_bytes, self.roomier)

    @staticmethod
    def _answers_raw(reading: Reading | None, wants: Accept) -> bool:
        """Raw bytes when Accept asks for a file, or when the body's dialect answers raw
        (Hugging Face) and JSON was not asked for by name."""
        if wants.raw:
            return True
        return reading is not None and reading.dialect.raw and not wants.json_explicit

    def execute(self, parsed: Parsed, progress: Progress | None = None) -> list[Result]:
        """Run every job of the request in one turn on the GPU (in-process callers; the
        server queues through its own worker and calls ``run``)."""
        with self.gate.slot() as queued_s:
            return self.run(parsed, queued_s, progress=progress)

    def run(
        self, parsed: Parsed, queued_s: float = 0.0, progress: Progress | None = None
    ) -> list[Result]:
        """Generate every job now; the caller holds the GPU. Past ``request_timeout_s``
        the engine stops at the next step and raises ``GenerationTimeout``."""
        deadline = time.monotonic() + self.settings.request_timeout_s
        generated = [
            self.engine.generate(job.req, job.kwargs, deadline=deadline, progress=progress)
            for job in parsed.jobs
        ]
        return parsed.results(generated, queued_s)

    def render(self, results: list[Result], wants: Accept) -> Answer:
        """Encode in the negotiated format (``_render``), never over the response cap: an
        answer that is still too big is an error naming the limit."""
        answer = self._render(results, wants)
        answer_size.check_encoded(len(answer.body), self.limits.max_response_bytes)
        return answer

    def _render(self, results: list[Result], wants: Accept) -> Answer:
        """One raw file, the dialect's JSON shape for a body read in a dialect, else ours
        (base64 outputs). Every answer carries ``X-Genai-Seed`` and ``X-Genai-Timings-Ms``
        (``answer_headers``)."""
        reading = results[0].reading
        if self._answers_raw(reading, wants):
            jobs = [Job(r.req, {}) for r in results]
            self.negotiate(Parsed(results[0].envelope, jobs, reading), wants)
            fmt = self._raw_format(results[0].req, wants)
            blobs, meta = self.encode(results[0], fmt)
            headers = answer_headers(meta)
            if "nsfw" in meta:
                headers["X-Genai-Nsfw"] = "true" if meta["nsfw"][0] else "false"
            if reading is not None:
                headers.update(reading.dialect.raw_headers(_output(blobs, meta, fmt)))
            return Answer(200, blobs[0], fmt.content_type, headers)
        if reading is not None and isinstance(reading.dialect, JsonDialect):
            outputs = [
                _output(*self.encode(r, r.req.output_format), r.req.output_format) for r in results
            ]
            reply = reading.dialect.answer(reading, outputs)
            headers = {**answer_headers(outputs[0].meta), **reply.headers}
            return Answer.of_json(reply.body, headers=headers)
        answers = [self.to_json(r) for r in results]
        headers = answer_headers(answers[0]["metadata"])
        if results[0].envelope is Envelope.INSTANCES:
            return Answer.of_json({"predictions": answers}, headers=headers)
        return Answer.of_json(answers[0], headers=headers)

    def _raw_format(self, req: ResolvedRequest, wants: Accept) -> OutputFormat:
        if wants.raw_format is None or wants.raw_format is req.output_format:
            return req.output_format
        if not req.format_explicit and wants.raw_format.is_video == req.task.is_video:
            return wants.raw_format
        raise NotAcceptable(
            f"Accept: {wants.raw_format.content_type} cannot carry this answer; "
            f"it is {req.output_format.content_type}"
        )

    def to_json(self, result: Result) -> dict[str, Any]:
        blobs, meta = self.encode(result, result.req.output_format)
        ct = result.req.output_format.content_type
        nsfw = result.generated.nsfw
        outputs = []
        for i, (blob, seed) in enumerate(zip(blobs, result.generated.seeds, strict=True)):
            out = {"data": base64.b64encode(blob).decode(), "content_type": ct, "seed": seed}
            if nsfw is not None:  # only when the deployment runs a safety checker
                out["nsfw"] = nsfw[i]
            outputs.append(out)
        return {"outputs": outputs, "metadata": meta}

    def encode(self, result: Result, fmt: OutputFormat) -> tuple[list[bytes], dict[str, Any]]:
        req, gen = result.req, result.generated
        start = time.monotonic()
        blobs = [encoders.encode(frames, fmt, req.fps) for frames in gen.outputs]
        encode_s = time.monotonic() - start
        info = self.engine.info
        meta: dict[str, Any] = {
            "task": req.task.value,
            "model_id": info.model_id,
            "model_revision": info.revision,
            "engine_version": __version__,
            "seeds": gen.seeds,
            "width": gen.width,
            "height": gen.height,
            "num_inference_steps": req.num_inference_steps,
            "timings_ms": {
                "queued": round(result.queued_s * 1000, 1),
                "inference": round(gen.inference_s * 1000, 1),
                "encode": round(encode_s * 1000, 1),
            },
        }
        if req.task.is_video:
            meta.update(num_frames=len(gen.outputs[0]), fps=req.fps)
        meta.update(gen.extra)  # scheduler, loras, safety policy (batch size when batched)
        if gen.nsfw is not None:  # per output, when the deployment runs a safety checker
            meta["nsfw"] = list(gen.nsfw)
        return blobs, meta


def _output(blobs: list[bytes], meta: dict[str, Any], fmt: OutputFormat) -> Output:
    return Output(blobs, meta["seeds"], fmt.content_type, meta["width"], meta["height"], meta)


@dataclass(frozen=True)
class Plan:
    """A request checked from its own fields and its input's header, not yet decoded."""

    req: ResolvedRequest
    width: int
    height: int
    frames: int

    @property
    def work(self) -> tuple[int, int, int, int]:
        return (self.width, self.height, self.frames, self.req.num_outputs)


@dataclass(frozen=True)
class Job:
    req: ResolvedRequest
    kwargs: dict[str, Any]
    size: tuple[int, int, int] | None = None  # width, height, frames of each output


@dataclass(frozen=True)
class Parsed:
    envelope: Envelope
    jobs: list[Job]
    reading: Reading | None = None  # the body's dialect, which shapes the answer

    def results(self, generated: list[Generated], queued_s: float) -> list[Result]:
        """Each job's generation as a result that remembers how to answer (envelope,
        dialect): the one place results are made, batched or not."""
        return [
            Result(job.req, gen, queued_s, self.envelope, self.reading)
            for job, gen in zip(self.jobs, generated, strict=True)
        ]


@dataclass(frozen=True)
class Result:
    req: ResolvedRequest
    generated: Generated
    queued_s: float
    envelope: Envelope = Envelope.PLAIN
    reading: Reading | None = None
