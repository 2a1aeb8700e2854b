"""Azure ML managed online deployment with a custom container: the environment's
inference config names the port and the liveness, readiness and scoring routes (infra
writes the same values there), and the model asset is mounted at ``AZUREML_MODEL_DIR``.
The front end accepts 100 MB and ``request_timeout_ms`` at most 180 s; the server's
default body limit is lower because a legitimate request (two images at the pixel limit,
base64) never needs more."""

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
)

NAME = "azureml"
PORT = 5001
ROUTES = Routes(liveness="/", readiness="/ready", predict="/score")
MANAGED = Limit("managed", max_request_bytes=100_000_000, max_response_bytes=None, timeout_s=180)
DEFAULT_MAX_BYTES = 32_000_000


def matches(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    return "AZUREML_MODEL_DIR" in env


def contract(argv: Sequence[str], env: Mapping[str, str]) -> Contract:
    model_dir = env.get("AZUREML_MODEL_DIR", "").strip()
    if not model_dir:
        raise ContractError("AZUREML_MODEL_DIR is not set: deploy with a model asset")
    return Contract(
        name=NAME,
        port=port_from(env, "GENAI_PORT", PORT),
        liveness_route=ROUTES.liveness,
        readiness_route=ROUTES.readiness,
        predict_route=ROUTES.predict,
        model_source=model_dir,
        max_request_bytes=DEFAULT_MAX_BYTES,
    )


def local_env(run: LocalRun) -> dict[str, str]:
    """The model asset's folder; port and routes stay the inference config's, but the port
    moves for a laptop."""
    return {"GENAI_PORT": str(run.port), "AZUREML_MODEL_DIR": run.model_dir}


DESCRIPTOR = Descriptor(
    name=NAME,
    cloud="azure",
    title="Azure ML",
    port=PORT,
    routes=ROUTES,
    envelope="plain",
    limits=(MANAGED,),
    server_max_request_bytes=DEFAULT_MAX_BYTES,
    args=(),
    started_by="AZUREML_MODEL_DIR",
    env_prefixes=("AZUREML_",),
    matches=matches,
    contract=contract,
    local_env=local_env,
    # Azure ML's own inference images "run as non-root user", so its read-only model mount
    # is readable without root:
    # https://learn.microsoft.com/en-us/azure/machine-learning/concept-prebuilt-docker-images-inference
    requires_root=None,
)
