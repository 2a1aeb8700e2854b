"""From a target in the file to what the client calls: a transport, a model identity and
a price. Stack outputs are read only when a target is first used."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from genai_endpoints.client import pricing
from genai_endpoints.client.errors import ConfigError
from genai_endpoints.client.outputs import (
    AwsOutputs,
    AzureOutputs,
    GcpOutputs,
    read_outputs,
    section_for,
)
from genai_endpoints.client.targets import (
    AzureOpenAITarget,
    BedrockTarget,
    EndpointTarget,
    ImagenTarget,
    Target,
)
from genai_endpoints.client.transports.base import Transport
from scoring.schema import Task


@dataclass
class Resolved:
    """A target ready to call, with what the selector and the cache need to know."""

    target: Target
    transport: Transport
    price_per_hour: float | None = None
    price_per_image: float | None = None
    price_note: str = ""
    tasks: tuple[Task, ...] | None = None
    details: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.target.name


def resolve(target: Target) -> Resolved:
    if isinstance(target, EndpointTarget):
        return _endpoint(target)
    if isinstance(target, BedrockTarget):
        from genai_endpoints.client.transports.bedrock import Bedrock

        t = Bedrock(
            target.model,
            target.region,
            image_quality=target.image_quality,
            style_preset=target.style_preset,
        )
        return _managed(target, t, target.model)
    if isinstance(target, ImagenTarget):
        from genai_endpoints.client.transports.imagen import Imagen

        t = Imagen(
            target.model,
            project=target.project,
            region=target.region,
            add_watermark=target.add_watermark,
            api_endpoint=str(target.api_endpoint) if target.api_endpoint else None,
        )
        return _managed(target, t, target.model)
    if isinstance(target, AzureOpenAITarget):
        from genai_endpoints.client.transports.azure_openai import AzureOpenAIImages

        t = AzureOpenAIImages(
            str(target.endpoint),
            target.deployment,
            target.model,
            api_version=target.api_version,
            image_quality=target.image_quality,
            style=target.style,
            auth=target.auth,
            key_env=target.key_env,
            allow_unseeded=target.allow_unseeded,
        )
        return _managed(target, t, target.model)
    raise ConfigError(f"target {target.name}: unknown kind")  # pragma: no cover


def _managed(target, transport: Transport, model: str) -> Resolved:
    tasks = target.tasks or (Task.TEXT_TO_IMAGE,)
    if target.price_per_image is not None:
        return Resolved(
            target, transport, None, target.price_per_image, "price_per_image (target)", tasks
        )
    row = pricing.list_price(target.kind, model)
    if row is None:
        return Resolved(target, transport, None, None, "no list price; set price_per_image", tasks)
    return Resolved(target, transport, None, row.usd_per_image, pricing.price_note(row), tasks)


def _endpoint(target: EndpointTarget) -> Resolved:
    from genai_endpoints.client.transports.contracts import ContractHttp

    if target.url is not None:
        model_id, revision, tasks = target.model_id, target.model_revision, target.tasks
        if target.package is not None:
            m_id, m_rev, m_tasks = _from_package(target.package, target.name)
            model_id, revision = model_id or m_id, revision or m_rev
            tasks = tasks or m_tasks
        t = ContractHttp(target.kind, str(target.url), model_id, revision)
        note = "price_per_hour (target)" if target.price_per_hour is not None else "no $/hour"
        return Resolved(
            target, t, target.price_per_hour, target.price_per_image, note, tasks,
            {"url": str(target.url)},
        )  # fmt: skip

    source = f"stack {target.stack}" if target.stack else f"outputs {target.outputs}"
    outputs = read_outputs(
        stack=target.stack, outputs_file=target.outputs, project_dir=target.project_dir
    )
    section = section_for(target.kind, outputs, source)
    if isinstance(section, AwsOutputs):
        from genai_endpoints.client.transports.sagemaker import SageMakerAsync, SageMakerRealtime

        if target.kind == "sagemaker-async":
            t: Transport = SageMakerAsync(section, poll_s=target.poll_s)
        else:
            t = SageMakerRealtime(section)
        instances = section.max_instances
        details = {"endpoint": section.endpoint_name, "region": section.region}
    elif isinstance(section, GcpOutputs):
        from genai_endpoints.client.transports.vertex import VertexEndpoint

        t = VertexEndpoint(section)
        instances = section.max_replicas
        details = {"endpoint": section.endpoint_id, "region": section.region}
    else:
        assert isinstance(section, AzureOutputs)
        from genai_endpoints.client.transports.azureml import AzureMlEndpoint

        t = AzureMlEndpoint(
            section, auth=target.auth, key_env=target.key_env, deployment=target.deployment
        )
        instances = section.max_instances
        details = {"endpoint": section.endpoint_name}
    if target.model_id:
        t.model_id = target.model_id
    if target.model_revision:
        t.model_revision = target.model_revision
    if target.price_per_hour is not None:
        per_hour, note = target.price_per_hour, "price_per_hour (target)"
    else:
        per_hour, note = section.instance_price(instances)
    return Resolved(target, t, per_hour, target.price_per_image, note, target.tasks, details)


def _from_package(
    package: Path, name: str
) -> tuple[str | None, str | None, tuple[Task, ...] | None]:
    """Model id, revision and tasks from a built package's manifest.json."""
    path = package / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
        model = manifest["model"]
        tasks = tuple(Task(t) for t in model.get("tasks") or ()) or None
        return model.get("id"), model.get("revision"), tasks
    except OSError as exc:
        raise ConfigError(f"target {name}: package: cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"target {name}: package: {path} is not a package manifest") from None
