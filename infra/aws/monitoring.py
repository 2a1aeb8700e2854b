"""The endpoint's CloudWatch alarms: 5xx and 4xx rates, p90 model latency, and (async) the
backlog — each with a destination, never into the void.

Who hears an alarm: ``alarms.topicArn`` (an existing SNS topic) and/or a topic this module
creates for ``alarms.emails``/``alarms.webhooks`` (encrypted with the stack's key; its policy
lets CloudWatch use it: :func:`infra.aws.storage.encryption_key`). Without a destination only
the 5xx and latency alarms that guard a rollout are made (``deployment.autoRollback``): their
destination is SageMaker, which rolls the update back (:mod:`infra.aws.endpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws.cloudwatch as cloudwatch
import pulumi_aws.sns as sns

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


def destinations(scope: Scope, key_arn: pulumi.Input[str] | None) -> list[pulumi.Input[str]]:
    """The topics the alarms notify on ALARM and OK: the given one, plus one the stack
    creates for ``emails`` (each address confirms its subscription by mail) and ``webhooks``
    (HTTPS; the receiver confirms SNS's SubscriptionConfirmation). Empty: nobody."""
    a, ep = scope.plan.settings.alarms, scope.plan.endpoint_name
    if not a.notifies:
        return []
    found: list[pulumi.Input[str]] = [a.topic_arn] if a.topic_arn else []
    if a.creates_topic:
        topic = sns.Topic(
            f"{scope.name}-alarms",
            name=f"{ep}-alarms",
            kms_master_key_id=key_arn,
            tags=scope.tags,
            opts=scope.child(),
        )
        receivers = [("email", e) for e in a.emails] + [("https", u) for u in a.webhooks]
        for i, (protocol, endpoint) in enumerate(receivers):
            sns.TopicSubscription(
                f"{scope.name}-alarms-{protocol}-{i}",
                topic=topic.arn,
                protocol=protocol,
                endpoint=endpoint,
                opts=scope.child(),
            )
        found.append(topic.arn)
    return found


def _specs(scope: Scope) -> list[tuple[str, str, str, str, dict]]:
    """(short name, alarm name, what it measures, metric, statistic and threshold)."""
    a, ep = scope.plan.settings.alarms, scope.plan.endpoint_name
    return [
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


def alarms(scope: Scope, key_arn: pulumi.Input[str] | None = None) -> list[Alarm]:
    """Every alarm that has a destination: all of them when somebody is notified, else
    only the rollback guards (none when neither)."""
    plan, name = scope.plan, scope.name
    a = plan.settings.alarms
    notify = destinations(scope, key_arn) or None
    guarding = plan.settings.deployment.auto_rollback
    ep = plan.endpoint_name
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
    found = []
    for short, alarm_name, what, metric, stat in _specs(scope):
        guard = guarding and metric in GUARD_METRICS
        if not (notify or guard):
            continue
        resource = cloudwatch.MetricAlarm(
            f"{name}-{short}",
            name=alarm_name,
            alarm_description=f"{ep}: {what}" + ("; rolls a rollout back" if guard else ""),
            metric_name=metric,
            dimensions={"EndpointName": ep, "VariantName": VARIANT},
            opts=scope.child(),
            **stat,
            **common,
        )
        found.append(Alarm(resource, alarm_name, metric))
    if plan.mode == "async" and notify:
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
