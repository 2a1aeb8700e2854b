"""How the server listens and protects itself; ``GENAI_*`` environment variables.

The defaults suit every cloud: a listen backlog sized for bursts, bodies that must arrive
within a deadline (a slow client never holds a request slot open), a keep-alive longer
than the clouds' front ends keep idle connections, and a drain on SIGTERM shorter than
the grace period the clouds give before SIGKILL (30 s on all three).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "GENAI_"
# read by the contracts (scoring.server.contracts), not by a settings model
CONTRACT_NAMES = frozenset({"GENAI_CONTRACT", "GENAI_PORT", "GENAI_MODEL_DIR"})
DOCS = "README.md, 'Runtime settings'"


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GENAI_", extra="ignore", frozen=True)

    host: str = Field("0.0.0.0", description="address to bind; the CLI binds 127.0.0.1")
    backlog: int = Field(2048, ge=16, description="listen backlog: connections the kernel holds")
    graceful_shutdown_s: int = Field(
        25, ge=0, description="on SIGTERM, how long requests in flight may finish"
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="a request body must arrive within this, else 408"
    )
    body_idle_timeout_s: float = Field(
        10.0, gt=0, description="longest pause between two parts of a body, else 408"
    )
    keep_alive_s: int = Field(75, ge=1, description="idle keep-alive connections are closed")
    parse_threads: int = Field(2, ge=1, description="threads that parse and encode")
    cache_dir: Path = Field(
        Path("/tmp/genai-model"), description="where weights fetched from gs:// are kept"
    )
    verify_weights: bool = Field(True, description="hash every weight file before loading")
    run_as: int | None = Field(
        None,
        ge=1,
        description="uid (and gid) the server gives root up to where the cloud "
        "allows it (scoring/server/privileges.py; the image sets 10001); unset: keep the user",
    )
    log_level: str = "info"
    access_log: bool = True
    mode: str | None = Field(
        None,
        description="the cloud's serving mode the plan chose (one of its descriptor's limits, "
        "e.g. realtime or async): its request and response caps are the defaults",
    )
    weights_digest: str | None = Field(
        None,
        description="the content address of genai_package.json's file list the plan deployed; "
        "another package stays unready naming both",
    )


def known_names() -> frozenset[str]:
    """Every ``GENAI_*`` variable the server reads: its settings models' fields and the
    contracts' own names."""
    from scoring.settings import EngineSettings, Limits

    fields = [*ServerSettings.model_fields, *EngineSettings.model_fields, *Limits.model_fields]
    return CONTRACT_NAMES | {PREFIX + name.upper() for name in fields if name != "limits"}


def check_names(env: Mapping[str, str]) -> None:
    """Refuse a ``GENAI_*`` variable the server does not read: a setting the plan sized (or
    a person typed) that would otherwise be dropped without a word."""
    known = known_names()
    unknown = sorted(k for k in env if k.upper().startswith(PREFIX) and k.upper() not in known)
    if unknown:
        raise ValueError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: the server "
            f"reads only these GENAI_* variables: {', '.join(sorted(known))} ({DOCS})"
        )
