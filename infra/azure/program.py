"""Azure in the program: the Azure ML component and its stack outputs (docs/pulumi.md)."""

from __future__ import annotations

import pulumi

from infra.azure.config import AzurePlan
from infra.azure.endpoint import AUTH_MODES, AzureMlEndpoint, AzureMlEndpointArgs
from infra.azure.outputs import AzureOutputs
from infra.config import StackConfig


def deploy(cfg: StackConfig, plan: AzurePlan) -> None:
    """Create the Azure ML component and export the ``azure`` stack output (its keys:
    :class:`infra.azure.outputs.AzureOutputs`)."""
    component = AzureMlEndpoint(
        "azureml", AzureMlEndpointArgs(plan=plan, tags=cfg.tags(), stack=cfg.stack)
    )
    az = plan.settings
    inst = plan.deployments[0].instance
    pulumi.export(
        "azure",
        AzureOutputs.export(
            endpoint_name=component.endpoint_name,
            scoring_uri=component.scoring_uri,
            auth_mode=AUTH_MODES[az.auth_mode],
            subscription_id=component.subscription_id,
            location=az.location,
            resource_group=plan.resource_group_name,
            workspace=plan.workspace_name,
            deployments={
                d.name: {
                    "instance_type": d.instance.name,
                    "traffic": d.traffic,
                    "mirror_traffic": d.mirror_traffic,
                    "min_instances": d.min_instances,
                    "max_instances": d.max_instances,
                }
                for d in plan.deployments
            },
            request_timeout_ms=plan.timing.request_timeout_ms,
            estimated_request_s=plan.timing.estimate_s,
            datastore_uri=component.datastore_uri,
            weights_prefix=plan.manifest.weights.key_prefix,
            image=component.image,
            model_id=plan.manifest.model.id,
            model_revision=plan.manifest.model.revision,
            usd_per_hour_min=plan.cost_min,
            usd_per_hour_max=plan.cost_max,
            price_note=f"pay-as-you-go list price, {inst.region}, {inst.price_date}; estimate",
        ),
    )
