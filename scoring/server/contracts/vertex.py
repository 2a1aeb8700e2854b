"""Vertex AI custom container: ``AIP_HTTP_PORT``, ``AIP_HEALTH_ROUTE``,
``AIP_PREDICT_ROUTE``, and the model artifacts at ``AIP_STORAGE_URI`` (a gs:// prefix
the container fetches itself). Shared public endpoints cap a request at 1.5 MB;
dedicated endpoints at 10 MB (infra raises ``GENAI_MAX_REQUEST_BYTES`` for them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scoring.server.contracts.base import Contract, ContractError, port_from, route_from

NAME = "vertex"
SHARED_MAX_BYTES = 1_500_000


def matches(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    return "AIP_HTTP_PORT" in env


def contract(argv: Sequence[str], env: Mapping[str, str]) -> Contract:
    source = env.get("AIP_STORAGE_URI", "").strip()
    if not source:
        raise ContractError(
            "AIP_STORAGE_URI is not set: deploy the model with artifactUri pointing at the "
            "package's weights prefix (gs://BUCKET/models/<digest>/)"
        )
    health = route_from(env, "AIP_HEALTH_ROUTE", "/health")
    return Contract(
        name=NAME,
        port=port_from(env, "AIP_HTTP_PORT", 8080),
        liveness_route=health,
        readiness_route=health,
        predict_route=route_from(env, "AIP_PREDICT_ROUTE", "/predict"),
        model_source=source,
        max_request_bytes=SHARED_MAX_BYTES,
    )
