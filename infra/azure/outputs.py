"""The ``azure`` stack output: what ``infra/azure/program.py`` exports, what the client reads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from infra.outputs import StackOutput

# the endpoint's auth mode as Azure ML names it (exported) → as the client's targets name it
AUTH_MODE_NAMES = {"Key": "key", "AADToken": "aad_token"}


class DeploymentOutput(BaseModel):
    """One deployment behind the endpoint."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    instance_type: str | None = None
    traffic: int | None = None  # percent of the endpoint's traffic
    mirror_traffic: int | None = None  # percent copied to it, answers discarded
    min_instances: int | None = None
    max_instances: int | None = None


class AzureOutputs(StackOutput):
    endpoint_name: str
    scoring_uri: str
    auth_mode: Literal["key", "aad_token"] = "key"
    subscription_id: str | None = None
    location: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    deployments: dict[str, DeploymentOutput] | None = None
    request_timeout_ms: int | None = None
    estimated_request_s: float | None = None
    datastore_uri: str | None = None
    weights_prefix: str | None = None

    @field_validator("auth_mode", mode="before")
    @classmethod
    def _client_name(cls, value: object) -> object:
        """The stack exports Azure ML's name (``Key``, ``AADToken``); read as the client's."""
        return AUTH_MODE_NAMES.get(value, value) if isinstance(value, str) else value

    @property
    def max_instances(self) -> int | None:
        if not self.deployments:
            return None
        return sum(d.max_instances or 0 for d in self.deployments.values()) or None
