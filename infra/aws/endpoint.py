"""The endpoint, rolled out blue/green by :mod:`infra.aws.rollout` (the live instance count
is kept), with the deployment policy SageMaker applies to each update."""

from __future__ import annotations

import pulumi_aws.sagemaker as sagemaker

from infra.aws.config import AwsPlan
from infra.aws.monitoring import Alarm, guards
from infra.aws.rollout import SageMakerEndpointDeployment
from infra.aws.scope import Scope


def deployment_config(plan: AwsPlan, guard_names: list[str]) -> dict:
    """The endpoint's ``DeploymentConfig`` (API shape): blue/green in whole instances."""
    d = plan.settings.deployment
    routing: dict = {
        "Type": {"all-at-once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}[d.strategy],
        "WaitIntervalInSeconds": d.wait_seconds,
    }
    step = {"Type": "INSTANCE_COUNT", "Value": d.step_instances}
    if d.strategy == "canary":
        routing["CanarySize"] = step
    elif d.strategy == "linear":
        routing["LinearStepSize"] = step
    config: dict = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": d.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": plan.rollout.max_execution_s,
        }
    }
    if d.auto_rollback and guard_names:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": n} for n in guard_names]}
    return config


def endpoint(
    scope: Scope, config: sagemaker.EndpointConfiguration, alarms: list[Alarm]
) -> SageMakerEndpointDeployment:
    """The endpoint on ``config``, created once its alarms exist (a rollout names them)."""
    plan = scope.plan
    return SageMakerEndpointDeployment(
        f"{scope.name}-endpoint",
        region=plan.settings.region,
        endpoint_name=plan.endpoint_name,
        endpoint_config_name=config.name,
        deployment_config=deployment_config(plan, [a.alarm_name for a in guards(alarms)]),
        tags=scope.tags,
        wait_s=plan.rollout.wait_s,
        opts=scope.own(depends_on=[config, *[a.resource for a in alarms]]),
    )
