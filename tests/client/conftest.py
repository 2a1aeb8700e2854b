"""The client tests' fixtures: two fake HTTP backends on loopback (tests/client/helpers.py)."""

from __future__ import annotations

import pytest

from tests.client.helpers import fake_server


@pytest.fixture
def fake():
    with fake_server() as server:
        yield server


@pytest.fixture
def fake2():
    with fake_server() as server:
        yield server
