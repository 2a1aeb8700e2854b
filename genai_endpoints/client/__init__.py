"""Call any of our endpoints or a managed image API with the one request schema.

The public API: ``Client`` (``generate``, ``invoke``, ``select``), ``load_targets``,
``Result``, ``Priority`` and the errors. Cloud SDKs are imported only by the transports
that use them.
"""

from __future__ import annotations

from genai_endpoints.client.client import Client, Result
from genai_endpoints.client.errors import (
    CallError,
    ClientError,
    ConfigError,
    UnsupportedRequest,
)
from genai_endpoints.client.selector import Priority
from genai_endpoints.client.targets import load_targets

__all__ = [
    "CallError",
    "Client",
    "ClientError",
    "ConfigError",
    "Priority",
    "Result",
    "UnsupportedRequest",
    "load_targets",
]
