"""The cloud's own caps for the mode the plan chose (``GENAI_MODE``), as the engine's
default limits: a setting the plan passes (``GENAI_MAX_REQUEST_BYTES``,
``GENAI_MAX_RESPONSE_BYTES``) wins; without one the server still never answers more than
its cloud's front end would carry (the descriptor's limits for the mode), so
``serve --cloud`` on a laptop refuses what the cloud would drop.
"""

from __future__ import annotations

from scoring.server.contracts import CONTRACTS, Contract
from scoring.server.contracts.base import Limit
from scoring.settings import Limits


def mode_limit(contract: Contract, mode: str | None) -> Limit:
    """The descriptor's limit for ``mode``; without one, the contract's default mode (the
    first listed: real-time, shared, managed). An unknown mode is a start-up error."""
    descriptor = CONTRACTS[contract.name]
    if not mode:
        return descriptor.limits[0]
    names = [limit.name for limit in descriptor.limits]
    if mode not in names:
        raise ValueError(
            f"GENAI_MODE={mode!r} is not a {descriptor.title} mode; allowed: {', '.join(names)}"
        )
    return descriptor.limit(mode)


def limits_for(contract: Contract, mode: str | None) -> Limits:
    """``Limits`` from the environment, with this cloud's caps where it sets none."""
    limits = Limits()
    given = limits.model_fields_set  # the fields the environment set
    update: dict[str, int | None] = {}
    if "max_request_bytes" not in given:  # the cloud's own cap is the default
        update["max_request_bytes"] = contract.max_request_bytes
    if "max_response_bytes" not in given:
        update["max_response_bytes"] = mode_limit(contract, mode).max_response_bytes
    return limits.model_copy(update=update)


def roomier(contract: Contract, cap: int | None) -> str:
    """This cloud's modes whose answers may be larger than ``cap``, for a refusal's
    "what fits" (e.g. "the async mode (no cap)")."""
    if cap is None:
        return ""
    modes = [
        f"the {limit.name} mode "
        f"({'no cap' if limit.max_response_bytes is None else f'{limit.max_response_bytes:,}'})"
        for limit in CONTRACTS[contract.name].limits
        if limit.max_response_bytes is None or limit.max_response_bytes > cap
    ]
    return ", or ".join(modes)
