"""Our Vertex AI endpoint: ``:predict`` over REST with google-auth's default credentials.

``predict_url`` comes from the stack: the shared host ``{region}-aiplatform.googleapis.com``
or the dedicated endpoint's own DNS name; both take the same body and bearer token.
"""

from __future__ import annotations

import threading

from genai_endpoints.client.errors import ConfigError, register_secret
from genai_endpoints.client.outputs import GcpOutputs
from genai_endpoints.client.transports.base import (
    Answer,
    HttpPoster,
    Progress,
    Transport,
    envelope,
    parse_contract_answer,
)
from scoring.schema import GenerationRequest

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class GoogleToken:
    """An access token from ``google.auth.default()``, refreshed when it expires."""

    def __init__(self) -> None:
        self._credentials = None
        self.project: str | None = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            self._credentials, self.project = google.auth.default(scopes=[SCOPE])
        except DefaultCredentialsError:
            raise ConfigError(
                "google: no default credentials (run `gcloud auth application-default login` "
                "or set GOOGLE_APPLICATION_CREDENTIALS)"
            ) from None

    def header(self) -> dict[str, str]:
        from google.auth.exceptions import RefreshError
        from google.auth.transport.requests import Request

        with self._lock:
            if self._credentials is None:
                self._load()
            creds = self._credentials
            if not creds.valid:
                try:
                    creds.refresh(Request())
                except RefreshError:
                    raise ConfigError("google: the default credentials could not refresh") from None
            register_secret(creds.token)
            return {"Authorization": f"Bearer {creds.token}"}


class VertexEndpoint(Transport):
    kind = "vertex"

    def __init__(self, section: GcpOutputs, token: GoogleToken | None = None) -> None:
        self.url = section.predict_url
        self.identity = f"vertex:{self.url}"
        self.model_id = section.model_id
        self.model_revision = section.model_revision
        self.token = token or GoogleToken()
        self.http = HttpPoster(f"vertex endpoint {section.endpoint_id or self.url}")

    def call(self, req: GenerationRequest, timeout: float, progress: Progress | None) -> Answer:
        payload = self.http.post(self.url, envelope("vertex", req), timeout, self.token.header())
        return parse_contract_answer(payload, self.http.label)

    def close(self) -> None:
        self.http.close()
