"""The model upload and its deployment on the endpoint (:mod:`infra.gcp.vertex_provider`).

The model's ``artifactUri`` is the weights prefix and its image ``repo@sha256:…``; the
model id and deployed-model id are content-derived here, so a retried create adopts what a
failed one left behind, and a new id means exactly a new upload or new machines.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pulumi

from infra.gcp.config import ACCELERATOR_DUTY_CYCLE, CPU_UTILIZATION, GcpPlan
from infra.gcp.scope import Scope
from infra.gcp.storage import artifact_uri
from infra.gcp.vertex_provider import VertexDeployment
from infra.serving import container_env as serving_env

PROBE_PERIOD_S = 10


def content_id(*parts: object, length: int = 12) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def model_id_for(stack: str, spec: dict) -> str:
    """A model id (``[a-z][a-z0-9_-]{0,62}``) that changes exactly when the upload would."""
    stem = re.sub(r"[^a-z0-9-]+", "-", f"genai-{stack}".lower()).strip("-")[:48]
    return f"{stem}-{content_id(spec)}"


def deployed_model_id_for(model_id: str, fixed: dict) -> str:
    """1-10 digits, no leading zero; changes when the model or an immutable setting does."""
    n = int(content_id(model_id, fixed, length=16), 16)
    return str(1_000_000_000 + n % 9_000_000_000)


def startup_budget_s(size_bytes: int) -> int:
    """Download from GCS + verify + load to GPU + warm-up; 10 min floor, 1 h cap."""
    return min(3600, max(600, int(size_bytes / 1e9) * 60 + 600))


def predict_url(plan: GcpPlan) -> str:
    """Where to POST ``{"instances": [...]}``; a dedicated endpoint answers on its own DNS."""
    path = f"v1/{plan.endpoint_name}:predict"
    cfg = plan.settings
    if plan.dedicated:
        # https://{endpointId}.{region}-{projectNumber}.prediction.vertexai.goog; the
        # deployment replaces this form with the endpoint's dedicatedEndpointDns once it exists
        return f"https://{plan.endpoint_id}.{cfg.region}-<project-number>.prediction.vertexai.goog/{path}"
    if cfg.psc.enabled:
        return f"https://<psc-endpoint-ip-or-dns>/{path}"
    return f"https://{cfg.region}-aiplatform.googleapis.com/{path}"


def container_env(plan: GcpPlan, task: str, extra_env: dict[str, str]) -> dict[str, str]:
    """The container's environment (the AIP_* variables are Vertex's own, never set here)."""
    limit = plan.limit
    extra = {"GENAI_MODE": "dedicated" if plan.limit.name == "dedicated" else "shared"}
    if limit.max_response_bytes:
        extra["GENAI_MAX_RESPONSE_BYTES"] = str(limit.max_response_bytes)
    extra.update(extra_env)
    return serving_env(
        plan.manifest,
        "vertex",
        task=task,
        timeout_s=limit.timeout_s,
        max_request_bytes=limit.max_request_bytes,
        gpu=plan.instance.gpu_count > 0,
        extra=extra,
        speed=plan.settings.speed,
        engine=plan.engine_env,
    )


def container_spec(plan: GcpPlan, env: dict[str, str], image: pulumi.Input[str]) -> dict:
    """``containerSpec``: routes, port, probes sized to the model's start-up budget."""
    rt = plan.manifest.runtime
    budget = startup_budget_s(plan.manifest.model.size_bytes)
    period = PROBE_PERIOD_S
    return {
        "imageUri": image,
        "args": list(rt.args),
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "ports": [{"containerPort": rt.port}],
        "healthRoute": rt.health_route,
        "predictRoute": rt.predict_route,
        "sharedMemorySizeMb": str(plan.settings.shared_memory_mb),  # int64: a string in JSON
        "startupProbe": {
            "httpGet": {"path": rt.readiness_route, "port": rt.port},
            "periodSeconds": period,
            "timeoutSeconds": period + 5,  # the API wants period < timeout
            "failureThreshold": budget // period,
        },
        "healthProbe": {
            "httpGet": {"path": rt.health_route, "port": rt.port},
            "periodSeconds": period,
            "timeoutSeconds": period + 5,
            "failureThreshold": 3,
        },
        "deploymentTimeout": f"{min(7200, budget + 900)}s",
    }


