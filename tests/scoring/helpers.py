"""How the scoring tests reach the request path: through the server's own app
(``scoring.server.app``), in process, as every cloud's container runs it. Body limits,
Accept, parsing on the parse threads, the GPU worker's line, rendering and the mapping of
every failure to its answer are then the ones production runs, not a copy of them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

JSON = "application/json"


@dataclass
class Reply:
    """The server's answer: status, body, media type and headers (case-insensitive)."""

    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Served:
    """One scorer behind the server's app (SageMaker's contract: each contract's routes are
    tested in tests/server; the request path behind them is one)."""

    def __init__(self, scorer) -> None:
        from scoring.server.app import ModelState, build_app
        from scoring.server.contracts import detect
        from scoring.server.settings import ServerSettings

        self.state = ModelState()
        self.state.scorer = scorer
        self.state.loaded.set()
        self.contract = detect(["serve"], {})
        self.app = build_app(self.contract, ServerSettings(), self.state)

    async def post_async(
        self, body: bytes, content_type: str | None = JSON, accept: str | None = None
    ) -> Reply:
        import httpx

        headers = {"content-type": content_type} if content_type is not None else {}
        if accept is not None:
            headers["accept"] = accept
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            reply = await client.post(
                self.contract.predict_route, content=body, headers=headers, timeout=300
            )
        return Reply(
            reply.status_code, reply.content, reply.headers.get("content-type", ""), reply.headers
        )

    def post(
        self, body: bytes, content_type: str | None = JSON, accept: str | None = None
    ) -> Reply:
        import anyio

        return anyio.run(partial(self.post_async, body, content_type, accept))

    @property
    def idle(self) -> bool:
        """Nothing running on the GPU thread and nobody waiting for it."""
        worker = self.state.worker
        return worker is None or not (worker.busy or worker.waiting)

    def close(self) -> None:
        if self.state.worker is not None:
            self.state.worker.shutdown()


def post(scorer, body: bytes, content_type: str | None = JSON, accept: str | None = None) -> Reply:
    """One request to ``scorer`` through the server's app; its answer."""
    served = Served(scorer)
    try:
        return served.post(body, content_type, accept)
    finally:
        served.close()
