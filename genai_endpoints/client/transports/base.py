"""What every transport shares: the answer types, our contracts' envelopes, and HTTP.

A transport makes ONE attempt; ``retry.py`` waits and retries, ``client.py`` falls back.
``check`` runs before any call and raises ``UnsupportedRequest`` for fields the backend
cannot honour, so a bad request never costs a call.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from genai_endpoints.client.errors import CallError, UnsupportedRequest, parse_retry_after
from scoring.schema import GenerationRequest, Task
from scoring.server.contracts import CLOUDS

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Output:
    data: bytes
    content_type: str
    seed: int | None = None


@dataclass
class Answer:
    outputs: list[Output]
    model_id: str | None = None
    model_revision: str | None = None
    server_s: float | None = None  # GPU-busy seconds the server reports (inference + encode)
    metadata: dict[str, Any] = field(default_factory=dict)


class Transport(ABC):
    """One backend. ``identity`` names what answers (never a secret) for the cache key."""

    kind: str = ""
    identity: str = ""
    model_id: str | None = None
    model_revision: str | None = None
    seeded: bool = True  # False: this backend drops the seed (never cached)

    def check(self, req: GenerationRequest) -> None:
        """Raise ``UnsupportedRequest`` naming every field this backend cannot honour
        (by default: none)."""
        return None

    @abstractmethod
    def call(self, req: GenerationRequest, timeout: float, progress: Progress | None) -> Answer:
        """One generation; ``CallError`` (with the backend's status and message) on failure."""

    def close(self) -> None:
        """Release connections (by default: it holds none)."""
        return None


def plain_request(req: GenerationRequest) -> dict[str, Any]:
    """The request as JSON, fields left unset omitted (the server applies its defaults)."""
    return req.model_dump(mode="json", exclude_none=True)


def envelope(contract: str, req: GenerationRequest) -> dict[str, Any]:
    """The body each of our contracts' own clients send (the contract's descriptor)."""
    return CLOUDS[contract].wrap(plain_request(req))


def parse_contract_answer(payload: Any, where: str) -> Answer:
    """Our server's JSON answer (to an ``instances`` body: its first prediction) as an
    ``Answer``."""
    if isinstance(payload, dict) and isinstance(payload.get("predictions"), list):
        predictions = payload["predictions"]
        if not predictions:
            raise CallError(f"{where}: the answer had no predictions", status=502)
        payload = predictions[0]
    if not isinstance(payload, dict) or not isinstance(payload.get("outputs"), list):
        raise CallError(f"{where}: the answer has no 'outputs' list", status=502)
    outputs = []
    for i, out in enumerate(payload["outputs"]):
        try:
            data = base64.b64decode(out["data"], validate=True)
        except (KeyError, TypeError, binascii.Error):
            raise CallError(f"{where}: outputs[{i}].data is not base64", status=502) from None
        outputs.append(
            Output(data, out.get("content_type", "application/octet-stream"), out.get("seed"))
        )
    meta = payload.get("metadata") or {}
    timings = meta.get("timings_ms") or {}
    busy = None
    if "inference" in timings:
        busy = (float(timings.get("inference", 0)) + float(timings.get("encode", 0))) / 1000
    return Answer(outputs, meta.get("model_id"), meta.get("model_revision"), busy, meta)


def error_message(body: bytes, fallback: str) -> str:
    """The message of a JSON error body in any of the shapes our backends use."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body[:200].decode("utf-8", "replace").strip()
        return text or fallback
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "Message", "detail"):
                if isinstance(err.get(key), str):
                    return err[key]
        if isinstance(err, str):
            return err
        for key in ("message", "Message"):
            if isinstance(data.get(key), str):
                return data[key]
    return fallback


class HttpPoster:
    """POST JSON with a timeout and map failures to ``CallError`` (keep-alive client)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._client = None

    @property
    def client(self):
        """Made on first use, sharing one TLS context (building one reads the CA bundle)."""
        if self._client is None:
            import httpx

            self._client = httpx.Client(follow_redirects=False, verify=_tls_context())
        return self._client

    def post(
        self, url: str, body: dict, timeout: float, headers: dict[str, str] | None = None
    ) -> Any:
        import httpx

        all_headers = {"Content-Type": "application/json", "Accept": "application/json"}
        all_headers.update(headers or {})
        try:
            resp = self.client.post(
                url,
                content=json.dumps(body).encode(),
                headers=all_headers,
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            )
        except httpx.TimeoutException:
            raise CallError(f"{self.label}: no answer within {timeout:g} s", timeout=True) from None
        except httpx.TransportError as exc:
            raise CallError(
                f"{self.label}: cannot connect ({type(exc).__name__})", connection=True
            ) from None
        if resp.status_code >= 400:
            message = error_message(resp.content, resp.reason_phrase or "error")
            raise CallError(
                f"{self.label}: {resp.status_code} {message}",
                status=resp.status_code,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            )
        try:
            return resp.json()
        except ValueError:
            raise CallError(f"{self.label}: the answer is not JSON", status=502) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


@functools.cache
def _tls_context():
    import os
    import ssl

    import certifi

    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or certifi.where())


def text_to_image_only(req: GenerationRequest, backend: str) -> list[str]:
    """Problems for a text-to-image-only API (managed APIs take no input images or video)."""
    problems = []
    if req.task not in (None, Task.TEXT_TO_IMAGE):
        problems.append(f"task: {backend} does text-to-image only (got {req.task.value})")
    for name in ("image", "mask", "strength", "outpaint", "num_frames", "fps"):
        if getattr(req, name) is not None:
            problems.append(f"{name}: {backend} does text-to-image only; remove {name}")
    if req.output_format is not None and req.output_format.is_video:
        problems.append(f"output_format: {backend} makes images, not {req.output_format.value}")
    return problems


def unsupported(problems: list[str]) -> None:
    if problems:
        field_name = problems[0].split(":", 1)[0]
        raise UnsupportedRequest("; ".join(problems), field=field_name)


def set_fields(req: GenerationRequest) -> set[str]:
    """Fields the caller chose (not the schema's defaults)."""
    return {name for name in req.model_fields_set if getattr(req, name) is not None}


def ratio_name(width: int, height: int, allowed: tuple[str, ...]) -> str | None:
    """The aspect-ratio name (e.g. ``16:9``) that ``width x height`` is exactly, if allowed."""
    from math import gcd

    g = gcd(width, height)
    name = f"{width // g}:{height // g}"
    return name if name in allowed else None
