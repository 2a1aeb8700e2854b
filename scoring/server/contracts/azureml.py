"""Azure ML managed online deployment with a custom container: the environment's
inference config names the port and the liveness, readiness and scoring routes (infra
writes the same values there), and the model asset is mounted at ``AZUREML_MODEL_DIR``.
The front end accepts 100 MB; the default here is lower because a legitimate request
(two images at the pixel limit, base64) never needs more."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scoring.server.contracts.base import Contract, ContractError, port_from

NAME = "azureml"
PORT = 5001
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
        liveness_route="/",
        readiness_route="/ready",
        predict_route="/score",
        model_source=model_dir,
        max_request_bytes=DEFAULT_MAX_BYTES,
    )
