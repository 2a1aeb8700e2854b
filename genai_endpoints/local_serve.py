"""Serve a built package locally with the runtime's own server, under one cloud's contract.

``genai-endpoints serve --cloud X`` becomes ``python -m scoring.server`` (the runtime
image's entry point) with the environment that cloud would give the container, so what
runs on a laptop is what runs in the image:

- sagemaker: the argument ``serve``; the model folder stands in for /opt/ml/model.
- vertex: ``AIP_HTTP_PORT``, ``AIP_HEALTH_ROUTE``, ``AIP_PREDICT_ROUTE`` and
  ``AIP_STORAGE_URI`` (a gs:// URI as on Vertex, or the local model folder).
- azureml: ``AZUREML_MODEL_DIR``; port and routes as the environment's inference config.

Plus the package manifest's ``runtime.env``, exactly as infra passes it to the container.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def server_command(
    cloud: str,
    package: Path,
    port: int,
    host: str = "127.0.0.1",
    storage_uri: str | None = None,
    base_env: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start ``package``'s server for ``cloud``."""
    package = Path(package).resolve()  # the server may run from any folder
    manifest = json.loads((package / "manifest.json").read_text())
    runtime = manifest["runtime"]
    model_dir = str(package / manifest["weights"]["folder"])
    env = dict(os.environ if base_env is None else base_env)
    for key in [k for k in env if k.startswith(("AIP_", "AZUREML_"))]:
        del env[key]  # another cloud's variables would change which contract is spoken
    env.update(runtime["env"])
    env["GENAI_HOST"] = host
    env.setdefault("HF_HUB_OFFLINE", "1")
    args = list(runtime["args"])
    if cloud == "sagemaker":
        env.update(GENAI_PORT=str(port), GENAI_MODEL_DIR=model_dir)
    elif cloud == "vertex":
        env.update(
            AIP_HTTP_PORT=str(port),
            AIP_HEALTH_ROUTE=runtime["health_route"],
            AIP_PREDICT_ROUTE=runtime["predict_route"],
            AIP_STORAGE_URI=storage_uri or model_dir,
        )
    elif cloud == "azureml":
        env.update(GENAI_PORT=str(port), AZUREML_MODEL_DIR=model_dir)
    else:
        raise ValueError(f"unknown cloud {cloud!r}")
    return [sys.executable, "-m", "scoring.server", *args], env
