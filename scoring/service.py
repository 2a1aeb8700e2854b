"""The cloud-neutral request path: bytes in, an HTTP-style answer out.

Every cloud adapter calls ``Scorer``; they differ only in transport. Order matters:
size, JSON, envelope, schema, model and limits, and input pixels are all checked before
a request queues for the GPU, so nothing invalid reaches the model.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from scoring import __version__
from scoring.encoders import encode
from scoring.engine import Engine, Generated, Progress
from scoring.envelopes import Envelope, unwrap
from scoring.errors import (
    NotAcceptable,
    PayloadTooLarge,
    RequestError,
    ScoringError,
    UnsupportedMediaType,
)
from scoring.gate import GenerationGate
from scoring.schema import CONTENT_TYPES, OutputFormat, ResolvedRequest, parse_request, resolve

log = logging.getLogger(__name__)

JSON = "application/json"


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
        return cls.of_json(err.to_dict(), err.status, err.headers())


class Accept:
    """What the caller's Accept header asks for: JSON, or raw bytes of one format."""

    def __init__(self, header: str | None) -> None:
        self.raw_format: OutputFormat | None = None
        self.raw_any = False
        kinds = [p.split(";")[0].strip().lower() for p in (header or "").split(",") if p.strip()]
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
        raise NotAcceptable(f"Accept: cannot answer with {header!r}; allowed: {allowed}")

    @property
    def raw(self) -> bool:
        return self.raw_any or self.raw_format is not None


class Scorer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.limits = engine.settings.limits
        self.gate = GenerationGate(self.settings.max_queue, self.settings.queue_timeout_s)

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

    def handle(
        self, body: bytes, content_type: str | None = JSON, accept: str | None = None
    ) -> Answer:
        """Bytes in, answer out; every failure becomes its 4xx/5xx answer, never a raise."""
        try:
            if len(body) > self.limits.max_request_bytes:
                raise PayloadTooLarge(
                    f"body: {len(body)} bytes; at most {self.limits.max_request_bytes}"
                )
            base = (content_type or JSON).split(";")[0].strip().lower()
            if base not in (JSON, "text/json", "application/x-json"):
                raise UnsupportedMediaType(f"Content-Type: {content_type!r}; send {JSON}")
            try:
                payload = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise RequestError(f"body: not valid JSON ({exc})") from None
            return self.handle_payload(payload, accept)
        except ScoringError as err:
            return Answer.of_error(err)

    def handle_payload(self, payload: Any, accept: str | None = None) -> Answer:
        try:
            wants = Accept(accept)
            unwrapped = unwrap(payload, self.limits)
            jobs = [self.validate(item, wants) for item in unwrapped.requests]
            if wants.raw and (len(jobs) > 1 or jobs[0][0].num_outputs > 1):
                raise NotAcceptable(
                    f"Accept: {accept} asks for one raw file, but the request makes "
                    "several outputs; accept application/json instead"
                )
            results = self.run(jobs)
        except ScoringError as err:
            return Answer.of_error(err)
        except Exception:  # a bug or a GPU fault: log it whole, answer without internals
            log.exception("generation failed")
            return Answer.of_json({"error": {"code": 500, "message": "internal error"}}, 500)

        if wants.raw:
            data, meta = results[0]["_raw"], results[0]["metadata"]
            headers = {
                "X-Genai-Seed": str(meta["seeds"][0]),
                "X-Genai-Timings-Ms": json.dumps(meta["timings_ms"], separators=(",", ":")),
            }
            return Answer(200, data, results[0]["outputs"][0]["content_type"], headers)
        for r in results:
            r.pop("_raw", None)
        if unwrapped.envelope is Envelope.INSTANCES:
            return Answer.of_json({"predictions": results})
        return Answer.of_json(results[0])

    def validate(self, item: dict, wants: Accept) -> tuple[ResolvedRequest, dict]:
        """Schema, model, limits and input pixels: everything short of running the model."""
        if wants.raw_format is not None and "output_format" not in item and isinstance(item, dict):
            item = {**item, "output_format": wants.raw_format.value}
        req = resolve(parse_request(item), self.engine.info, self.limits)
        if wants.raw_format is not None and req.output_format is not wants.raw_format:
            raise NotAcceptable(
                f"Accept: {wants.raw_format.content_type} conflicts with output_format "
                f"{req.output_format.value}"
            )
        return req, self.engine.prepare(req)

    def run(
        self, jobs: list[tuple[ResolvedRequest, dict]], progress: Progress | None = None
    ) -> list[dict[str, Any]]:
        with self.gate.slot() as queued_s:
            deadline = time.monotonic() + self.settings.request_timeout_s
            generated = [
                self.engine.generate(req, kw, deadline=deadline, progress=progress)
                for req, kw in jobs
            ]
        return [
            self._answer(req, gen, queued_s) for (req, _), gen in zip(jobs, generated, strict=True)
        ]

    def _answer(self, req: ResolvedRequest, gen: Generated, queued_s: float) -> dict[str, Any]:
        start = time.monotonic()
        blobs = [encode(frames, req.output_format, req.fps) for frames in gen.outputs]
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
                "queued": round(queued_s * 1000, 1),
                "inference": round(gen.inference_s * 1000, 1),
                "encode": round(encode_s * 1000, 1),
            },
        }
        if req.task.is_video:
            meta.update(num_frames=len(gen.outputs[0]), fps=req.fps)
        ct = req.output_format.content_type
        return {
            "outputs": [
                {"data": base64.b64encode(b).decode(), "content_type": ct, "seed": s}
                for b, s in zip(blobs, gen.seeds, strict=True)
            ],
            "metadata": meta,
            "_raw": blobs[0],
        }
