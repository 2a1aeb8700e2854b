"""Fixtures for the Vertex AI tests: the fake Vertex AI REST API, a video package
(helpers: ``tests.infra.gcp.helpers``)."""

from __future__ import annotations

import pytest

from tests.infra.gcp.fake_vertex import FakeVertex, serve
from tests.infra.gcp.helpers import vertex_package


def _credentials(fake: FakeVertex):
    """google-auth credentials whose refresh asks the fake for its current token."""
    from google.auth.credentials import Credentials

    class FakeCredentials(Credentials):
        def refresh(self, _request) -> None:
            self.token = fake.issue_token()

    return FakeCredentials()


@pytest.fixture
def fake_vertex(monkeypatch):
    import google.auth

    fake = FakeVertex()
    monkeypatch.setattr(google.auth, "default", lambda scopes=None: (_credentials(fake), "proj"))
    server, base = serve(fake)
    fake.base = base
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def video_vertex_package(tmp_path):
    return vertex_package(tmp_path, id="tiny/text-to-video", tasks=["text-to-video"])
