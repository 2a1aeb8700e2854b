"""Autoscaling of the endpoint's variant: invocations per instance (real-time), or backlog
per instance with a wake-up from zero (async)."""

from __future__ import annotations

import pulumi
import pulumi_aws.appautoscaling as appautoscaling
import pulumi_aws.cloudwatch as cloudwatch

from infra.aws.model import VARIANT
from infra.aws.scope import Scope


def autoscaling(scope: Scope, endpoint: pulumi.Resource) -> None:
    """The variant's scalable target (once the endpoint exists) and its policies."""
    plan = scope.plan
    cfg = plan.settings
    target = appautoscaling.Target(
        f"{scope.name}-scaling-target",
        service_namespace="sagemaker",
        scalable_dimension="sagemaker:variant:DesiredInstanceCount",
        resource_id=f"endpoint/{plan.endpoint_name}/variant/{VARIANT}",
        min_capacity=cfg.min_instances,
        max_capacity=cfg.max_instances,
        tags=scope.tags,
        opts=scope.child(depends_on=[endpoint]),
    )
    if plan.mode == "async":
        _async_scaling(scope, target)
        return
    appautoscaling.Policy(
        f"{scope.name}-invocations-per-instance",
        policy_type="TargetTrackingScaling",
        service_namespace=target.service_namespace,
        scalable_dimension=target.scalable_dimension,
        resource_id=target.resource_id,
        target_tracking_scaling_policy_configuration=appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
            target_value=float(cfg.target_invocations_per_instance),
            predefined_metric_specification=appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                predefined_metric_type="SageMakerVariantInvocationsPerInstance"
            ),
            scale_in_cooldown=cfg.scale_in_cooldown_seconds,
            scale_out_cooldown=cfg.scale_out_cooldown_seconds,
        ),
        opts=scope.child(),
    )


def _async_scaling(scope: Scope, target: appautoscaling.Target) -> None:
    name, cfg = scope.name, scope.plan.settings
    ep = scope.plan.endpoint_name
    appautoscaling.Policy(
        f"{name}-backlog-per-instance",
        policy_type="TargetTrackingScaling",
        service_namespace=target.service_namespace,
        scalable_dimension=target.scalable_dimension,
        resource_id=target.resource_id,
        target_tracking_scaling_policy_configuration=appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
            target_value=float(cfg.backlog_per_instance),
            customized_metric_specification=appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs(
                metric_name="ApproximateBacklogSizePerInstance",
                namespace="AWS/SageMaker",
                statistic="Average",
                dimensions=[
                    appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationDimensionArgs(
                        name="EndpointName", value=ep
                    )
                ],
            ),
            scale_in_cooldown=cfg.scale_in_cooldown_seconds,
            scale_out_cooldown=cfg.scale_out_cooldown_seconds,
        ),
        opts=scope.child(),
    )
    if cfg.min_instances == 0:
        _wake_from_zero(scope, target)


def _wake_from_zero(scope: Scope, target: appautoscaling.Target) -> None:
    """Target tracking cannot leave zero (no instance, no per-instance metric): a step
    policy on HasBacklogWithoutCapacity adds the first instance."""
    name, cfg = scope.name, scope.plan.settings
    ep = scope.plan.endpoint_name
    wake = appautoscaling.Policy(
        f"{name}-wake-from-zero",
        policy_type="StepScaling",
        service_namespace=target.service_namespace,
        scalable_dimension=target.scalable_dimension,
        resource_id=target.resource_id,
        step_scaling_policy_configuration=appautoscaling.PolicyStepScalingPolicyConfigurationArgs(
            adjustment_type="ChangeInCapacity",
            metric_aggregation_type="Average",
            cooldown=cfg.scale_out_cooldown_seconds,
            step_adjustments=[
                appautoscaling.PolicyStepScalingPolicyConfigurationStepAdjustmentArgs(
                    metric_interval_lower_bound="0", scaling_adjustment=1
                )
            ],
        ),
        opts=scope.child(),
    )
    cloudwatch.MetricAlarm(
        f"{name}-has-backlog-without-capacity",
        name=f"{ep}-has-backlog-without-capacity",
        alarm_description=f"{ep}: requests queued while scaled to zero; adds an instance",
        namespace="AWS/SageMaker",
        metric_name="HasBacklogWithoutCapacity",
        statistic="Average",
        dimensions={"EndpointName": ep},
        period=60,
        evaluation_periods=2,
        datapoints_to_alarm=2,
        threshold=1.0,
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="missing",
        alarm_actions=[wake.arn],
        tags=scope.tags,
        opts=scope.child(),
    )
