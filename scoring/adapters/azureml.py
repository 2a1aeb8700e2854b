"""Azure ML: ``init()`` and ``run()`` as the Azure ML inference server calls them.

``AZUREML_MODEL_DIR`` points at the registered model asset; the weights are there or one
folder below. ``run`` takes the raw request (``@rawhttp``) so it can answer real status
codes and raw image or video bytes when the caller's Accept asks for them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from scoring.adapters.common import load_scorer
from scoring.service import Scorer

try:  # the server's own module; older images ship it under azureml.contrib.services
    from azureml_inference_server_http.api.aml_request import rawhttp
    from azureml_inference_server_http.api.aml_response import AMLResponse
except ImportError:  # pragma: no cover - depends on the serving image
    from azureml.contrib.services.aml_request import rawhttp
    from azureml.contrib.services.aml_response import AMLResponse

_scorer: Scorer | None = None


def init(info_file: Path | None = None) -> None:
    """``info_file``: the package's genai_package.json, beside score.py."""
    global _scorer
    model_root = Path(os.environ.get("AZUREML_MODEL_DIR", "."))
    _scorer = load_scorer(model_root, info_file)


@rawhttp
def run(request):
    assert _scorer is not None, "init() was not called"
    if request.method == "GET":  # a cheap readiness answer for humans and probes
        return AMLResponse(json.dumps(_scorer.health()), 200, {"Content-Type": "application/json"})
    answer = _scorer.handle(
        request.get_data(), request.headers.get("Content-Type"), request.headers.get("Accept")
    )
    headers = {"Content-Type": answer.content_type, **answer.headers}
    return AMLResponse(answer.body, answer.status, headers)
