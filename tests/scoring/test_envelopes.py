"""The envelopes each cloud's clients send map onto the one schema."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.envelopes import Envelope, unwrap
from scoring.errors import RequestError
from scoring.settings import Limits

LIMITS = Limits()


def test_sagemaker_inputs_and_parameters():
    u = unwrap({"inputs": "a cat", "parameters": {"num_inference_steps": 30, "width": 64}}, LIMITS)
    assert u.envelope is Envelope.INPUTS
    assert u.requests == [{"prompt": "a cat", "num_inference_steps": 30, "width": 64}]


def test_inputs_may_be_an_object():
    u = unwrap({"inputs": {"prompt": "a", "seed": 1}, "parameters": {"seed": 2}}, LIMITS)
    assert u.requests == [{"prompt": "a", "seed": 1}]  # the item's own fields win


def test_vertex_instances_share_parameters():
    u = unwrap(
        {"instances": [{"prompt": "a"}, "b"], "parameters": {"num_inference_steps": 5}}, LIMITS
    )
    assert u.envelope is Envelope.INSTANCES
    assert u.requests == [
        {"prompt": "a", "num_inference_steps": 5},
        {"prompt": "b", "num_inference_steps": 5},
    ]


def test_plain_object_is_azure_style():
    u = unwrap({"prompt": "a", "num_frames": 16}, LIMITS)
    assert u.envelope is Envelope.PLAIN and u.requests == [{"prompt": "a", "num_frames": 16}]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"inputs": "a", "instances": ["b"]}, "inputs"),
        ({"prompt": "a", "parameters": {}}, "parameters"),
        ({"inputs": "a", "parameters": [1]}, "parameters"),
        ({"inputs": "a", "seed": 3}, "seed"),
        ({"instances": []}, "instances"),
        ({"instances": "a"}, "instances"),
        ({"instances": ["a"] * 5}, "instances"),
        ({"instances": [3]}, "instances[0]"),
        ({"inputs": 42}, "inputs"),
    ],
)
def test_malformed_envelopes(payload, field):
    with pytest.raises(RequestError) as exc:
        unwrap(payload, LIMITS)
    assert exc.value.field == field


@pytest.mark.parametrize("payload", [[1, 2], "a", 3, None])
def test_body_must_be_an_object(payload):
    with pytest.raises(RequestError, match="JSON object"):
        unwrap(payload, LIMITS)


@settings(max_examples=200, deadline=None)
@given(st.from_type(object).filter(lambda v: _jsonable(v)) | st.dictionaries(st.text(), st.text()))
def test_fuzz_unwrap_never_crashes(payload):
    try:
        u = unwrap(payload, LIMITS)
    except RequestError:
        return
    assert all(isinstance(r, dict) for r in u.requests)


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True
