"""What a contract says (where to listen, which routes mean what, where the model is) and
the descriptor that says it once per cloud for every layer.

A ``Descriptor`` is the one place a cloud's contract is written: its names in both
vocabularies, its default port and routes, the envelope its own clients wrap a request in,
the environment it starts the container with (``serve --cloud`` and ``rehearse`` give the
process the same), and the limits its front end puts on a request. The server, the
client's transports, local serving and the package specs read it; infra reads the limits
through the manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class ContractError(ValueError):
    """The environment does not describe a contract we can serve; the message says why."""


@dataclass(frozen=True)
class Contract:
    name: str
    port: int
    liveness_route: str  # answers 200 while the process is alive, also while loading
    readiness_route: str  # answers 200 only once the model is loaded and verified
    predict_route: str
    model_source: str  # a local folder, or a gs:// prefix to fetch at start
    max_request_bytes: int  # this cloud's own cap on a request body, the default limit

    @property
    def routes(self) -> dict[str, str]:
        return {
            "liveness": self.liveness_route,
            "readiness": self.readiness_route,
            "predict": self.predict_route,
        }


@dataclass(frozen=True)
class Routes:
    """A contract's routes at their defaults (a cloud's environment may move them)."""

    liveness: str  # 200 while the process is alive, also while loading
    readiness: str  # 200 only once the model is loaded: what a caller waits on
    predict: str


@dataclass(frozen=True)
class Limit:
    """One way a cloud serves (a mode, an endpoint kind) and what its front end caps.
    ``max_response_bytes`` None: the cloud sets no cap of its own on an answer."""

    name: str  # e.g. 'realtime', 'async', 'shared', 'dedicated', 'managed'
    max_request_bytes: int
    max_response_bytes: int | None
    timeout_s: int  # one request, end to end


@dataclass(frozen=True)
class LocalRun:
    """What local serving knows when it starts a package's server for a cloud."""

    port: int
    model_dir: str  # the package's weights folder, absolute
    health_route: str  # the manifest's routes: what infra writes into the cloud's config
    predict_route: str
    storage_uri: str | None = None  # a gs:// prefix, for a contract that fetches its own


Envelope = str  # "inputs", "instances" or "plain": the values of scoring.envelopes.Envelope


@dataclass(frozen=True)
class Descriptor:
    """One cloud's contract, for every layer (module docstring).

    ``name`` is the contract's name, the vocabulary of packages, manifests, client targets
    and ``GENAI_CONTRACT``; ``cloud`` is infra's, the vocabulary of stack config sections
    and stack outputs. ``CLOUDS`` in ``scoring.server.contracts`` is keyed by both.
    """

    name: str  # the contract's name: packages, manifests, targets, GENAI_CONTRACT
    cloud: str  # infra's name: config sections, stack outputs
    title: str  # how people write it, for messages
    port: int  # the default port; the container's environment may move it
    routes: Routes
    envelope: Envelope  # what this cloud's own clients wrap a request in
    limits: tuple[Limit, ...]  # the cloud's own caps, per mode; a package may only narrow them
    server_max_request_bytes: int  # the server's default body limit under this contract
    args: tuple[str, ...]  # what the cloud passes to the image
    started_by: str  # what tells this cloud started the container, for error messages
    env_prefixes: tuple[str, ...]  # variables only this cloud sets (local serving clears them)
    matches: Callable[[Sequence[str], Mapping[str, str]], bool]  # started by this cloud?
    contract: Callable[[Sequence[str], Mapping[str, str]], Contract]  # from argv and env
    local_env: Callable[[LocalRun], dict[str, str]]  # what this cloud sets, on a laptop
    # the cloud's page requiring the container to run as root, or None: the server then
    # gives root up (scoring/server/privileges.py)
    requires_root: str | None = None

    def limit(self, name: str) -> Limit:
        for limit in self.limits:
            if limit.name == name:
                return limit
        raise KeyError(f"{self.name} has no limit {name!r}; it has {[x.name for x in self.limits]}")

    def wrap(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request`` (our plain request object) in the body this cloud's clients send."""
        if self.envelope == "inputs":
            rest = dict(request)
            return {"inputs": rest.pop("prompt"), "parameters": rest}
        if self.envelope == "instances":
            return {"instances": [request], "parameters": {}}
        return request

    def first_answer(self, body: Any) -> Any:
        """The answer to the first request of ``body`` (answers to an ``instances``
        envelope come wrapped in ``predictions``)."""
        return body["predictions"][0] if self.envelope == "instances" else body


def port_from(env: Mapping[str, str], key: str, default: int) -> int:
    value = env.get(key, "").strip()
    if not value:
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ContractError(f"{key}={value!r} is not a port number (1-65535)")
    return int(value)


def route_from(env: Mapping[str, str], key: str, default: str) -> str:
    value = env.get(key, "").strip() or default
    if not value.startswith("/"):
        raise ContractError(f"{key}={value!r} must be a path starting with '/'")
    return value
