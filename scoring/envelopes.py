"""Map the envelopes that real clients send onto the one request schema.

- ``{"inputs": "<prompt>", "parameters": {...}}``: SageMaker / Hugging Face style.
- ``{"instances": [...], "parameters": {...}}``: Vertex AI prediction requests.
- a plain object such as ``{"prompt": "...", "num_frames": 16}``: Azure ML and curl.

A body written for another image API (``scoring.dialects``) is read by its dialect first;
``unwrap`` is the one place both meet, so every request, in any dialect, then goes through
the same schema, limits and errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from scoring.dialects import ModelShape, Reading
from scoring.dialects import read as read_dialect
from scoring.dialects.base import shape_of
from scoring.errors import RequestError, clip
from scoring.jsonbody import json_type
from scoring.settings import Limits


class Envelope(StrEnum):
    INPUTS = "inputs"
    INSTANCES = "instances"
    PLAIN = "plain"


@dataclass(frozen=True)
class Unwrapped:
    """The envelope kind (answers are shaped to match it) and the plain request objects.

    ``own[i]`` holds the fields request ``i`` got from its own item rather than from the
    shared ``parameters``, and ``from_string[i]`` whether its item was a bare prompt, so
    that an error can name the place the caller wrote the value (``locate``).
    """

    envelope: Envelope
    requests: list[dict[str, Any]]
    own: list[frozenset[str]] = field(default_factory=list)
    from_string: list[bool] = field(default_factory=list)
    reading: Reading | None = None  # set when the body is written in another API's dialect

    def locate(self, index: int, name: str) -> str:
        """Where field ``name`` of request ``index`` was written in the body."""
        if self.reading is not None:
            return self.reading.locate(index, name)
        root = name.split(".")[0]
        if self.envelope is Envelope.PLAIN:
            return name
        if self.envelope is Envelope.INPUTS:
            return "inputs" if root == "prompt" and self.from_string[index] else name
        if root not in self.own[index] and root in self.requests[index]:
            return f"parameters.{name}"
        if root == "prompt" and self.from_string[index]:
            return f"instances[{index}]"
        return f"instances[{index}].{name}"


def unwrap(payload: Any, limits: Limits, model: ModelShape | None = None,
           dialect: str | None = None) -> Unwrapped:  # fmt: skip
    """Our request objects from a body: through its dialect when it is written for another
    API (or ``dialect`` names one), else from our own envelopes. ``model``: the loaded
    model's native size and size multiple, which dialect sizes are fitted to."""
    reading = read_dialect(payload, limits, model or ModelShape(), dialect)
    if reading is not None:
        return Unwrapped(Envelope(shape_of(payload)), reading.requests, reading=reading)
    if not isinstance(payload, dict):
        raise RequestError(
            'body: must be a JSON object: {"prompt": ...}, {"inputs": ..., "parameters": ...}'
            f' or {{"instances": [...], "parameters": ...}}; got {json_type(payload)}',
            field="body",
        )
    kinds = [key for key in ("inputs", "instances") if key in payload]
    if len(kinds) > 1:
        raise RequestError("inputs: use either 'inputs' or 'instances', not both", field="inputs")
    if not kinds:
        if "parameters" in payload:
            raise RequestError(
                "parameters: only allowed beside 'inputs' or 'instances'", field="parameters"
            )
        return Unwrapped(Envelope.PLAIN, [payload], [frozenset(payload)], [False])

    parameters = payload.get("parameters")
    if parameters is None:  # absent, or an explicit null
        parameters = {}
    if not isinstance(parameters, dict):
        raise RequestError(
            f"parameters: must be a JSON object (got {json_type(parameters)})", field="parameters"
        )
    extra = sorted(set(payload) - {kinds[0], "parameters"})
    if extra:
        name = clip(extra[0]) or '""'
        raise RequestError(
            f"{name}: unknown top-level field beside '{kinds[0]}'; allowed: {kinds[0]}, parameters",
            field=name,
        )

    if kinds[0] == "inputs":
        item = payload["inputs"]
        return Unwrapped(
            Envelope.INPUTS,
            [_merge(item, parameters, "inputs")],
            [_own(item)],
            [isinstance(item, str)],
        )

    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise RequestError(
            f"instances: must be a non-empty array (got {json_type(instances)})",
            field="instances",
        )
    if len(instances) > limits.max_instances:
        raise RequestError(
            f"instances: at most {limits.max_instances} per request (got {len(instances)})",
            field="instances",
        )
    return Unwrapped(
        Envelope.INSTANCES,
        [_merge(inst, parameters, f"instances[{i}]") for i, inst in enumerate(instances)],
        [_own(inst) for inst in instances],
        [isinstance(inst, str) for inst in instances],
    )


def _own(item: Any) -> frozenset[str]:
    return frozenset({"prompt"}) if isinstance(item, str) else frozenset(item)


def _merge(item: Any, parameters: dict[str, Any], where: str) -> dict[str, Any]:
    """An item is a prompt string or an object; its own fields win over shared parameters."""
    if isinstance(item, str):
        item = {"prompt": item}
    if not isinstance(item, dict):
        raise RequestError(
            f"{where}: must be a prompt string or a JSON object (got {json_type(item)})",
            field=where,
        )
    return {**parameters, **item}
