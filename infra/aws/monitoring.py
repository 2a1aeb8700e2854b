"""The endpoint's CloudWatch alarms: 5xx and 4xx rates, p90 model latency, and (async) the
backlog. The 5xx and latency alarms also guard a rollout (:mod:`infra.aws.endpoint`)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_aws.cloudwatch as cloudwatch

from infra.aws.model import VARIANT
from infra.aws.scope import Scope

# Roll back on what the new fleet causes (5xx, latency), not on what clients send
# (4xx) nor on a backlog that grows while the new fleet warms up.
GUARD_METRICS = ("Invocation5XXErrors", "ModelLatency")


@dataclass(frozen=True)
class Alarm:
    resource: cloudwatch.MetricAlarm
    alarm_name: str  # known at plan time: the rollback config names it
    metric: str


def alarms(scope: Scope) -> list[Alarm]:
    """One alarm per spec below (none when ``alarms.enabled`` is false)."""
    plan, name = scope.plan, scope.name
    a = plan.settings.alarms
    if not a.enabled:
        return []
    ep = plan.endpoint_name
    dims = {"EndpointName": ep, "VariantName": VARIANT}
    notify = [a.topic_arn] if a.topic_arn else None
    common = dict(
        namespace="AWS/SageMaker",
        period=a.period_seconds,
        evaluation_periods=a.evaluation_periods,
        datapoints_to_alarm=min(2, a.evaluation_periods),
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=notify,
        ok_actions=notify,
        tags=scope.tags,
    )
    specs = [
        (
            "5xx",
            f"{ep}-5xx-rate",
            "share of invocations answered 5xx",
            "Invocation5XXErrors",
            {"statistic": "Average", "threshold": a.error5xx_rate},
        ),
        (
            "4xx",
            f"{ep}-4xx-rate",
            "share of invocations answered 4xx (clients' errors)",
            "Invocation4XXErrors",
            {"statistic": "Average", "threshold": a.error4xx_rate},
        ),
        (
            "latency",
            f"{ep}-model-latency-p90",
            "p90 model latency (microseconds)",
            "ModelLatency",
            {"extended_statistic": "p90", "threshold": a.latency_p90_seconds * 1e6},
        ),
    ]
    found = []
    for short, alarm_name, what, metric, stat in specs:
        resource = cloudwatch.MetricAlarm(
            f"{name}-{short}",
            name=alarm_name,
            alarm_description=f"{ep}: {what}",
            metric_name=metric,
            dimensions=dims,
            opts=scope.child(),
            **stat,
            **common,
        )
        found.append(Alarm(resource, alarm_name, metric))
    if plan.mode == "async":
        resource = cloudwatch.MetricAlarm(
            f"{name}-backlog",
            name=f"{ep}-backlog",
            alarm_description=f"{ep}: queued async requests",
            metric_name="ApproximateBacklogSize",
            statistic="Average",
            threshold=float(a.backlog),
            dimensions={"EndpointName": ep},
            opts=scope.child(),
            **common,
        )
        found.append(Alarm(resource, f"{ep}-backlog", "ApproximateBacklogSize"))
    return found


def guards(found: list[Alarm]) -> list[Alarm]:
    """The alarms that roll a blue/green update back."""
    return [a for a in found if a.metric in GUARD_METRICS]
