"""Serve a built package locally with the runtime's own server, under one cloud's contract.

``genai-endpoints serve --cloud X`` becomes ``python -m scoring.server`` (the runtime
image's entry point) with the arguments and environment that cloud would give the
container, so what runs on a laptop is what runs in the image. What each cloud sets is
its descriptor's ``local_env`` (``scoring.server.contracts.<cloud>``): the port, the
routes infra writes into the cloud's config, and the model folder standing in for where
the cloud puts the weights (or a gs:// URI, for a contract that fetches its own).

Plus the package manifest's ``runtime.env``, exactly as infra passes it to the container.
Of the caller's own ``GENAI_*`` variables only the server's pass (``known_names``): the
server refuses to start on one it does not read, and a shell holding the client's
(``GENAI_CLIENT_CACHE``) or the live tests' (``GENAI_LIVE_*``) must still serve.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from scoring.server.contracts import CONTRACTS, DESCRIPTORS
from scoring.server.contracts.base import LocalRun
from scoring.server.settings import PREFIX, known_names

# variables only one cloud sets: another cloud's would change which contract is spoken
CLOUD_PREFIXES = tuple(prefix for d in DESCRIPTORS for prefix in d.env_prefixes)


def server_command(
    cloud: str,
    package: Path,
    port: int,
    host: str = "127.0.0.1",
    storage_uri: str | None = None,
    base_env: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start ``package``'s server for ``cloud``."""
    if cloud not in CONTRACTS:
        raise ValueError(f"unknown cloud {cloud!r}")
    package = Path(package).resolve()  # the server may run from any folder
    manifest = json.loads((package / "manifest.json").read_text())
    runtime = manifest["runtime"]
    model_dir = str(package / manifest["weights"]["folder"])
    env = dict(os.environ if base_env is None else base_env)
    served = known_names()
    for key in [k for k in env if k.startswith(CLOUD_PREFIXES)]:
        del env[key]
    for key in [k for k in env if k.upper().startswith(PREFIX) and k.upper() not in served]:
        del env[key]
    env.update(runtime["env"])
    env["GENAI_HOST"] = host
    env.setdefault("HF_HUB_OFFLINE", "1")
    run = LocalRun(
        port=port,
        model_dir=model_dir,
        health_route=runtime["health_route"],
        predict_route=runtime["predict_route"],
        storage_uri=storage_uri,
    )
    env.update(CONTRACTS[cloud].local_env(run))
    return [sys.executable, "-m", "scoring.server", *runtime["args"]], env
