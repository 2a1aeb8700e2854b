"""The ``gcp`` stack output: what ``infra/gcp/program.py`` exports, what the client reads."""

from __future__ import annotations

from infra.outputs import StackOutput


class GcpOutputs(StackOutput):
    project: str
    region: str
    predict_url: str
    endpoint_name: str | None = None  # projects/…/locations/…/endpoints/<id>
    endpoint_id: str | None = None
    deployed_model_id: str | None = None
    dedicated_endpoint: bool = False
    max_request_bytes: int | None = None
    timeout_s: int | None = None
    machine_type: str | None = None
    accelerator: str | None = None  # "<count> x <type>"
    min_replicas: int | None = None
    max_replicas: int | None = None
    bucket: str | None = None
    artifact_uri: str | None = None
    inference_timeout_s: int | None = None
    service_account: str | None = None
    invoke: str | None = None  # a copy-paste curl call
