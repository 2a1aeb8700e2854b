"""Alerts on the endpoint: 5xx answers per minute and p90 latency, to an existing action
group and/or one the stack creates for ``alarms.emails``/``alarms.webhooks``; none without
a destination (an alert that tells nobody is not made)."""

from __future__ import annotations

import re

import pulumi
import pulumi_azure_native.machinelearningservices as ml
import pulumi_azure_native.monitor as monitor

from infra.azure.scaling import ENDPOINT_METRICS
from infra.azure.scope import Scope


def action_groups(scope: Scope) -> list[pulumi.Input[str]]:
    """Where alerts go: the configured group, plus one that e-mails ``alarms.emails`` and
    posts to ``alarms.webhooks`` (Azure Monitor's common alert schema)."""
    plan = scope.plan
    al = plan.settings.alarms
    groups: list[pulumi.Input[str]] = [al.action_group_id] if al.action_group_id else []
    if al.emails or al.webhooks:
        group = monitor.ActionGroup(
            f"{scope.name}-notify",
            action_group_name=f"{plan.endpoint_name}-alerts",
            group_short_name=re.sub(r"[^A-Za-z0-9]", "", plan.endpoint_name)[:12],
            resource_group_name=plan.resource_group_name,
            location="Global",
            enabled=True,
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name=f"email-{i}", email_address=e, use_common_alert_schema=True
                )
                for i, e in enumerate(al.emails)
            ],
            webhook_receivers=[
                monitor.WebhookReceiverArgs(
                    name=f"webhook-{i}", service_uri=u, use_common_alert_schema=True
                )
                for i, u in enumerate(al.webhooks)
            ]
            or None,
            tags=scope.tags,
            opts=scope.child(),
        )
        groups.append(group.id)
    return groups


def criteria(
    metric: str, threshold: float, dims: list[monitor.MetricDimensionArgs] | None = None
) -> monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs:
    """One static threshold, above which the endpoint's ``metric`` (averaged) alerts."""
    return monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
        odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
        all_of=[
            monitor.MetricCriteriaArgs(
                criterion_type="StaticThresholdCriterion",
                name=metric,
                metric_name=metric,
                metric_namespace=ENDPOINT_METRICS,
                operator="GreaterThan",
                threshold=threshold,
                time_aggregation="Average",
                dimensions=dims,
            )
        ],
    )


def alerts(
    scope: Scope, endpoint: ml.OnlineEndpoint, deployments: list[ml.OnlineDeployment]
) -> list[monitor.MetricAlert]:
    """The 5xx and latency alerts, each to every action group (none without one)."""
    plan = scope.plan
    al = plan.settings.alarms
    if not al.notifies:
        return []
    latency_ms = al.latency_p90_ms or int(plan.timing.request_timeout_ms * 0.8)
    groups = action_groups(scope)
    actions = [monitor.MetricAlertActionArgs(action_group_id=g) for g in groups]
    common = dict(
        resource_group_name=plan.resource_group_name,
        location="global",
        enabled=True,
        severity=al.severity,
        evaluation_frequency="PT1M",
        window_size=f"PT{al.window_minutes}M",
        scopes=[endpoint.id],
        auto_mitigate=True,
        actions=actions,
        tags=scope.tags,
    )
    ep = plan.endpoint_name
    five_xx = [
        monitor.MetricDimensionArgs(name="statusCodeClass", operator="Include", values=["5xx"])
    ]
    return [
        monitor.MetricAlert(
            f"{scope.name}-5xx",
            rule_name=f"{ep}-5xx",
            description=f"{ep}: requests answered 5xx per minute",
            criteria=criteria("RequestsPerMinute", al.error5xx_per_minute, five_xx),
            opts=scope.child(depends_on=deployments),
            **common,
        ),
        monitor.MetricAlert(
            f"{scope.name}-latency",
            rule_name=f"{ep}-latency-p90",
            description=f"{ep}: p90 request latency (ms)",
            criteria=criteria("RequestLatency_P90", float(latency_ms)),
            opts=scope.child(depends_on=deployments),
            **common,
        ),
    ]
