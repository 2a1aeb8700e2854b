"""What a cloud's package says about serving it, as data: each cloud module returns one.

The package itself is the same on every cloud (weights + ``genai_package.json``); what
differs is how that cloud starts the one runtime image and what it caps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model_packages.manifest import CloudLimit
from scoring.server.contracts import Contract


@dataclass(frozen=True)
class CloudSpec:
    cloud: str
    contract: str  # the server contract (scoring.server.contracts) this cloud speaks
    port: int
    health_route: str
    readiness_route: str
    predict_route: str
    limits: list[CloudLimit]
    args: list[str] = field(default_factory=list)  # what the cloud passes to the image
    env: dict[str, str] = field(default_factory=dict)


def served_as(contract: Contract) -> dict[str, Any]:
    """The port and routes of a contract at its defaults: one source for both layers."""
    return {
        "port": contract.port,
        "health_route": contract.liveness_route,
        "readiness_route": contract.readiness_route,
        "predict_route": contract.predict_route,
    }
