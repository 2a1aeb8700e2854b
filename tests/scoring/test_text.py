"""The one text check: what it refuses, and that whatever it lets through tokenizes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.text import text_problem


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("\ud800", "lone surrogate (U+D800) at character 0"),
        ("ok\udfff", "lone surrogate (U+DFFF) at character 2"),
        ("\x00", "control character (U+0000)"),
        ("\x7f", "control character"),
        ("\x9b", "control character"),  # C1 CSI: a terminal escape on its own
        ("x" * 11, "at most 10 characters (got 11)"),
    ],
)
def test_refused(value, words):
    assert words in text_problem(value, max_chars=10)


@pytest.mark.parametrize("value", ["", "a fox", "tab\tnew\nline\r", "漢字 😀", "\u202e\u200b"])
def test_accepted(value):
    assert text_problem(value) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_text_that_passes_the_check_tokenizes(image_engine, text):
    """A prompt the check lets through never fails in the tokenizer (issue 10, repro 4)."""
    if text_problem(text) is not None:
        return
    tokens = image_engine.base.tokenizer(text, truncation=True, max_length=77)
    assert tokens["input_ids"]