def model_spec(plan: GcpPlan, labels: dict[str, str], container: dict) -> dict:
    """The ``Model`` to upload: the weights prefix, the container, CMEK when set."""
    manifest = plan.manifest
    model: dict = {
        "displayName": f"genai-{plan.stack}-{manifest.model.id.split('/')[-1]}"[:128],
        "description": f"{manifest.model.id}@{manifest.model.revision} (engine "
        f"{manifest.engine_version}, weights {manifest.weights.digest[:12]})",
        "artifactUri": artifact_uri(plan),
        "containerSpec": container,
        "labels": labels,
    }
    if plan.settings.kms_key:
        model["encryptionSpec"] = {"kmsKeyName": plan.settings.kms_key}
    return model


def autoscaling_metrics(plan: GcpPlan) -> list[dict[str, Any]]:
    """The replica autoscaler's targets; an unset one is not sent."""
    auto = plan.settings.autoscaling
    metrics = []
    if auto.accelerator_duty_cycle is not None:
        metrics.append(
            {"metricName": ACCELERATOR_DUTY_CYCLE, "target": auto.accelerator_duty_cycle}
        )
    if auto.cpu_utilization is not None:
        metrics.append({"metricName": CPU_UTILIZATION, "target": auto.cpu_utilization})
    return metrics


def machine_spec(plan: GcpPlan) -> dict[str, Any]:
    return {
        "machineType": plan.instance.name,
        "acceleratorType": plan.accelerator_type,
        "acceleratorCount": plan.accelerator_count,
    }


def deployed_model_spec(plan: GcpPlan, display_name: str, sa_email: str) -> dict:
    """The ``DeployedModel``: machines, replicas, autoscaling, identity, logging."""
    cfg = plan.settings
    return {
        "displayName": display_name,
        "dedicatedResources": {
            "machineSpec": machine_spec(plan),
            "minReplicaCount": cfg.min_replicas,
            "maxReplicaCount": cfg.max_replicas,
            "autoscalingMetricSpecs": autoscaling_metrics(plan),
            "spot": cfg.spot,
        },
        "serviceAccount": sa_email,
        "disableContainerLogging": not cfg.container_logging,
        "enableAccessLogging": cfg.access_logging,
    }


def deployment_props(
    scope: Scope,
    task: str,
    extra_env: dict[str, str],
    sa_email: str,
    image: pulumi.Input[str],
) -> dict:
    """The dynamic resource's inputs: JSON (the image an Output), no credentials."""
    plan = scope.plan
    cfg = plan.settings
    container = container_spec(plan, container_env(plan, task, extra_env), image)
    model = model_spec(plan, scope.labels, container)
    # the model id is content-derived: the image digest is part of it once known
    spec = pulumi.Output.from_input(image).apply(
        lambda ref: model_id_for(
            plan.stack,
            {
                "endpoint": plan.endpoint_name,
                "model": {**model, "containerSpec": {**container, "imageUri": ref}},
            },
        )
    )
    immutable = {
        "machine": machine_spec(plan),
        "spot": cfg.spot,
        "serviceAccount": sa_email,
        "enableAccessLogging": cfg.access_logging,
    }
    timeout = plan.inference_timeout_s
    return {
        "api_base": f"https://{cfg.region}-aiplatform.googleapis.com/v1",
        "project": plan.project,
        "region": cfg.region,
        "endpoint": plan.endpoint_name,
        "model_id": spec,
        "model": model,
        "upload_service_account": sa_email,
        "deployed_model_id": spec.apply(lambda m: deployed_model_id_for(m, immutable)),
        "deployed_model": deployed_model_spec(plan, model["displayName"], sa_email),
        "traffic_percent": cfg.traffic_percent,
        "inference_timeout": f"{timeout}s" if timeout else None,
        "predict_url": predict_url(plan),
        "timeout_s": cfg.operation_timeout_minutes * 60,
        "poll_s": 15,
    }


def deploy_model(scope: Scope, props: dict, depends_on: list[pulumi.Resource]) -> VertexDeployment:
    """Upload and deploy; its operations get generous multiples of the operation timeout."""
    minutes = scope.plan.settings.operation_timeout_minutes
    return VertexDeployment(
        f"{scope.name}-deployment",
        props,
        opts=scope.own(
            depends_on=depends_on,
            custom_timeouts=pulumi.CustomTimeouts(
                create=f"{minutes * 3}m",
                update=f"{minutes * 4}m",
                delete=f"{minutes * 2}m",
            ),
        ),
    )
