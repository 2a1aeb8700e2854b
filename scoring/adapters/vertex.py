"""Vertex AI: the custom handler the Hugging Face inference container loads.

The container downloads ``AIP_STORAGE_URI`` into a folder, imports ``handler.py`` from it
and calls ``EndpointHandler(path)`` once, then ``handler(data)`` per request with the
parsed JSON body, ``{"instances": [...], "parameters": {...}}``. Vertex requires the
answer as ``{"predictions": [...]}``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from scoring.adapters.common import PACKAGE_INFO, load_scorer
from scoring.errors import InternalError, ScoringError
from scoring.service import Accept

log = logging.getLogger(__name__)


class EndpointHandler:
    def __init__(self, path: str = "") -> None:
        root = Path(path or ".")
        self.scorer = load_scorer(root, root / PACKAGE_INFO)

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        """Raises ScoringError (with its HTTP status) for a bad request."""
        parsed = self.scorer.parse_payload(data)
        try:
            results = self.scorer.execute(parsed)
        except ScoringError:
            raise
        except Exception as exc:  # a GPU fault or a bug: logged whole, answered as a 500
            log.exception("generation failed")
            raise InternalError() from exc
        answer = self.scorer.render(results, Accept(None)).json()
        return answer if "predictions" in answer else {"predictions": [answer]}
