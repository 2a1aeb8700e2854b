"""What every dialect shares: the reading it hands the request path, the checks it runs on
its own fields, and the size rules that honour the loaded model.

A dialect reads a body written for another image API into our plain request objects
(``Reading.requests``), which then go through the one schema, limits and text check like
any request; ``Reading.where`` maps each of our fields back to the dialect's own name, so
an error names the field the caller wrote. On the way back ``answer`` shapes our outputs
the way that API answers.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from scoring.errors import Problem, RequestError, ScoringError, clip
from scoring.jsonbody import json_type
from scoring.schema import FIELDS
from scoring.settings import Limits
from scoring.text import text_problem

Shape = Literal["plain", "inputs", "instances"]
OUR_TOP = {
    "inputs": frozenset({"inputs", "parameters"}),
    "instances": frozenset({"instances", "parameters"}),
}
MIN_SIDE = 64  # the schema's smallest width/height


def words(text: str) -> frozenset[str]:
    """Field names written as one whitespace-separated string (long lists stay readable)."""
    return frozenset(text.split())


def shape_of(payload: Any) -> Shape | None:
    """Which envelope a body uses (our own three); None when it is not an object or
    names both ``inputs`` and ``instances`` (the envelope check refuses those)."""
    if not isinstance(payload, dict):
        return None
    kinds = [k for k in ("inputs", "instances") if k in payload]
    if len(kinds) > 1:
        return None
    return kinds[0] if kinds else "plain"  # type: ignore[return-value]


def schema_has(name: str) -> bool:
    """Whether the request schema has a field (e.g. ``scheduler``, added separately)."""
    return name in FIELDS


@dataclass(frozen=True)
class ModelShape:
    """What the loaded model needs of a size: its native width and height, and the
    multiple every side must be (8, or 16 for SD3 and FLUX)."""

    width: int = 512
    height: int = 512
    multiple: int = 8

    def side(self, value: float) -> int:
        """``value`` rounded to the nearest multiple (halves up), at least the schema's
        minimum."""
        step = self.multiple
        return max(MIN_SIDE, math.floor(value / step + 0.5) * step)

    def scaled(self, width: float, height: float, reference: int = 1024) -> tuple[int, int]:
        """A size written for a ``reference``-pixel model, scaled to this model's native
        size: with reference 1024, ``1024x1024`` is this model's native square."""
        return (
            self.side(width * self.width / reference),
            self.side(height * self.height / reference),
        )

    def of_ratio(self, ratio: float, scale: float = 1.0) -> tuple[int, int]:
        """The native pixel count (times ``scale``²) at aspect ratio ``ratio`` = w / h."""
        area = self.width * self.height * scale * scale
        return self.side(math.sqrt(area * ratio)), self.side(math.sqrt(area / ratio))


@dataclass(frozen=True)
class Output:
    """One generated request, encoded, as a dialect's answer needs it."""

    blobs: list[bytes]
    seeds: list[int]
    content_type: str
    width: int
    height: int
    meta: dict[str, Any]


@dataclass
class Reply:
    """A dialect's answer: a JSON-able body (or bytes) and extra headers."""

    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reading:
    """A body read in a dialect: our request objects, where each of our fields came
    from, and what the answer needs to know of the request."""

    dialect: Dialect
    requests: list[dict[str, Any]]
    where: list[dict[str, str]]
    context: dict[str, Any] = field(default_factory=dict)

    def locate(self, index: int, name: str) -> str:
        """The dialect's name for our field ``name`` of request ``index``."""
        root, dot, rest = name.partition(".")
        where = self.where[index] if index < len(self.where) else {}
        if root not in where:
            return name
        return where[root] + (dot + rest if rest else "")


