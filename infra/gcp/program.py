"""Google Cloud in the program: the Vertex AI component and its stack outputs (docs/pulumi.md)."""

from __future__ import annotations

import json

import pulumi

from infra.config import StackConfig
from infra.gcp.config import GcpPlan
from infra.gcp.endpoint import VertexEndpoint, VertexEndpointArgs, artifact_uri
from infra.gcp.outputs import GcpOutputs


def deploy(cfg: StackConfig, plan: GcpPlan) -> None:
    """Create the Vertex AI component and export the ``gcp`` stack output (its keys:
    :class:`infra.gcp.outputs.GcpOutputs`)."""
    component = VertexEndpoint(
        "vertex", VertexEndpointArgs(plan=plan, task=cfg.settings.task, tags=cfg.tags())
    )
    inst = plan.instance
    s = plan.settings
    body = json.dumps({"instances": [{"prompt": "a red square"}], "parameters": {"seed": 1}})
    invoke = component.predict_url.apply(
        lambda url: (
            'curl -X POST -H "Authorization: Bearer $(gcloud auth print-access-token)" '
            f"-H 'Content-Type: application/json' -d '{body}' {url}"
        )
    )
    pulumi.export(
        "gcp",
        GcpOutputs.export(
            project=plan.project,
            region=s.region,
            endpoint_name=component.endpoint_name,
            endpoint_id=plan.endpoint_id,
            predict_url=component.predict_url,
            deployed_model_id=component.deployed_model_id,
            dedicated_endpoint=plan.dedicated,
            max_request_bytes=plan.limit.max_request_bytes,
            timeout_s=plan.limit.timeout_s,
            machine_type=inst.name,
            accelerator=f"{plan.accelerator_count} x {plan.accelerator_type}",
            min_replicas=s.min_replicas,
            max_replicas=s.max_replicas,
            bucket=component.bucket_name,
            artifact_uri=artifact_uri(plan),
            image=component.image,
            model_id=plan.manifest.model.id,
            model_revision=plan.manifest.model.revision,
            inference_timeout_s=plan.inference_timeout_s,
            service_account=component.service_account_email,
            invoke=invoke,
            usd_per_hour_min=plan.cost_min,
            usd_per_hour_max=plan.cost_max,
            price_note=(
                f"on-demand list price, {inst.region}, {inst.price_date}; estimate"
                + ("; spot VMs cost less but may be preempted" if s.spot else "")
            ),
        ),
    )
