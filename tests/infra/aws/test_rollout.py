"""The SageMaker endpoint provider against a fake SageMaker client: the live instance count is
kept on a rollout, the wait is the plan's, a rollback is a failure, integers stay integers."""

from __future__ import annotations

import base64

import pytest

from infra.aws.rollout import SageMakerEndpointProvider
from tests.infra.helpers import run_unpickled


class NotFound(Exception):
    pass


class FakeSageMaker:
    """One endpoint; each status read advances it through its states."""

    def __init__(self) -> None:
        self.endpoint: dict | None = None
        self.calls: list[tuple[str, dict]] = []
        self.pending: list[str] = []  # statuses still to report before the final one
        self.final_config: str | None = None  # set to roll an update back
        self.fail_reason: str | None = None

    def describe_endpoint(self, EndpointName):
        if self.endpoint is None:
            raise NotFound(f"Could not find endpoint {EndpointName}")
        if self.pending:
            self.endpoint["EndpointStatus"] = self.pending.pop(0)
        elif self.endpoint["EndpointStatus"] != "InService":
            self.endpoint["EndpointStatus"] = "Failed" if self.fail_reason else "InService"
            if self.final_config:
                self.endpoint["EndpointConfigName"] = self.final_config
                self.endpoint["FailureReason"] = "Alarm sagemaker-5xx fired"
        return dict(self.endpoint)

    def create_endpoint(self, **kw):
        self.calls.append(("create_endpoint", kw))
        self.endpoint = {
            "EndpointName": kw["EndpointName"],
            "EndpointArn": f"arn:aws:sagemaker:us-east-1:1:endpoint/{kw['EndpointName']}",
            "EndpointConfigName": kw["EndpointConfigName"],
            "EndpointStatus": "Creating",
            "ProductionVariants": [{"VariantName": "primary", "CurrentInstanceCount": 8}],
        }
        if self.fail_reason:
            self.endpoint["FailureReason"] = self.fail_reason
        self.pending = ["Creating", "Creating"]

    def describe_endpoint_config(self, EndpointConfigName):
        # one variant of one instance type in every config: no autoscaling to pause
        return {"ProductionVariants": [{"VariantName": "primary", "InstanceType": "ml.g5.xlarge"}]}

    def update_endpoint(self, **kw):
        self.calls.append(("update_endpoint", kw))
        old = self.endpoint["EndpointConfigName"]
        self.endpoint.update(EndpointConfigName=kw["EndpointConfigName"], EndpointStatus="Updating")
        self.pending = ["Updating", "Updating"]
        if self.final_config == "old":
            self.final_config = old

    def delete_endpoint(self, **kw):
        self.calls.append(("delete_endpoint", kw))
        self.endpoint = None

    def add_tags(self, **kw):
        self.calls.append(("add_tags", kw))

    def delete_tags(self, **kw):
        self.calls.append(("delete_tags", kw))


def props(**changes):
    p = {
        "region": "us-east-1",
        "endpoint_name": "genai-prod-x",
        "endpoint_config_name": "cfg-1",
        # numbers come back from the engine as floats
        "deployment_config": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "LINEAR",
                    "WaitIntervalInSeconds": 300.0,
                    "LinearStepSize": {"Type": "INSTANCE_COUNT", "Value": 1.0},
                },
                "TerminationWaitInSeconds": 600.0,
                "MaximumExecutionTimeoutInSeconds": 6000.0,
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "x-5xx-rate"}]},
        },
        "tags": {"stack": "prod", "owner": "ml"},
        "wait_s": 30.0,
        "poll_s": 0.0,
    }
    p.update(changes)
    return p


@pytest.fixture
def fake():
    return FakeSageMaker()


def provider(fake):
    return SageMakerEndpointProvider(client_factory=lambda _props, _service: fake)


