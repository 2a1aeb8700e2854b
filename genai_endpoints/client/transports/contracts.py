"""Our serving contracts over plain HTTP: a local ``genai-endpoints serve`` server.

The target's kind names the contract; its descriptor (``scoring.server.contracts``) gives
the predict route (``{url}`` + route) and the envelope the body is wrapped in.
"""

from __future__ import annotations

from genai_endpoints.client.transports.base import (
    Answer,
    HttpPoster,
    Progress,
    Transport,
    envelope,
    parse_contract_answer,
)
from scoring.schema import GenerationRequest
from scoring.server.contracts import CONTRACTS


class ContractHttp(Transport):
    def __init__(
        self, contract: str, url: str, model_id: str | None, model_revision: str | None
    ) -> None:
        self.kind = contract
        self.contract = contract
        self.url = url.rstrip("/") + CONTRACTS[contract].routes.predict
        self.identity = f"{contract}+http:{self.url}"
        self.model_id = model_id
        self.model_revision = model_revision
        self.http = HttpPoster(f"{contract} {url.rstrip('/')}")

    def call(self, req: GenerationRequest, timeout: float, progress: Progress | None) -> Answer:
        payload = self.http.post(self.url, envelope(self.contract, req), timeout)
        return parse_contract_answer(payload, self.http.label)

    def close(self) -> None:
        self.http.close()
