"""SageMaker: the four handler functions the Hugging Face inference toolkit calls.

The toolkit puts ``/opt/ml/model/code`` on sys.path, imports ``inference.py`` (which
re-exports these), calls ``model_fn`` once per worker, then per request ``input_fn``,
``predict_fn`` and ``output_fn``. Newer toolkits pass a ``context`` as the last argument;
with it, errors keep their status (429, 413, 422 ...); without it the toolkit turns any
exception into a 400 carrying our message.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.adapters.common import PACKAGE_INFO, load_scorer
from scoring.errors import InternalError, ScoringError
from scoring.service import Accept, Parsed, Result, Scorer

log = logging.getLogger(__name__)
_scorer: Scorer | None = None


@dataclass(frozen=True)
class Failure:
    """A request that failed in an earlier step, carried to output_fn to be answered."""

    error: ScoringError


class SageMakerRequestError(Exception):
    """Raised only where the toolkit gives no context: it answers 400 with this text."""


def model_fn(model_dir: str, context: Any = None) -> Scorer:
    global _scorer
    _scorer = load_scorer(Path(model_dir), Path(model_dir) / "code" / PACKAGE_INFO)
    return _scorer


def input_fn(input_data: bytes | str, content_type: str, context: Any = None) -> Parsed | Failure:
    if _scorer is None:  # the toolkit always calls model_fn first
        raise RuntimeError("input_fn called before model_fn")
    try:
        return _scorer.parse(input_data, content_type)
    except ScoringError as err:
        return Failure(err)


def predict_fn(
    data: Parsed | Failure, model: Scorer, context: Any = None
) -> list[Result] | Failure:
    if isinstance(data, Failure):
        return data
    try:
        return model.execute(data)
    except ScoringError as err:
        return Failure(err)
    except Exception:  # a GPU fault or a bug: logged whole, answered as a plain 500
        log.exception("generation failed")
        return Failure(InternalError())


def output_fn(prediction: list[Result] | Failure, accept: str | None, context: Any = None):
    scorer = _scorer
    assert scorer is not None
    if not isinstance(prediction, Failure):
        try:
            answer = scorer.render(prediction, Accept(accept))
        except ScoringError as err:
            prediction = Failure(err)
        else:
            if context is not None:
                context.set_response_content_type(0, answer.content_type)
            return answer.body
    err = prediction.error
    if context is None:
        raise SageMakerRequestError(json.dumps(err.to_dict()))
    context.set_response_status(code=err.status, phrase=err.message[:200])
    context.set_response_content_type(0, "application/json")
    return json.dumps(err.to_dict()).encode()
