"""A rollout of an autoscaled variant, call by call, against botocore's own service models
(sagemaker, application-autoscaling, cloudwatch): every request the provider sends and every
answer it reads is validated by botocore's Stubber.

AWS, "Update endpoints that use auto scaling"
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html): an update
that changes the instance type of an autoscaled variant, or removes one, fails unless the
scaling policies are deleted and the target deregistered first; register and put them back
after. A model change alone is allowed and must touch nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import botocore.session
import pytest
from botocore.stub import Stubber

from infra.aws.rollout import SageMakerEndpointProvider

NAME = "genai-prod-x"
RESOURCE = f"endpoint/{NAME}/variant/primary"
DIM = "sagemaker:variant:DesiredInstanceCount"
SCOPE = {"ServiceNamespace": "sagemaker", "ResourceId": RESOURCE, "ScalableDimension": DIM}
T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNT = "123456789012"
TARGET_ARN = f"arn:aws:application-autoscaling:us-east-1:{ACCOUNT}:scalable-target/0123abcd"
OLD_STEP_ARN = (
    f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:scalingPolicy:11111111-1111-1111-1111-"
    f"111111111111:resource/sagemaker/{RESOURCE}:policyName/wake"
)
NEW_STEP_ARN = OLD_STEP_ARN.replace(
    "11111111-1111-1111-1111-111111111111", "2" * 8 + "-2222-2222-2222-" + "2" * 12
)
TRACKING = {
    "TargetValue": 20.0,
    "PredefinedMetricSpecification": {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    },
    "ScaleInCooldown": 900,
    "ScaleOutCooldown": 120,
}
STEP = {
    "AdjustmentType": "ChangeInCapacity",
    "MetricAggregationType": "Average",
    "Cooldown": 120,
    "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
}
WAKE_ALARM = {
    "AlarmName": f"{NAME}-has-backlog-without-capacity",
    "AlarmArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{NAME}-has-backlog",
    "ActionsEnabled": True,
    "AlarmActions": [OLD_STEP_ARN],
    "OKActions": [],
    "InsufficientDataActions": [],
    "MetricName": "HasBacklogWithoutCapacity",
    "Namespace": "AWS/SageMaker",
    "Statistic": "Average",
    "Dimensions": [{"Name": "EndpointName", "Value": NAME}],
    "Period": 60,
    "EvaluationPeriods": 2,
    "DatapointsToAlarm": 2,
    "Threshold": 1.0,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "TreatMissingData": "missing",
    "StateValue": "OK",
}


class Clients:
    """Real botocore clients, each behind a Stubber that knows its service's model."""

    def __init__(self) -> None:
        session = botocore.session.get_session()
        self.clients = {
            service: session.create_client(
                service,
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )
            for service in ("sagemaker", "application-autoscaling", "cloudwatch")
        }
        self.stubs = {s: Stubber(c) for s, c in self.clients.items()}
        for stub in self.stubs.values():
            stub.activate()

    def factory(self, _props, service):
        return self.clients[service]

    def expect(self, service: str, operation: str, response: dict, params: dict | None = None):
        self.stubs[service].add_response(operation, response, params)

    def done(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


def endpoint(status: str, config: str, variants=("primary",)) -> dict:
    return {
        "EndpointName": NAME,
        "EndpointArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{NAME}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": T0,
        "LastModifiedTime": T0,
        "ProductionVariants": [
            {"VariantName": v, "CurrentInstanceCount": 4, "DesiredInstanceCount": 4}
            for v in variants
        ],
    }


def endpoint_config(name: str, **types: str) -> dict:
    return {
        "EndpointConfigName": name,
        "EndpointConfigArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint-config/{name}",
        "CreationTime": T0,
        "ProductionVariants": [
            {
                "VariantName": variant,
                "ModelName": f"model-{name}",
                "InitialInstanceCount": 2,
                "InstanceType": kind,
            }
            for variant, kind in types.items()
        ],
    }


def target() -> dict:
    return {
        **SCOPE,
        "MinCapacity": 2,
        "MaxCapacity": 8,
        "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/sagemaker",
        "CreationTime": T0,
        "ScalableTargetARN": TARGET_ARN,
    }


def policy(name: str, kind: str, arn: str, alarms=()) -> dict:
    found = {
        **SCOPE,
        "PolicyARN": arn,
        "PolicyName": name,
        "PolicyType": kind,
        "CreationTime": T0,
        "Alarms": [
            {"AlarmName": a, "AlarmARN": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{a}"}
            for a in alarms
        ],
    }
    if kind == "StepScaling":
        found["StepScalingPolicyConfiguration"] = STEP
    else:
        found["TargetTrackingScalingPolicyConfiguration"] = TRACKING
    return found


TRACKING_POLICY = policy(
    "invocations", "TargetTrackingScaling", OLD_STEP_ARN.replace("wake", "inv")
)
WAKE_POLICY = policy("wake", "StepScaling", OLD_STEP_ARN, alarms=[WAKE_ALARM["AlarmName"]])


def props(config: str = "cfg-2") -> dict:
    return {
        "region": "us-east-1",
        "endpoint_name": NAME,
        "endpoint_config_name": config,
        "deployment_config": None,
        "tags": {"stack": "prod"},
        "wait_s": 30.0,
        "poll_s": 0.0,
    }


def expect_configs(c: Clients, old_types: dict, new_types: dict, variants=("primary",)):
    c.expect("sagemaker", "describe_endpoint", endpoint("InService", "cfg-1", variants))
    c.expect(
        "sagemaker",
        "describe_endpoint_config",
        endpoint_config("cfg-1", **old_types),
        {"EndpointConfigName": "cfg-1"},
    )
    c.expect(
        "sagemaker",
        "describe_endpoint_config",
        endpoint_config("cfg-2", **new_types),
        {"EndpointConfigName": "cfg-2"},
    )


def expect_pause(c: Clients, policies: list[dict]) -> None:
    c.expect(
        "application-autoscaling",
        "describe_scalable_targets",
        {"ScalableTargets": [target()]},
        {"ServiceNamespace": "sagemaker", "ResourceIds": [RESOURCE], "ScalableDimension": DIM},
    )
    c.expect(
        "application-autoscaling",
        "list_tags_for_resource",
        {"Tags": {"stack": "prod"}},
        {"ResourceARN": TARGET_ARN},
    )
    c.expect(
        "application-autoscaling", "describe_scaling_policies", {"ScalingPolicies": policies}, SCOPE
    )
    for p in policies:
        c.expect(
            "application-autoscaling",
            "delete_scaling_policy",
            {},
            {"PolicyName": p["PolicyName"], **SCOPE},
        )
    c.expect("application-autoscaling", "deregister_scalable_target", {}, SCOPE)


def expect_update(c: Clients, final_config: str = "cfg-2", variants=("primary",), **fail):
    c.expect(
        "sagemaker",
        "update_endpoint",
        {"EndpointArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{NAME}"},
        {
            "EndpointName": NAME,
            "EndpointConfigName": "cfg-2",
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredWeight"}],
        },
    )
    c.expect("sagemaker", "describe_endpoint", endpoint("Updating", "cfg-2", variants))
    c.expect(
        "sagemaker", "describe_endpoint", {**endpoint("InService", final_config, variants), **fail}
    )


def expect_resume_tracking(c: Clients) -> None:
    c.expect(
        "application-autoscaling",
        "register_scalable_target",
        {"ScalableTargetARN": TARGET_ARN},
        {**SCOPE, "MinCapacity": 2, "MaxCapacity": 8, "Tags": {"stack": "prod"}},
    )
    c.expect(
        "application-autoscaling",
        "put_scaling_policy",
        {"PolicyARN": TRACKING_POLICY["PolicyARN"], "Alarms": []},
        {
            **SCOPE,
            "PolicyName": "invocations",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": TRACKING,
        },
    )


def test_an_instance_type_change_pauses_autoscaling_around_the_update():
    c = Clients()
    expect_configs(c, {"primary": "ml.g6e.xlarge"}, {"primary": "ml.g6e.2xlarge"})
    expect_pause(c, [TRACKING_POLICY])
    expect_update(c)
    expect_resume_tracking(c)
    provider = SageMakerEndpointProvider(client_factory=c.factory)
    outs = provider.update(NAME, props("cfg-1"), props("cfg-2")).outs
    c.done()  # every expected call was made, in this order, and no other
    assert outs["instance_count"] == 4


def test_a_model_change_alone_leaves_autoscaling_alone():
    c = Clients()  # no Application Auto Scaling call is expected: any would fail the stub
    expect_configs(c, {"primary": "ml.g6e.xlarge"}, {"primary": "ml.g6e.xlarge"})
    expect_update(c)
    SageMakerEndpointProvider(client_factory=c.factory).update(NAME, props("cfg-1"), props())
    c.done()


def test_a_removed_variant_is_deregistered_and_not_registered_again():
    c = Clients()
    expect_configs(c, {"primary": "ml.g6e.xlarge"}, {"green": "ml.g6e.xlarge"})
    expect_pause(c, [TRACKING_POLICY])
    expect_update(c, variants=("green",))
    # green has no scalable target yet: Pulumi's own Target resource registers it
    SageMakerEndpointProvider(client_factory=c.factory).update(NAME, props("cfg-1"), props())
    c.done()


def test_a_recreated_step_policy_keeps_its_alarm_pointing_at_it():
    c = Clients()
    expect_configs(c, {"primary": "ml.g5.xlarge"}, {"primary": "ml.g6.xlarge"})
    expect_pause(c, [WAKE_POLICY])
    expect_update(c)
    c.expect(
        "application-autoscaling",
        "register_scalable_target",
        {"ScalableTargetARN": TARGET_ARN},
        {**SCOPE, "MinCapacity": 2, "MaxCapacity": 8, "Tags": {"stack": "prod"}},
    )
    c.expect(
        "application-autoscaling",
        "put_scaling_policy",
        {"PolicyARN": NEW_STEP_ARN},
        {
            **SCOPE,
            "PolicyName": "wake",
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": STEP,
        },
    )
    c.expect(
        "cloudwatch",
        "describe_alarms",
        {"MetricAlarms": [WAKE_ALARM]},
        {"AlarmNames": [WAKE_ALARM["AlarmName"]]},
    )
    put = {k: v for k, v in WAKE_ALARM.items() if k not in ("AlarmArn", "StateValue")}
    c.expect("cloudwatch", "put_metric_alarm", {}, {**put, "AlarmActions": [NEW_STEP_ARN]})
    SageMakerEndpointProvider(client_factory=c.factory).update(NAME, props("cfg-1"), props())
    c.done()


def test_a_rolled_back_update_gets_its_autoscaling_back_and_still_fails():
    c = Clients()
    expect_configs(c, {"primary": "ml.g6e.xlarge"}, {"primary": "ml.g6e.2xlarge"})
    expect_pause(c, [TRACKING_POLICY])
    expect_update(c, final_config="cfg-1", FailureReason="Alarm x-5xx-rate fired")
    expect_resume_tracking(c)
    with pytest.raises(RuntimeError, match="rolled back to cfg-1: Alarm x-5xx-rate fired"):
        SageMakerEndpointProvider(client_factory=c.factory).update(NAME, props("cfg-1"), props())
    c.done()


def test_a_failed_update_call_gets_its_autoscaling_back():
    c = Clients()
    expect_configs(c, {"primary": "ml.g6e.xlarge"}, {"primary": "ml.g6e.2xlarge"})
    expect_pause(c, [TRACKING_POLICY])
    c.stubs["sagemaker"].add_client_error(
        "update_endpoint", "ValidationException", "instance limit exceeded"
    )
    c.expect("sagemaker", "describe_endpoint", endpoint("InService", "cfg-1"))
    expect_resume_tracking(c)
    with pytest.raises(Exception, match="instance limit exceeded"):
        SageMakerEndpointProvider(client_factory=c.factory).update(NAME, props("cfg-1"), props())
    c.done()
