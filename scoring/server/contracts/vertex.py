"""Vertex AI custom container: ``AIP_HTTP_PORT``, ``AIP_HEALTH_ROUTE``,
``AIP_PREDICT_ROUTE``, and the model artifacts at ``AIP_STORAGE_URI`` (a gs:// prefix
the container fetches itself). Shared public endpoints cap a request at 1.5 MB and 60 s;
dedicated endpoints at 10 MB and (with ``inferenceTimeout`` raised) 3600 s (infra raises
``GENAI_MAX_REQUEST_BYTES`` for them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scoring.server.contracts.base import (
    Contract,
    ContractError,
    Descriptor,
    Limit,
    LocalRun,
    Routes,
    port_from,
    route_from,
)

NAME = "vertex"
PORT = 8080
ROUTES = Routes(liveness="/health", readiness="/health", predict="/predict")
SHARED = Limit("shared", max_request_bytes=1_500_000, max_response_bytes=1_500_000, timeout_s=60)
DEDICATED = Limit(
    "dedicated", max_request_bytes=10_000_000, max_response_bytes=10_000_000, timeout_s=3600
)


def matches(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    return "AIP_HTTP_PORT" in env


def contract(argv: Sequence[str], env: Mapping[str, str]) -> Contract:
    source = env.get("AIP_STORAGE_URI", "").strip()
    if not source:
        raise ContractError(
            "AIP_STORAGE_URI is not set: deploy the model with artifactUri pointing at the "
            "package's weights prefix (gs://BUCKET/models/<digest>/)"
        )
    health = route_from(env, "AIP_HEALTH_ROUTE", ROUTES.readiness)
    return Contract(
        name=NAME,
        port=port_from(env, "AIP_HTTP_PORT", PORT),
        liveness_route=health,
        readiness_route=health,
        predict_route=route_from(env, "AIP_PREDICT_ROUTE", ROUTES.predict),
        model_source=source,
        max_request_bytes=SHARED.max_request_bytes,
    )


def local_env(run: LocalRun) -> dict[str, str]:
    """The AIP_* variables Vertex sets, with the routes infra writes into containerSpec and
    the weights as a gs:// URI (as on Vertex) or the local folder."""
    return {
        "AIP_HTTP_PORT": str(run.port),
        "AIP_HEALTH_ROUTE": run.health_route,
        "AIP_PREDICT_ROUTE": run.predict_route,
        "AIP_STORAGE_URI": run.storage_uri or run.model_dir,
    }


DESCRIPTOR = Descriptor(
    name=NAME,
    cloud="gcp",
    title="Vertex AI",
    port=PORT,
    routes=ROUTES,
    envelope="instances",
    limits=(SHARED, DEDICATED),
    server_max_request_bytes=SHARED.max_request_bytes,
    args=(),
    started_by="AIP_HTTP_PORT",
    env_prefixes=("AIP_",),
    matches=matches,
    contract=contract,
    local_env=local_env,
    # no user requirement for a custom container, which fetches its own weights:
    # https://cloud.google.com/vertex-ai/docs/predictions/custom-container-requirements
    requires_root=None,
)
