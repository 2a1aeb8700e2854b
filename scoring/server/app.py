"""The ASGI app: health and predict routes of one contract over the one request path.

Everything that can refuse a request runs before the GPU queue: size (from
Content-Length, then while reading), a deadline for the body to arrive, a full queue
(429 before anything is parsed), media type,
Accept, JSON, envelope, schema, limits and input pixels (parsing runs on a small thread
pool so the event loop, and with it every health probe, stays responsive). Only then
does the request take a place in line for the GPU (``GpuWorker``). Encoding runs off the
GPU thread, so the next generation starts while the last one is encoded.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from scoring.errors import (
    InternalError,
    ModelNotReady,
    PayloadTooLarge,
    RequestError,
    RequestTimeout,
    ScoringError,
)
from scoring.server.batching import Batcher
from scoring.server.contracts import Contract
from scoring.server.settings import ServerSettings
from scoring.server.worker import GpuWorker
from scoring.service import Accept, Answer, Scorer

log = logging.getLogger("scoring.server")

LOADING_RETRY_AFTER_S = 10
DRAIN_FACTOR = 8  # an oversize body up to 8x the limit is read and discarded, then refused


class ModelState:
    """Loads the model once, in a thread, so health answers while it loads."""

    def __init__(self) -> None:
        self.scorer: Scorer | None = None
        self.worker: GpuWorker | None = None
        self.error: str | None = None
        self.loaded = threading.Event()

    @property
    def status(self) -> str:
        if self.error is not None:
            return "failed"
        return "ready" if self.scorer is not None else "loading"

    def start(self, load: Callable[[], Scorer]) -> None:
        threading.Thread(target=self._load, args=(load,), name="load", daemon=True).start()

    def _load(self, load: Callable[[], Scorer]) -> None:
        try:
            scorer = load()
        except ScoringError as exc:
            self.error = exc.message
            log.error("model failed to load: %s", self.error)
        except Exception as exc:  # a bug or a broken image: say so, keep answering health
            self.error = f"cannot load the model ({type(exc).__name__}); see the server log"
            log.exception("model failed to load")
        else:
            self.scorer = scorer
            log.info("model ready: %s", scorer.engine.info.model_id)
        finally:
            self.loaded.set()


def build_app(contract: Contract, settings: ServerSettings, state: ModelState) -> Starlette:
    pool = ThreadPoolExecutor(settings.parse_threads, thread_name_prefix="parse")

    def answer(a: Answer, extra: dict[str, str] | None = None) -> Response:
        return Response(a.body, a.status, {**a.headers, **(extra or {})}, a.content_type)

    def not_ready() -> Response:
        if state.error is not None:
            err = ModelNotReady(f"model failed to load: {state.error}")
            return answer(Answer.of_json({"status": "failed", "error": err.message}, 503))
        return answer(
            Answer.of_json({"status": "loading"}, 503),
            {"Retry-After": str(LOADING_RETRY_AFTER_S)},
        )

    def worker() -> GpuWorker:
        if state.worker is None:  # first request after loading: the queue is born on the loop
            scorer = state.scorer
            assert scorer is not None
            state.worker = GpuWorker(
                scorer.run,
                max_queue=scorer.settings.max_queue,
                queue_timeout_s=scorer.settings.queue_timeout_s,
                batcher=Batcher(scorer) if scorer.settings.batch_window_ms > 0 else None,
            )
        return state.worker

    async def liveness(request: Request) -> Response:
        if state.error is not None:
            return not_ready()
        return answer(Answer.of_json({"status": "ok" if state.scorer else "loading"}))

    async def readiness(request: Request) -> Response:
        if state.scorer is None:
            return not_ready()
        body = state.scorer.health()
        if state.worker is not None:
            body.update(busy=state.worker.busy, waiting=state.worker.waiting)
        body["contract"] = contract.name
        if state.scorer.startup is not None:  # where the start-up went (scoring.server.startup)
            body["startup"] = state.scorer.startup
        return answer(Answer.of_json(body))

    async def predict(request: Request) -> Response:
        scorer = state.scorer
        if scorer is None:
            return not_ready()
        loop = asyncio.get_running_loop()
        try:
            body = await read_body(request, scorer.limits.max_request_bytes, settings)
            worker().check_room()  # a full line refuses before any parsing or decoding
            wants = Accept(request.headers.get("accept"))
            content_type = request.headers.get("content-type")

            def parse():
                parsed = scorer.parse(body, content_type, dialect_header(request))
                scorer.negotiate(parsed, wants)
                return parsed

            parsed = await loop.run_in_executor(pool, parse)
            results = await worker().submit(parsed)
            return answer(await loop.run_in_executor(pool, scorer.render, results, wants))
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is listening; nothing to say
        except BodyDiscarded as err:
            return answer(Answer.of_error(err))
        except (PayloadTooLarge, RequestTimeout) as err:
            # the rest of the body was never read: the connection cannot carry another request
            return answer(Answer.of_error(err), {"Connection": "close"})
        except ScoringError as err:
            return answer(Answer.of_error(err))
        except Exception:  # a bug or a GPU fault: log it whole, answer without internals
            log.exception("request failed")
            return answer(Answer.of_error(InternalError()))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        allowed = {
            contract.liveness_route: "GET",
            contract.readiness_route: "GET",
            contract.predict_route: "POST",
        }
        if status == 405:
            message = f"{request.url.path}: use {allowed.get(request.url.path, 'GET')}"
        else:
            routes = ", ".join(f"{m} {p}" for p, m in sorted(allowed.items()))
            message = f"{request.url.path}: no such route; this server answers {routes}"
        body: dict[str, Any] = {"error": {"code": status, "message": message}}
        return answer(Answer.of_json(body, status))

    routes = [Route(contract.liveness_route, liveness, methods=["GET"])]
    if contract.readiness_route != contract.liveness_route:
        routes.append(Route(contract.readiness_route, readiness, methods=["GET"]))
    else:  # one route for both: it must say "ready" only when the model is
        routes = [Route(contract.readiness_route, readiness, methods=["GET"])]
    routes.append(Route(contract.predict_route, predict, methods=["POST"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.model = state
    return app


def dialect_header(request: Request) -> str | None:
    """A dialect named in a header: ``X-Genai-Dialect: NAME``, or SageMaker's pass-through
    ``X-Amzn-SageMaker-Custom-Attributes: dialect=NAME`` (the one header InvokeEndpoint
    forwards; ``CustomAttributes`` in boto3). None: told from Content-Type or the body."""
    named = request.headers.get("x-genai-dialect")
    if named:
        return named.strip()
    for part in request.headers.get("x-amzn-sagemaker-custom-attributes", "").split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() == "dialect" and value.strip():
            return value.strip()
    return None


class BodyDiscarded(PayloadTooLarge):
    """An oversize body that was read to its end and thrown away: the connection stays
    usable, so the 413 needs no ``Connection: close``."""


async def read_body(request: Request, limit: int, settings: ServerSettings) -> bytes:
    """The whole body, refused as soon as it is known to be too big or too slow.

    A declared Content-Length over the limit is refused before a byte is kept. Up to
    ``DRAIN_FACTOR`` times the limit the rest is read and discarded first (a client still
    sending would otherwise see its connection reset instead of the 413); beyond that, or
    for a body that turns out too big while streaming, the answer goes out at once and the
    connection is closed.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError("Content-Length: not a whole number of bytes", field="body")
        if int(declared) > limit:
            refusal = f"body: {declared} bytes; at most {limit}"
            if int(declared) <= DRAIN_FACTOR * limit:
                async for _ in timed_chunks(request, settings):
                    pass
                raise BodyDiscarded(refusal, field="body")
            raise PayloadTooLarge(refusal, field="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in timed_chunks(request, settings):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body: more than {limit} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


async def timed_chunks(request: Request, settings: ServerSettings) -> AsyncIterator[bytes]:
    """The body's chunks, each within the idle timeout and all within the body timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.body_timeout_s
    size = 0
    stream = request.stream().__aiter__()
    while True:
        wait = min(settings.body_idle_timeout_s, deadline - loop.time())
        if wait <= 0:
            raise RequestTimeout(
                f"body: not received within {settings.body_timeout_s:g} s", field="body"
            )
        try:
            chunk = await asyncio.wait_for(anext(stream), wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestTimeout(
                f"body: the client sent nothing for {wait:.3g} s (after {size} bytes)",
                field="body",
            ) from None
        size += len(chunk)
        yield chunk
