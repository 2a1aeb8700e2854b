"""Map the envelopes that real clients send onto the one request schema.

- ``{"inputs": "<prompt>", "parameters": {...}}``: SageMaker / Hugging Face style.
- ``{"instances": [...], "parameters": {...}}``: Vertex AI prediction requests.
- a plain object such as ``{"prompt": "...", "num_frames": 16}``: Azure ML and curl.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from scoring.errors import RequestError
from scoring.settings import Limits


class Envelope(StrEnum):
    INPUTS = "inputs"
    INSTANCES = "instances"
    PLAIN = "plain"


@dataclass(frozen=True)
class Unwrapped:
    """The envelope kind (answers are shaped to match it) and the plain request objects."""

    envelope: Envelope
    requests: list[dict[str, Any]]


def unwrap(payload: Any, limits: Limits) -> Unwrapped:
    if not isinstance(payload, dict):
        raise RequestError(
            'body must be a JSON object: {"prompt": ...}, {"inputs": ..., "parameters": ...}'
            f' or {{"instances": [...], "parameters": ...}}; got {type(payload).__name__}'
        )
    kinds = [key for key in ("inputs", "instances") if key in payload]
    if len(kinds) > 1:
        raise RequestError("body: use either 'inputs' or 'instances', not both", field="inputs")
    if not kinds:
        if "parameters" in payload:
            raise RequestError(
                "parameters: only allowed beside 'inputs' or 'instances'", field="parameters"
            )
        return Unwrapped(Envelope.PLAIN, [payload])

    parameters = payload.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError("parameters: must be a JSON object", field="parameters")
    extra = sorted(set(payload) - {kinds[0], "parameters"})
    if extra:
        raise RequestError(
            f"{extra[0]}: unknown top-level field beside '{kinds[0]}'; "
            f"allowed: {kinds[0]}, parameters",
            field=extra[0],
        )

    if kinds[0] == "inputs":
        return Unwrapped(Envelope.INPUTS, [_merge(payload["inputs"], parameters, "inputs")])

    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError("instances: must be a non-empty list", field="instances")
    if len(instances) > limits.max_instances:
        raise RequestError(
            f"instances: at most {limits.max_instances} per request (got {len(instances)})",
            field="instances",
        )
    return Unwrapped(
        Envelope.INSTANCES,
        [_merge(inst, parameters, f"instances[{i}]") for i, inst in enumerate(instances)],
    )


def _merge(item: Any, parameters: dict[str, Any], where: str) -> dict[str, Any]:
    """An item is a prompt string or an object; its own fields win over shared parameters."""
    if isinstance(item, str):
        item = {"prompt": item}
    if not isinstance(item, dict):
        raise RequestError(
            f"{where}: must be a prompt string or a JSON object (got {type(item).__name__})",
            field=where,
        )
    return {**parameters, **item}
