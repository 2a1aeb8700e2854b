"""Our Azure ML online endpoint: its scoring URI with a key or a Microsoft Entra ID token.

``key``: the env var named by ``key_env`` if set, else ``MLClient.online_endpoints.get_keys``
(primary key) with ``DefaultAzureCredential``. ``aad_token``: a token for
``https://ml.azure.com/.default``. Either goes in ``Authorization: Bearer``; a named
deployment goes in ``azureml-model-deployment``.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from genai_endpoints.client.errors import ConfigError, register_secret
from genai_endpoints.client.outputs import AzureOutputs
from genai_endpoints.client.transports.base import (
    Answer,
    HttpPoster,
    Progress,
    Transport,
    envelope,
    parse_contract_answer,
)
from scoring.schema import GenerationRequest

AML_SCOPE = "https://ml.azure.com/.default"


class EntraToken:
    """A ``DefaultAzureCredential`` token for one scope, renewed a minute before expiry."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self._credential = None
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def credential(self):
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            # its log lists every credential tried; the error below says it in one line
            logging.getLogger("azure.identity").setLevel(logging.ERROR)
            self._credential = DefaultAzureCredential()
        return self._credential

    def get(self) -> str:
        from azure.core.exceptions import ClientAuthenticationError

        with self._lock:
            if self._token is None or time.time() > self._expires - 60:
                try:
                    token = self.credential().get_token(self.scope)
                except ClientAuthenticationError:
                    raise ConfigError(
                        f"azure: DefaultAzureCredential found no identity for {self.scope} "
                        "(run `az login` or set a managed/workload identity)"
                    ) from None
                self._token, self._expires = token.token, float(token.expires_on)
                register_secret(self._token)
            return self._token


class AzureMlEndpoint(Transport):
    kind = "azureml"

    def __init__(
        self,
        section: AzureOutputs,
        *,
        auth: str | None = None,
        key_env: str | None = None,
        deployment: str | None = None,
    ) -> None:
        self.section = section
        self.url = section.scoring_uri
        self.auth = auth or section.auth_mode
        self.key_env = key_env
        self.deployment = deployment
        self.identity = f"azureml:{self.url}" + (f"#{deployment}" if deployment else "")
        self.model_id = section.model_id
        self.model_revision = section.model_revision
        self.http = HttpPoster(f"azureml endpoint {section.endpoint_name}")
        self._key: str | None = None
        self._entra = EntraToken(AML_SCOPE)

    def _bearer(self) -> str:
        if self.auth == "aad_token":
            return self._entra.get()
        if self._key is None:
            self._key = self._read_key()
            register_secret(self._key)
        return self._key

    def _read_key(self) -> str:
        if self.key_env:
            value = os.environ.get(self.key_env)
            if not value:
                raise ConfigError(f"azureml: environment variable {self.key_env} is not set")
            return value
        s = self.section
        missing = [
            k for k in ("subscription_id", "resource_group", "workspace") if not getattr(s, k)
        ]
        if missing:
            raise ConfigError(
                f"azureml: to fetch the endpoint key the stack outputs need azure.{missing[0]}; "
                "or set key_env: to an environment variable holding the key"
            )
        from azure.ai.ml import MLClient

        client = MLClient(
            self._entra.credential(), s.subscription_id, s.resource_group, s.workspace
        )
        keys = client.online_endpoints.get_keys(s.endpoint_name)
        key = getattr(keys, "primary_key", None) or getattr(keys, "access_token", None)
        if not key:
            raise ConfigError(f"azureml: endpoint {s.endpoint_name} returned no key")
        return key

    def call(self, req: GenerationRequest, timeout: float, progress: Progress | None) -> Answer:
        headers = {"Authorization": f"Bearer {self._bearer()}"}
        if self.deployment:
            headers["azureml-model-deployment"] = self.deployment
        payload = self.http.post(self.url, envelope("azureml", req), timeout, headers)
        return parse_contract_answer(payload, self.http.label)

    def close(self) -> None:
        self.http.close()