class Dialect(ABC):
    """One other API's request shape. Subclasses set the class attributes and implement
    ``read``; one that answers in the API's JSON shape is a :class:`JsonDialect`. Any other
    (Hugging Face: raw bytes) answers JSON, when asked for by name, in our own shape."""

    name: ClassVar[str]  # the selector value: Content-Type: application/json; dialect=NAME
    title: ClassVar[str]  # for messages: "OpenAI images"
    shape: ClassVar[Shape]  # which of our envelopes its body looks like
    fields: ClassVar[frozenset[str]]  # the names it knows at its level (see ``names``)
    required: ClassVar[frozenset[str]] = frozenset()
    raw: ClassVar[bool] = False  # answers raw image bytes unless JSON is asked for

    # -- detection -------------------------------------------------------------------
    def names(self, payload: dict) -> set[str]:
        """The field names of a body at this dialect's level: the top-level keys of a
        plain body; the ``parameters`` keys (and any other top-level keys) of an envelope."""
        if self.shape == "plain":
            return set(payload)
        params = payload.get("parameters")
        names = set(params) if isinstance(params, dict) else set()
        return names | (set(payload) - OUR_TOP[self.shape])

    def evidence(self, payload: dict) -> list[str]:
        """The names in this body that only this kind of API uses (our schema and
        envelopes do not): what makes a body read in this dialect."""
        return sorted(n for n in self.names(payload) & self.fields if n not in FIELDS)

    def fits(self, payload: dict) -> bool:
        """Every name is one this dialect knows, and its required fields are there."""
        names = self.names(payload)
        return names <= self.fields and self.required <= names

    def knows(self, payload: dict) -> int:
        return len(self.names(payload) & self.fields)

    # -- the two directions ---------------------------------------------------------
    @abstractmethod
    def read(
        self, payload: dict, model: ModelShape, limits: Limits, because: Sequence[str] = ()
    ) -> Reading:
        """Our request objects from this body; a ``RequestError`` naming the dialect's
        own fields otherwise. ``because``: the names that made the body read so."""

    def raw_headers(self, output: Output) -> dict[str, str]:
        """Extra headers on a raw-bytes answer (this API's own, when it has them)."""
        return {}

    def error_body(self, body: dict, err: ScoringError) -> dict:
        """Our error body, with whatever this API's clients read added (a superset)."""
        return body


class JsonDialect(Dialect):
    """A dialect that also answers in its API's JSON shape."""

    @abstractmethod
    def answer(self, reading: Reading, outputs: list[Output]) -> Reply:
        """The API's JSON answer for ``outputs``, generated from ``reading``."""


def mark(err: ScoringError, dialect: Dialect) -> ScoringError:
    """Tag an error raised while serving a body read in ``dialect``, so that its answer
    (``scoring.service.Answer.of_error``, wherever it is built) takes that API's error
    fields too; the first tag wins."""
    if getattr(err, "dialect", None) is None:
        err.dialect = dialect  # type: ignore[attr-defined]
    return err


