"""The serving container's environment, the same rules on every cloud.

The package's ``runtime.env`` (``GENAI_CONTRACT``, ``GENAI_MODEL_ID``, …) comes first; the
keys the plan owns come after and win, so a package can never widen what the deployment was
sized for (a real-time timeout, a request size). ``GENAI_CONTRACT`` is always set to the
cloud's contract (the server picks its routes and model folder from it).
"""

from __future__ import annotations

from infra.manifest import PackageManifest

QUEUE_SHARE = 4  # at most a quarter of the request time is spent waiting for the GPU
QUEUE_MAX_S = 30
MARGIN_S = 5  # network and server overhead inside the cloud's request timeout


def time_split(timeout_s: int) -> tuple[int, int]:
    """``(queue wait, generation)`` seconds that fit inside a ``timeout_s`` request."""
    queue = max(1, min(QUEUE_MAX_S, timeout_s // QUEUE_SHARE))
    return queue, max(1, timeout_s - queue - MARGIN_S)


def container_env(
    manifest: PackageManifest,
    contract: str,
    *,
    task: str,
    timeout_s: int,
    max_request_bytes: int | None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment for the runtime image serving ``manifest`` under ``contract``."""
    queue, generation = time_split(timeout_s)
    env = dict(manifest.runtime.env)
    env.update(
        {
            "GENAI_CONTRACT": contract,
            "GENAI_MODEL_ID": manifest.model.id,
            "GENAI_MODEL_REVISION": manifest.model.revision,
            "GENAI_WEIGHTS_DIGEST": manifest.weights.digest,
            "GENAI_TASK": task,
            "GENAI_QUEUE_TIMEOUT_S": str(queue),
            "GENAI_REQUEST_TIMEOUT_S": str(generation),
        }
    )
    if max_request_bytes is not None:
        env["GENAI_MAX_REQUEST_BYTES"] = str(max_request_bytes)
    env.update(extra or {})
    return env
