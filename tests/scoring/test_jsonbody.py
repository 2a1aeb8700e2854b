"""Bounded body parsing: size, depth, number size and value count refused as 400/413
naming ``body``; the orjson path and the standard-library path agree."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import jsonbody
from scoring.errors import PayloadTooLarge, RequestError

LIMIT = 6_000_000


@pytest.fixture(params=["orjson", "stdlib"])
def loads(request, monkeypatch):
    """Both parsers: orjson, and the standard library (a container without orjson)."""
    if request.param == "stdlib":
        monkeypatch.setattr(jsonbody, "orjson", None)
    return lambda body: jsonbody.loads(body, LIMIT)


def refused(loads, body: bytes) -> RequestError:
    with pytest.raises(RequestError) as exc:
        loads(body)
    assert exc.value.field == "body" and exc.value.message.startswith("body: ")
    return exc.value


def test_a_request_parses(loads):
    body = {"instances": [{"prompt": "a", "outpaint": {"left": 8}}], "parameters": {"seed": 1}}
    assert loads(json.dumps(body).encode()) == body


def test_size_is_413(loads):
    with pytest.raises(PayloadTooLarge) as exc:
        loads(b" " * (LIMIT + 1))
    assert exc.value.status == 413 and exc.value.field == "body"


@pytest.mark.parametrize("depth", [jsonbody.MAX_DEPTH + 1, 1000, 100_000])
def test_depth(loads, depth):
    assert "nested deeper" in refused(loads, b"[" * depth + b"]" * depth).message


def test_depth_at_the_limit_is_fine(loads):
    depth = jsonbody.MAX_DEPTH
    assert loads(b"[" * depth + b"]" * depth)


def test_value_count(loads):
    body = json.dumps({"prompt": "x", "a": [1] * jsonbody.MAX_VALUES}).encode()
    assert "more than" in refused(loads, body).message
    many_keys = json.dumps({str(i): 1 for i in range(jsonbody.MAX_VALUES)}).encode()
    assert "more than" in refused(loads, many_keys).message


@pytest.mark.parametrize(
    "body", [b'{"seed": ' + b"9" * 5000 + b"}", b'{"seed": 1e400}', b'{"g": -1e999}']
)
def test_numbers_too_large(loads, body):
    refused(loads, body)


@pytest.mark.parametrize("body", [b'{"g": NaN}', b'{"g": Infinity}', b'{"g": -Infinity}'])
def test_non_finite_constants(loads, body):
    refused(loads, body)


def test_64_bit_integers_parse(loads):
    assert loads(b'{"seed": 18446744073709551615}') == {"seed": 2**64 - 1}


def test_lone_surrogate_escapes_reach_the_text_check(loads):
    assert loads(b'{"negative_prompt": "\\ud800"}') == {"negative_prompt": "\ud800"}


def test_invalid_utf8_and_bom(loads):
    refused(loads, b'{"prompt": "\xed\xa0\x80"}')  # a surrogate encoded as UTF-8: invalid
    assert loads(b'\xef\xbb\xbf{"prompt": "x"}') == {"prompt": "x"}


@pytest.mark.parametrize("body", [b"", b"{", b'{"a":1} x', b"{a:1}", b"\x00"])
def test_syntax_errors(loads, body):
    assert "position" in refused(loads, body).message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64).map(lambda t: t.encode("utf-8", "replace")))
def test_fuzz_any_bytes_parse_or_are_refused_naming_body(body):
    for parser in ("orjson", "stdlib"):
        saved = jsonbody.orjson
        if parser == "stdlib":
            jsonbody.orjson = None
        try:
            jsonbody.loads(body, LIMIT)
        except RequestError as err:
            assert err.field == "body" and err.status == 400
        finally:
            jsonbody.orjson = saved
