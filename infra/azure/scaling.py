"""Autoscale for each deployment: Azure Monitor rules on the deployment's or the endpoint's
metrics (the latter filtered to that deployment), between its min and max instances."""

from __future__ import annotations

import pulumi_azure_native.machinelearningservices as ml
import pulumi_azure_native.monitor as monitor

from infra.azure.config import DeploymentPlan, ScaleRule
from infra.azure.scope import Scope

ENDPOINT_METRICS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"


def scale_rule(
    r: ScaleRule, d: DeploymentPlan, deployment: ml.OnlineDeployment, endpoint: ml.OnlineEndpoint
) -> monitor.ScaleRuleArgs:
    on_endpoint = r.source == "endpoint"
    return monitor.ScaleRuleArgs(
        metric_trigger=monitor.MetricTriggerArgs(
            metric_name=r.metric,
            metric_namespace=ENDPOINT_METRICS if on_endpoint else None,
            metric_resource_uri=endpoint.id if on_endpoint else deployment.id,
            dimensions=[
                monitor.ScaleRuleMetricDimensionArgs(
                    dimension_name="deployment", operator="Equals", values=[d.name]
                )
            ]
            if on_endpoint
            else None,
            operator=r.operator,
            statistic=r.statistic,
            threshold=r.threshold,
            time_aggregation=r.time_aggregation,
            time_grain="PT1M",
            time_window=f"PT{r.window_minutes}M",
        ),
        scale_action=monitor.ScaleActionArgs(
            direction=r.direction,
            type="ChangeCount",
            value=str(r.change),
            cooldown=f"PT{r.cooldown_minutes}M",
        ),
    )


def autoscale(
    scope: Scope,
    d: DeploymentPlan,
    deployment: ml.OnlineDeployment,
    endpoint: ml.OnlineEndpoint,
) -> monitor.AutoscaleSetting:
    plan = scope.plan
    rules = [scale_rule(r, d, deployment, endpoint) for r in plan.settings.autoscale.rules]
    return monitor.AutoscaleSetting(
        f"{scope.name}-autoscale-{d.name}",
        autoscale_setting_name=f"{plan.endpoint_name}-{d.name}-autoscale",
        resource_group_name=plan.resource_group_name,
        location=plan.settings.location,
        enabled=True,
        target_resource_uri=deployment.id,
        profiles=[
            monitor.AutoscaleProfileArgs(
                name="default",
                capacity=monitor.ScaleCapacityArgs(
                    minimum=str(d.min_instances),
                    maximum=str(d.max_instances),
                    default=str(d.capacity),
                ),
                rules=rules,
            )
        ],
        tags=scope.tags,
        opts=scope.child(depends_on=[deployment]),
    )
