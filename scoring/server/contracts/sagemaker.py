"""SageMaker bring-your-own-container: ``docker run <image> serve``, port 8080,
``GET /ping`` and ``POST /invocations``, the model (S3 prefix, uncompressed) at
/opt/ml/model. Real-time endpoints cap the body at 6 MB and a call at 60 s; async
endpoints pass bodies up to 1 GB from S3 and wait up to 3600 s
(``InvocationTimeoutSeconds``), so infra raises ``GENAI_MAX_REQUEST_BYTES`` for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scoring.server.contracts.base import Contract, Descriptor, Limit, LocalRun, Routes, port_from

NAME = "sagemaker"
MODEL_DIR = "/opt/ml/model"
PORT = 8080
ROUTES = Routes(liveness="/ping", readiness="/ping", predict="/invocations")
REALTIME = Limit(
    "realtime", max_request_bytes=6_000_000, max_response_bytes=6_000_000, timeout_s=60
)
ASYNC = Limit("async", max_request_bytes=1_000_000_000, max_response_bytes=None, timeout_s=3600)


def matches(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    return "serve" in argv


def contract(argv: Sequence[str], env: Mapping[str, str]) -> Contract:
    # SageMaker always uses 8080; GENAI_PORT and GENAI_MODEL_DIR exist for local serving
    return Contract(
        name=NAME,
        port=port_from(env, "GENAI_PORT", PORT),
        liveness_route=ROUTES.liveness,
        readiness_route=ROUTES.readiness,
        predict_route=ROUTES.predict,
        model_source=env.get("GENAI_MODEL_DIR") or MODEL_DIR,
        max_request_bytes=REALTIME.max_request_bytes,
    )


def local_env(run: LocalRun) -> dict[str, str]:
    """The port and model folder SageMaker fixes (8080, /opt/ml/model), moved for a laptop."""
    return {"GENAI_PORT": str(run.port), "GENAI_MODEL_DIR": run.model_dir}


DESCRIPTOR = Descriptor(
    name=NAME,
    cloud="aws",
    title="SageMaker",
    port=PORT,
    routes=ROUTES,
    envelope="inputs",
    limits=(REALTIME, ASYNC),
    server_max_request_bytes=REALTIME.max_request_bytes,
    args=("serve",),
    started_by="the argument 'serve'",
    env_prefixes=(),
    matches=matches,
    contract=contract,
    local_env=local_env,
    # "SageMaker AI expects all containers to run with root users ... users that do not have
    # root-level access can cause permissions issues"; the platform writes /opt/ml/model
    # with modes of its choosing
    requires_root=(
        "https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html"
    ),
)
