"""What a contract says: where to listen, which routes mean what, where the model is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


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
