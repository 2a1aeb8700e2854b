"""The SageMaker endpoint itself: a dynamic resource over CreateEndpoint / UpdateEndpoint.

``pulumi_aws.sagemaker.Endpoint`` cannot be used for an autoscaled blue/green fleet:

- its update calls ``UpdateEndpoint`` without ``RetainAllVariantProperties``, so every
  rollout resets an autoscaled fleet to the new config's ``InitialInstanceCount`` (prod
  dropped from 8 instances to 2 in the middle of the day);
- it waits for ``InService`` at most 60 minutes (a constant in the provider, no custom
  timeout), shorter than a prod rollout with bake steps and a termination wait.

This provider updates with ``RetainAllVariantProperties=true`` (the live instance count is
kept; the variant weight is taken from the new config through
``ExcludeRetainedVariantProperties=[DesiredWeight]``) and the stack's blue/green
``DeploymentConfig``, then polls ``DescribeEndpoint`` for as long as the plan's worst-case
rollout (``wait_s``). An update SageMaker rolled back (an alarm fired) ends ``InService`` on
the *old* config: that is reported as a failure naming the reason, not as success.

A rollout that changes the instance type of an autoscaled variant, or removes one, would make
``UpdateEndpoint`` fail: the provider first deletes that variant's scaling policies and
deregisters its scalable target, updates, waits, then registers the target again and puts
the same policies back (AWS, "Update endpoints that use auto scaling":
https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html). A model or
image change alone is allowed by SageMaker with scaling on, and touches nothing.

Credentials come from boto3's default chain when it runs; nothing secret is an input. The
class is pickled by value (imports inside methods) so the provider process needs only boto3.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from infra.dynamic import ProviderBase, pickle_by_value

DIFF_KEYS = ("region", "endpoint_name", "endpoint_config_name", "deployment_config", "tags")


class SageMakerEndpointProvider(ProviderBase, ResourceProvider):
    """Create, roll out (retaining the live instance count), and delete one endpoint."""

    serialize_as_secret_always = False  # it captures no secret

    # the variant's one scalable dimension (Application Auto Scaling)
    SCALING: ClassVar[dict[str, str]] = {
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    # what PutScalingPolicy / PutMetricAlarm take back from the Describe* answers
    POLICY_KEYS = (
        "PolicyName",
        "PolicyType",
        "StepScalingPolicyConfiguration",
        "TargetTrackingScalingPolicyConfiguration",
        "PredictiveScalingPolicyConfiguration",
    )
    ALARM_KEYS = (
        "AlarmName",
        "AlarmDescription",
        "ActionsEnabled",
        "OKActions",
        "AlarmActions",
        "InsufficientDataActions",
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Dimensions",
        "Period",
        "Unit",
        "EvaluationPeriods",
        "DatapointsToAlarm",
        "Threshold",
        "ComparisonOperator",
        "TreatMissingData",
        "EvaluateLowSampleCountPercentile",
        "Metrics",
        "ThresholdMetricId",
    )

    def __init__(self, client_factory: Any = None) -> None:
        super().__init__()
        self.client_factory = client_factory  # tests: (props, service) -> client; None: boto3

    # ------------------------------------------------------------------ helpers
    def _client(self, props: dict[str, Any], service: str = "sagemaker") -> Any:
        if self.client_factory is not None:
            return self.client_factory(props, service)
        import boto3

        return boto3.client(service, region_name=props["region"])

    def _describe(self, client: Any, name: str) -> dict[str, Any] | None:
        try:
            return client.describe_endpoint(EndpointName=name)
        except Exception as exc:  # botocore ClientError: "Could not find endpoint"
            if "Could not find endpoint" in str(exc):
                return None
            raise

    def _wait(self, client: Any, props: dict[str, Any], what: str) -> dict[str, Any]:
        import time

        name = props["endpoint_name"]
        wait_s, poll_s = props.get("wait_s"), props.get("poll_s")
        deadline = time.monotonic() + float(3600 if wait_s is None else wait_s)
        poll = float(30 if poll_s is None else poll_s)
        last = ""
        while True:
            ep = self._describe(client, name)
            status = (ep or {}).get("EndpointStatus", "missing")
            if status != last:
                pulumi.log.info(f"SageMaker endpoint {name}: {status}")
                last = status
            if status == "InService":
                return ep or {}
            if status in ("Failed", "UpdateRollbackFailed", "OutOfService", "missing"):
                reason = (ep or {}).get("FailureReason") or "no reason given"
                raise RuntimeError(f"SageMaker endpoint {name}: {what} ended {status}: {reason}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"SageMaker endpoint {name}: {what} still {status} after {props.get('wait_s')}"
                    f" s; it may still finish: `aws sagemaker describe-endpoint --endpoint-name "
                    f"{name}`, then run `pulumi up` again"
                )
            time.sleep(poll)

    def _outs(self, props: dict[str, Any], ep: dict[str, Any]) -> dict[str, Any]:
        outs = {k: v for k, v in props.items() if not k.startswith("__")}
        outs["arn"] = ep.get("EndpointArn", "")
        variants = ep.get("ProductionVariants") or []
        outs["instance_count"] = sum(int(v.get("CurrentInstanceCount") or 0) for v in variants)
        return outs

    def _rollout(self, client: Any, props: dict[str, Any]) -> dict[str, Any]:
        """UpdateEndpoint to the new config, keeping the live instance count (autoscaling
        paused around it where the update needs that); check that the endpoint ends on the
        new config (not rolled back)."""
        name, config = props["endpoint_name"], props["endpoint_config_name"]
        request: dict[str, Any] = {
            "EndpointName": name,
            "EndpointConfigName": config,
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredWeight"}],
        }
        if props.get("deployment_config"):
            request["DeploymentConfig"] = self._ints(props["deployment_config"])
        paused = self._pause_scaling(client, props)
        try:
            client.update_endpoint(**request)
            ep = self._wait(client, props, f"rollout to {config}")
        except Exception as exc:
            self._resume_after_failure(client, props, paused, exc)
            raise
        self._resume_scaling(client, props, paused, ep)
        if ep.get("EndpointConfigName") != config:
            reason = ep.get("FailureReason") or "an alarm fired during the rollout"
            raise RuntimeError(
                f"SageMaker endpoint {name}: the rollout to {config} was rolled back to "
                f"{ep.get('EndpointConfigName')}: {reason}"
            )
        return ep

    # ------------------------------------------------------------------ autoscaling
    def _variants_to_unscale(self, client: Any, props: dict[str, Any]) -> list[str]:
        """The live config's variants whose instance type the new config changes or which
        it removes: the only updates autoscaling blocks."""
        live = self._describe(client, props["endpoint_name"]) or {}
        if not live.get("EndpointConfigName"):
            return []

        def types(config: str) -> dict[str, str | None]:
            described = client.describe_endpoint_config(EndpointConfigName=config)
            return {
                v["VariantName"]: v.get("InstanceType") for v in described["ProductionVariants"]
            }

        old, new = types(live["EndpointConfigName"]), types(props["endpoint_config_name"])
        return [v for v, kind in old.items() if v not in new or new[v] != kind]

    def _pause_scaling(self, client: Any, props: dict[str, Any]) -> list[dict[str, Any]]:
        """Delete the scaling policies of each variant that needs it and deregister its
        scalable target; return what was there, to put back after the update."""
        variants = self._variants_to_unscale(client, props)
        if not variants:
            return []
        aas = self._client(props, "application-autoscaling")
        paused = []
        for variant in variants:
            scope = dict(
                self.SCALING, ResourceId=f"endpoint/{props['endpoint_name']}/variant/{variant}"
            )
            found = aas.describe_scalable_targets(
                ServiceNamespace=scope["ServiceNamespace"],
                ResourceIds=[scope["ResourceId"]],
                ScalableDimension=scope["ScalableDimension"],
            )["ScalableTargets"]
            if not found:
                continue  # not autoscaled: nothing blocks the update
            target = found[0]
            tags = {}
            if target.get("ScalableTargetARN"):
                tags = (
                    aas.list_tags_for_resource(ResourceARN=target["ScalableTargetARN"]).get("Tags")
                    or {}
                )
            policies = aas.describe_scaling_policies(**scope)["ScalingPolicies"]
            for policy in policies:
                aas.delete_scaling_policy(PolicyName=policy["PolicyName"], **scope)
            aas.deregister_scalable_target(**scope)
            pulumi.log.info(f"autoscaling of {scope['ResourceId']} paused for the update")
            paused.append(
                {"variant": variant, "target": target, "tags": tags, "policies": policies}
            )
        return paused

    def _resume_scaling(
        self,
        client: Any,
        props: dict[str, Any],
        paused: list[dict[str, Any]],
        ep: dict[str, Any] | None,
    ) -> None:
        """Register each paused variant that is still there (a removed one is not) and put
        its policies back as they were; a step policy's alarms follow its new ARN."""
        if not paused:
            return
        live = ep or self._describe(client, props["endpoint_name"]) or {}
        names = {v.get("VariantName") for v in live.get("ProductionVariants") or []}
        aas = self._client(props, "application-autoscaling")
        for item in paused:
            if item["variant"] not in names:
                continue
            target = item["target"]
            scope = dict(self.SCALING, ResourceId=target["ResourceId"])
            register = dict(
                scope, MinCapacity=target["MinCapacity"], MaxCapacity=target["MaxCapacity"]
            )
            if target.get("SuspendedState"):
                register["SuspendedState"] = target["SuspendedState"]
            if item["tags"]:
                register["Tags"] = item["tags"]
            aas.register_scalable_target(**register)
            for policy in item["policies"]:
                put = dict(scope, **{k: policy[k] for k in self.POLICY_KEYS if policy.get(k)})
                arn = aas.put_scaling_policy(**put)["PolicyARN"]
                if policy["PolicyType"] == "StepScaling" and arn != policy["PolicyARN"]:
                    self._repoint_alarms(props, policy, arn)

    def _repoint_alarms(self, props: dict[str, Any], policy: dict[str, Any], arn: str) -> None:
        """The alarms that trigger a re-created step policy act on its new ARN (PutMetricAlarm
        replaces an alarm's settings; its tags are kept)."""
        names = [a["AlarmName"] for a in policy.get("Alarms") or []]
        if not names:
            return
        cloudwatch = self._client(props, "cloudwatch")
        for alarm in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]:
            put = {k: alarm[k] for k in self.ALARM_KEYS if k in alarm}
            put["AlarmActions"] = [
                arn if a == policy["PolicyARN"] else a for a in alarm.get("AlarmActions") or []
            ]
            cloudwatch.put_metric_alarm(**put)

    def _resume_after_failure(
        self, client: Any, props: dict[str, Any], paused: list[dict[str, Any]], exc: Exception
    ) -> None:
        """A failed update leaves the old variants: put their scaling back, and say so if
        that fails too (``pulumi up --refresh`` then re-creates target and policies)."""
        try:
            self._resume_scaling(client, props, paused, None)
        except Exception as again:
            raise RuntimeError(
                f"{exc}; restoring the autoscaling paused for it failed too: {again}; "
                "`pulumi up --refresh` re-creates the scalable target and its policies"
            ) from exc

    # ------------------------------------------------------------------ CRUD
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in DIFF_KEYS if olds.get(k) != news.get(k)]
        replaces = [k for k in ("region", "endpoint_name") if k in changed]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self._client(props)
        name = props["endpoint_name"]
        existing = self._describe(client, name)
        if existing is None:
            request: dict[str, Any] = {
                "EndpointName": name,
                "EndpointConfigName": props["endpoint_config_name"],
                "Tags": [{"Key": k, "Value": v} for k, v in sorted(props["tags"].items())],
            }
            if props.get("deployment_config"):
                request["DeploymentConfig"] = self._ints(props["deployment_config"])
            client.create_endpoint(**request)
            ep = self._wait(client, props, "creation")
        else:  # a create that failed half-way left it: adopt it, roll it forward
            self._wait(client, props, "earlier operation")
            ep = existing
            if existing.get("EndpointConfigName") != props["endpoint_config_name"]:
                ep = self._rollout(client, props)
        return CreateResult(id_=name, outs=self._outs(props, ep))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self._client(news)
        ep: dict[str, Any] | None = None
        if olds.get("endpoint_config_name") != news.get("endpoint_config_name"):
            ep = self._rollout(client, news)
        if olds.get("tags") != news.get("tags"):
            arn = (ep or self._describe(client, news["endpoint_name"]) or {}).get("EndpointArn")
            gone = sorted(set(olds.get("tags") or {}) - set(news["tags"]))
            if gone:
                client.delete_tags(ResourceArn=arn, TagKeys=gone)
            client.add_tags(
                ResourceArn=arn,
                Tags=[{"Key": k, "Value": v} for k, v in sorted(news["tags"].items())],
            )
        # deployment_config alone: nothing to call, it applies to the next rollout
        return UpdateResult(outs=self._outs(news, ep or self._describe(client, _id) or {}))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        import time

        client = self._client(props)
        name = props["endpoint_name"]
        if self._describe(client, name) is None:
            return
        client.delete_endpoint(EndpointName=name)
        deadline = time.monotonic() + 1800
        while self._describe(client, name) is not None and time.monotonic() < deadline:
            time.sleep(float(30 if props.get("poll_s") is None else props["poll_s"]))


pickle_by_value(SageMakerEndpointProvider)


class SageMakerEndpointDeployment(Resource, module="sagemaker", name="Endpoint"):
    """One SageMaker endpoint on one endpoint config, rolled out by the provider above."""

    arn: pulumi.Output[str]
    endpoint_name: pulumi.Output[str]
    instance_count: pulumi.Output[int]

    def __init__(
        self,
        name: str,
        *,
        region: str,
        endpoint_name: str,
        endpoint_config_name: pulumi.Input[str],
        deployment_config: dict[str, Any] | None,
        tags: dict[str, str],
        wait_s: int,
        poll_s: int = 30,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            SageMakerEndpointProvider(),
            name,
            {
                "region": region,
                "endpoint_name": endpoint_name,
                "endpoint_config_name": endpoint_config_name,
                "deployment_config": deployment_config,
                "tags": tags,
                "wait_s": wait_s,
                "poll_s": poll_s,
                "arn": None,
                "instance_count": None,
            },
            opts,
        )
