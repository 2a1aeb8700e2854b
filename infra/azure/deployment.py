"""The deployments behind the endpoint and the traffic step after all of them.

Each deployment runs the environment version with the model version mounted, probes sized
to the model's load and one full request, and the engine's limits as ``GENAI_*``. Traffic
is written by :class:`~infra.azure.traffic.EndpointTraffic` once every deployment exists
(an endpoint cannot route to a deployment that does not exist yet).
"""

from __future__ import annotations

import hashlib
import json

import pulumi
import pulumi_azure_native.machinelearningservices as ml

from infra.azure.config import AzurePlan, DeploymentPlan
from infra.azure.scope import Scope
from infra.azure.traffic import EndpointTraffic
from infra.serving import container_env

PROBE_PERIOD_S = 10


def iso_seconds(seconds: int) -> str:
    return f"PT{int(seconds)}S"


def probes(plan: AzurePlan) -> tuple[ml.ProbeSettingsArgs, ml.ProbeSettingsArgs]:
    """Readiness tolerates the model load; liveness starts after it and tolerates one full
    request (the server answers liveness while a generation runs, but a slow node may not)."""
    t = plan.timing
    readiness = ml.ProbeSettingsArgs(
        initial_delay=iso_seconds(10),
        period=iso_seconds(PROBE_PERIOD_S),
        timeout=iso_seconds(PROBE_PERIOD_S),
        failure_threshold=-(-t.load_s // PROBE_PERIOD_S) + 3,
        success_threshold=1,
    )
    liveness = ml.ProbeSettingsArgs(
        initial_delay=iso_seconds(t.load_s),
        period=iso_seconds(PROBE_PERIOD_S),
        timeout=iso_seconds(PROBE_PERIOD_S),
        failure_threshold=-(-(t.request_timeout_ms // 1000 + 30) // PROBE_PERIOD_S),
        success_threshold=1,
    )
    return readiness, liveness


def environment_variables(plan: AzurePlan) -> dict[str, str]:
    m, t, w = plan.manifest, plan.timing, plan.settings.workload
    limit = m.limit("managed")
    env = container_env(
        m,
        "azureml",
        task=plan.task,
        timeout_s=t.request_timeout_ms // 1000,
        max_request_bytes=limit.max_request_bytes if limit else None,
        gpu=all(d.instance.gpu_count > 0 for d in plan.deployments),
        speed=plan.settings.speed,
        engine=plan.engine_env,
    )
    env.update(
        {
            "GENAI_MAX_QUEUE": str(plan.settings.max_queue),
            "GENAI_QUEUE_TIMEOUT_S": str(t.queue_s),
            "GENAI_REQUEST_TIMEOUT_S": str(t.generation_s),
            "GENAI_MAX_STEPS": str(w.max_steps),
            "GENAI_MAX_OUTPUTS": str(w.max_outputs),
            "GENAI_MAX_INSTANCES": str(w.max_batch),
            "GENAI_MAX_FRAMES": str(w.max_frames),
        }
    )
    return env


def online_deployments(
    scope: Scope,
    endpoint: ml.OnlineEndpoint,
    model: ml.ModelVersion,
    environment: ml.EnvironmentVersion,
    depends_on: list[pulumi.Resource],
) -> dict[str, ml.OnlineDeployment]:
    """One managed deployment per configured one, after the endpoint and its role grants."""
    return {
        d.name: online_deployment(scope, d, endpoint, model, environment, depends_on)
        for d in scope.plan.deployments
    }


def online_deployment(
    scope: Scope,
    d: DeploymentPlan,
    endpoint: ml.OnlineEndpoint,
    model: ml.ModelVersion,
    environment: ml.EnvironmentVersion,
    depends_on: list[pulumi.Resource],
) -> ml.OnlineDeployment:
    plan = scope.plan
    readiness, liveness = probes(plan)
    return ml.OnlineDeployment(
        f"{scope.name}-deployment-{d.name}",
        endpoint_name=plan.endpoint_name,
        deployment_name=d.name,
        location=plan.settings.location,
        sku=ml.SkuArgs(name="Default", capacity=d.capacity),
        properties=ml.ManagedOnlineDeploymentArgs(
            endpoint_compute_type="Managed",
            instance_type=d.instance.name,
            model=model.id,
            environment_id=environment.id,
            environment_variables=environment_variables(plan),
            request_settings=ml.OnlineRequestSettingsArgs(
                request_timeout=f"PT{plan.timing.request_timeout_ms / 1000:g}S",
                max_concurrent_requests_per_instance=plan.max_concurrent_requests,
            ),
            readiness_probe=readiness,
            liveness_probe=liveness,
            app_insights_enabled=True,
            egress_public_network_access=plan.settings.egress_public_network_access,
            scale_settings=ml.DefaultScaleSettingsArgs(scale_type="Default"),
            description=f"{d.name}: {d.instance.name}, {plan.manifest.model.id}",
        ),
        tags=scope.tags,
        opts=scope.child(depends_on=[endpoint, *depends_on]),
        **scope.in_workspace,
    )


def nonzero(weights: dict[str, int]) -> dict[str, int]:
    """A traffic map as Azure's own tools send it: deployments at 0 % left out."""
    return {k: int(v) for k, v in weights.items() if int(v) > 0}


def live_traffic(plan: AzurePlan) -> dict[str, int]:
    return nonzero({d.name: d.traffic for d in plan.deployments})


def traffic_revision(scope: Scope) -> str:
    """Changes whenever the endpoint's own inputs change, so the traffic step runs again
    after an update of the endpoint."""
    cfg = scope.plan.settings
    return hashlib.sha256(
        json.dumps(
            {
                "auth": cfg.auth_mode,
                "access": cfg.public_network_access,
                "identity": cfg.identity.model_dump(),
                "tags": scope.tags,
                "deployments": [d.name for d in scope.plan.deployments],
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]


def endpoint_traffic(
    scope: Scope, endpoint: ml.OnlineEndpoint, deployments: list[ml.OnlineDeployment]
) -> EndpointTraffic:
    """Live and mirrored traffic, written after every deployment exists."""
    return EndpointTraffic(
        f"{scope.name}-traffic",
        endpoint_id=endpoint.id,
        traffic=live_traffic(scope.plan),
        mirror_traffic=nonzero({d.name: d.mirror_traffic for d in scope.plan.deployments}),
        revision=traffic_revision(scope),
        opts=scope.child(depends_on=[endpoint, *deployments]),
    )