def test_create_waits_for_in_service_and_sends_integers(fake):
    result = provider(fake).create(props())
    (call,) = [c for c in fake.calls if c[0] == "create_endpoint"]
    kw = call[1]
    routing = kw["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["LinearStepSize"] == {"Type": "INSTANCE_COUNT", "Value": 1}
    assert isinstance(routing["WaitIntervalInSeconds"], int)
    assert {"Key": "stack", "Value": "prod"} in kw["Tags"]
    assert result.outs["arn"].endswith("/genai-prod-x")
    assert fake.endpoint["EndpointStatus"] == "InService"


def test_rollout_keeps_the_live_instance_count(fake):
    p = provider(fake)
    outs = p.create(props()).outs
    fake.calls.clear()
    new = props(endpoint_config_name="cfg-2")
    assert p.diff("genai-prod-x", outs, new).changes
    assert not p.diff("genai-prod-x", outs, new).replaces
    p.update("genai-prod-x", outs, new)
    ((name, kw),) = fake.calls
    assert name == "update_endpoint"
    assert kw["EndpointConfigName"] == "cfg-2"
    assert kw["RetainAllVariantProperties"] is True  # 8 instances stay 8, not InitialCount
    assert kw["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DesiredWeight"}]
    assert kw["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TerminationWaitInSeconds"] == 600


def test_a_rolled_back_update_is_a_failure_with_the_reason(fake):
    p = provider(fake)
    outs = p.create(props()).outs
    fake.final_config = "old"
    with pytest.raises(RuntimeError) as info:
        p.update("genai-prod-x", outs, props(endpoint_config_name="cfg-2"))
    msg = str(info.value)
    assert "rollout to cfg-2 was rolled back to cfg-1" in msg and "sagemaker-5xx" in msg


def test_a_failed_create_names_the_reason_and_a_slow_one_times_out(fake):
    fake.fail_reason = "CannotStartContainerError: /ping did not answer"
    with pytest.raises(RuntimeError, match="creation ended Failed: CannotStartContainerError"):
        provider(fake).create(props())
    slow = FakeSageMaker()
    slow.create_endpoint(EndpointName="genai-prod-x", EndpointConfigName="cfg-1")
    slow.pending = ["Creating"] * 10_000
    with pytest.raises(RuntimeError, match=r"still Creating after 0\.0 s"):
        provider(slow).create(props(wait_s=0.0))


def test_tags_change_in_place_and_deployment_config_alone_calls_nothing(fake):
    p = provider(fake)
    outs = p.create(props()).outs
    fake.calls.clear()
    p.update("genai-prod-x", outs, props(tags={"stack": "prod", "team": "b"}))
    names = [c[0] for c in fake.calls]
    assert names == ["delete_tags", "add_tags"]
    assert fake.calls[0][1]["TagKeys"] == ["owner"]
    fake.calls.clear()
    changed = props()
    changed["deployment_config"]["BlueGreenUpdatePolicy"]["TerminationWaitInSeconds"] = 0.0
    p.update("genai-prod-x", outs, changed)
    assert fake.calls == []  # it applies to the next rollout


def test_create_adopts_what_a_failed_attempt_left(fake):
    fake.create_endpoint(EndpointName="genai-prod-x", EndpointConfigName="cfg-0")
    fake.calls.clear()
    provider(fake).create(props())
    assert [c[0] for c in fake.calls] == ["update_endpoint"]


def test_delete(fake):
    p = provider(fake)
    outs = p.create(props()).outs
    p.delete("genai-prod-x", outs)
    assert fake.endpoint is None
    p.delete("genai-prod-x", outs)  # already gone: nothing to do


def test_provider_survives_pulumi_serialization_without_this_repo(tmp_path):
    from pulumi.dynamic.dynamic import serialize_provider

    blob = serialize_provider(SageMakerEndpointProvider())
    assert b"infra.aws" not in base64.b64decode(blob)
    checks = (
        "d = p.diff('e', {'endpoint_config_name': 'a'}, {'endpoint_config_name': 'b'})\n"
        "assert d.changes and not d.replaces\n"
        "assert p._ints({'a': [1.0, 2.5]}) == {'a': [1, 2.5]}\n"
        # the autoscaling pause travels with it (methods and class constants by value)
        "class C:\n"
        "    def describe_endpoint(self, EndpointName): return {'EndpointConfigName': 'a'}\n"
        "    def describe_endpoint_config(self, EndpointConfigName):\n"
        "        v = {'VariantName': 'v', 'InstanceType': EndpointConfigName}\n"
        "        return {'ProductionVariants': [v]}\n"
        "props = {'endpoint_name': 'e', 'endpoint_config_name': 'b'}\n"
        "assert p._variants_to_unscale(C(), props) == ['v']\n"
        "assert p.SCALING['ScalableDimension'] == 'sagemaker:variant:DesiredInstanceCount'\n"
        "print('ok')\n"
    )
    assert "ok" in run_unpickled(blob, checks, tmp_path)
