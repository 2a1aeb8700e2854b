"""Drop-in dialects: request bodies written for other image APIs, read onto our one schema
and answered in that API's shape, so a client written for one works against our endpoint
with only its URL changed (the mapping table: docs/dialects.md).

Adding a dialect adds one module here and one line to ``DIALECTS``.

How a body is read (``detect``), in order:

1. an explicit selector wins: ``Content-Type: application/json; dialect=NAME`` (the one
   header every cloud hands to the container: SageMaker forwards only the headers of its
   InvokeEndpoint API) or the ``dialect`` argument the server may pass; ``genai`` names
   our own schema;
2. otherwise a body that holds none of the names only another API uses is ours, whatever
   else it holds: our envelopes keep their meaning (``{"inputs", "parameters"}`` is also
   the Hugging Face shape, ``{"instances", "parameters"}`` also Imagen's);
3. otherwise the dialect whose field list covers the whole body reads it; if several do,
   or none does and two point equally hard at themselves, the body is ambiguous: a 400
   that names each API and the fields that point to it.
"""

from __future__ import annotations

from typing import Any

from scoring.dialects import a1111, huggingface, imagen, openai, stability
from scoring.dialects.base import (
    Dialect,
    JsonDialect,
    ModelShape,
    Output,
    Reading,
    Reply,
    mark,
    shape_of,
)
from scoring.errors import RequestError, ScoringError, clip
from scoring.settings import Limits

__all__ = [
    "DIALECTS",
    "NATIVE",
    "Dialect",
    "JsonDialect",
    "ModelShape",
    "Output",
    "Reading",
    "Reply",
    "detect",
    "read",
]

DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (openai.DIALECT, stability.DIALECT, imagen.DIALECT, a1111.DIALECT, huggingface.DIALECT)
}
NATIVE = "genai"  # the selector value for our own schema


def detect(payload: Any, selector: str | None = None) -> tuple[Dialect | None, list[str]]:
    """The dialect a body is written in (None: ours) and the names that said so."""
    if selector is not None:
        return _selected(payload, selector), []
    shape = shape_of(payload)
    if shape is None:
        return None, []
    pointing = {d: d.evidence(payload) for d in DIALECTS.values() if d.shape == shape}
    pointing = {d: names for d, names in pointing.items() if names}
    if not pointing:
        return None, []
    fitting = [d for d in pointing if d.fits(payload)]
    if len(fitting) == 1:
        return fitting[0], pointing[fitting[0]]
    if not fitting:  # nobody knows every name: the one that knows most reads (and refuses)
        best = max(d.knows(payload) for d in pointing)
        fitting = [d for d in pointing if d.knows(payload) == best]
        if len(fitting) == 1:
            return fitting[0], pointing[fitting[0]]
    raise RequestError(
        "body: ambiguous: "
        + "; ".join(
            f"{', '.join(repr(n) for n in pointing[d][:3])} point to {d.title}" for d in fitting
        )
        + ". Send one API's fields, or name one with 'Content-Type: application/json; "
        f"dialect=NAME' (NAME: {', '.join([*DIALECTS, NATIVE])})",
        field="body",
    )


def _selected(payload: Any, selector: str) -> Dialect | None:
    name = selector.strip().lower()
    if name == NATIVE:
        return None
    if name not in DIALECTS:
        allowed = ", ".join([*DIALECTS, NATIVE])
        raise RequestError(
            f"Content-Type: dialect={clip(selector)!r} is not known; allowed: {allowed}",
            field="Content-Type",
        )
    dialect = DIALECTS[name]
    shape = shape_of(payload)
    if shape is not None and shape != dialect.shape:
        want = {
            "plain": "a plain JSON object",
            "inputs": '{"inputs": ..., "parameters": ...}',
            "instances": '{"instances": [...], "parameters": ...}',
        }[dialect.shape]
        raise RequestError(f"body: dialect={name} expects {want}", field="body")
    return dialect


def read(
    payload: Any, limits: Limits, model: ModelShape, selector: str | None = None
) -> Reading | None:
    """The body read in its dialect, or None when it is written for our own schema."""
    dialect, because = detect(payload, selector)
    if dialect is None:
        return None
    if not isinstance(payload, dict):
        raise RequestError(f"body: {dialect.title} sends a JSON object", field="body")
    try:
        return dialect.read(payload, model, limits, because)
    except ScoringError as err:
        raise mark(err, dialect) from None
