"""Fixtures the scoring tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def spied(image_scorer, monkeypatch):
    """The scorer, with a count of generations that reached the engine."""
    calls = []
    real = image_scorer.engine.generate

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(image_scorer.engine, "generate", spy)
    return image_scorer, calls
