"""SageMaker bring-your-own-container: ``docker run <image> serve``, port 8080,
``GET /ping`` and ``POST /invocations``, the model (S3 prefix, uncompressed) at
/opt/ml/model. Real-time endpoints cap the body at 6 MB; async endpoints pass bodies up
to 1 GB from S3, so infra raises ``GENAI_MAX_REQUEST_BYTES`` for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scoring.server.contracts.base import Contract, port_from

NAME = "sagemaker"
MODEL_DIR = "/opt/ml/model"
REALTIME_MAX_BYTES = 6_000_000


def matches(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    return "serve" in argv


def contract(argv: Sequence[str], env: Mapping[str, str]) -> Contract:
    # SageMaker always uses 8080; GENAI_PORT and GENAI_MODEL_DIR exist for local serving
    return Contract(
        name=NAME,
        port=port_from(env, "GENAI_PORT", 8080),
        liveness_route="/ping",
        readiness_route="/ping",
        predict_route="/invocations",
        model_source=env.get("GENAI_MODEL_DIR") or MODEL_DIR,
        max_request_bytes=REALTIME_MAX_BYTES,
    )