class Fields:
    """Checks one object of a dialect's body, collecting every problem with its path,
    so a refusal names all bad fields at once (like the schema does)."""

    def __init__(
        self, obj: dict, prefix: str, limits: Limits, dialect: Dialect, because: Sequence[str] = ()
    ) -> None:
        self.obj = obj
        self.prefix = prefix
        self.limits = limits
        self.dialect = dialect
        self.because = because
        self.problems: list[Problem] = []

    def path(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def bad(self, name: str, detail: str) -> None:
        self.problems.append(Problem(self.path(name), detail))

    def has(self, name: str) -> bool:
        return self.obj.get(name) is not None

    def get(self, name: str) -> Any:
        return self.obj.get(name)

    def raise_if_bad(self) -> None:
        if self.problems:
            raise RequestError.of(self.problems)

    # -- typed getters: None when absent (or null), else the value or a problem --------
    def text(self, name: str) -> str | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.bad(name, f"must be a string (got {json_type(value)})")
            return None
        problem = text_problem(value, self.limits.max_prompt_chars)
        if problem is not None:
            self.bad(name, problem)
            return None
        return value

    def number(self, name: str, lo: float | None = None, hi: float | None = None) -> float | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.bad(name, f"must be a number (got {json_type(value)})")
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.bad(name, f"must be {_range(lo, hi)} (got {value:g})")
            return None
        return value

    def integer(self, name: str, lo: int | None = None, hi: int | None = None) -> int | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(name, f"must be an integer (got {json_type(value)})")
            return None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.bad(name, f"must be {_range(lo, hi)} (got {value})")
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.bad(name, f"must be true or false (got {json_type(value)})")
            return None
        return value

    def choice(
        self, name: str, options: Iterable[str], *, fold: bool = False, why: str | None = None
    ) -> str | None:
        """One of ``options`` (compared case-insensitively with ``fold``), as listed;
        ``why`` explains a refusal (else: "must be one of ...")."""
        value = self.text(name)
        if value is None:
            return None
        options = list(options)
        key = value.lower() if fold else value
        for option in options:
            if (option.lower() if fold else option) == key:
                return option
        shown = ", ".join(options)
        reason = f"{why}; use one of {shown}" if why else f"must be one of {shown}"
        self.bad(name, f"{reason} (got {clip(value)!r})")
        return None

    def obj_field(self, name: str) -> dict | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.bad(name, f"must be a JSON object (got {json_type(value)})")
            return None
        return value

    def array(self, name: str) -> list | None:
        value = self.obj.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            self.bad(name, f"must be an array (got {json_type(value)})")
            return None
        return value

    # -- fields this endpoint cannot honour ----------------------------------------------
    def only(self, name: str, allowed: Sequence[Any], why: str) -> None:
        """Refuse any value but the API's neutral ones (``allowed``; absent is fine)."""
        value = self.obj.get(name)
        if value is None or any(_same(value, a) for a in allowed):
            return
        shown = " or ".join(_show(a) for a in allowed)
        self.bad(name, f"{why}; only {shown} is accepted here")

    def ignored(self, name: str, kind: Callable[[str], Any] | None = None) -> None:
        """A field documented as ignored: its type (and text) is still checked."""
        if kind is not None:
            kind(name)

    def unknown(self, known: Iterable[str] | None = None) -> None:
        """Names this dialect does not know (here: ``known``, default all its fields),
        each refused with the reason the body was read in this dialect (so a caller who
        meant our schema sees why)."""
        extra = sorted(set(self.obj) - set(self.dialect.fields if known is None else known))
        if not extra:
            return
        why = self.dialect.title
        if self.because:
            why += f" (read so because of {', '.join(repr(n) for n in self.because[:3])})"
        for name in extra:
            self.bad(clip(name) or '""', f"not a field of {why}; see docs/dialects.md")


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"between {lo:g} and {hi:g}"
    return f"at least {lo:g}" if lo is not None else f"at most {hi:g}"


def _same(value: Any, allowed: Any) -> bool:
    if isinstance(allowed, bool) or isinstance(value, bool):
        return type(value) is type(allowed) and value == allowed
    return value == allowed


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    return str(value)


def whole(text: str, digits: int = 5) -> int | None:
    """An ASCII whole number of at most ``digits`` digits, else None (``"²"`` is a digit
    to ``str.isdigit`` but not to ``int``)."""
    if text.isascii() and text.isdigit() and len(text) <= digits:
        return int(text)
    return None


def parse_ratio(text: str) -> float | None:
    """``"16:9"`` → 16/9 when both sides are positive integers of sane size, else None."""
    left, colon, right = text.partition(":")
    w, h = whole(left, 4), whole(right, 4)
    if not colon or w is None or h is None:
        return None
    return w / h if w > 0 and h > 0 else None


def parse_size(text: str) -> tuple[int, int] | None:
    """``"1024x1024"`` → (1024, 1024) when both sides are positive integers, else None."""
    left, x, right = text.lower().partition("x")
    w, h = whole(left), whole(right)
    if not x or w is None or h is None:
        return None
    return (w, h) if w > 0 and h > 0 else None


MAX_RATIO = 4.0  # the widest aspect ratio a dialect may ask for (1:4 to 4:1)


def status_name(status: int) -> str:
    return {
        400: "bad_request",
        406: "not_acceptable",
        413: "payload_too_large",
        415: "unsupported_media_type",
        422: "unprocessable_entity",
    }.get(status, "error")
