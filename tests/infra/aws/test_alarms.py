"""No alarm fires into the void: every CloudWatch alarm notifies somebody, or guards a
rollout (SageMaker rolls back on it), or is not made."""

from __future__ import annotations

import copy
import json

import pytest

from infra.synth import SynthError
from tests.infra.aws.test_program import ALARM, ENDPOINT, KEY, STACKS, TOPIC, aws_only
from tests.infra.helpers import one, run_config, stack_config, stack_result

SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
ONCALL = "arn:aws:sns:us-east-1:123456789012:oncall"


def _with_alarms(stack: str, alarms: dict, **aws) -> dict:
    config = aws_only(stack)
    config["genai-endpoints:aws"] = copy.deepcopy(config["genai-endpoints:aws"])
    config["genai-endpoints:aws"].update(aws, alarms=alarms)
    return config


def _rollback_guards(result) -> set[str]:
    auto = one(result, ENDPOINT)["deployment_config"].get("AutoRollbackConfiguration") or {}
    return {a["AlarmName"] for a in auto.get("Alarms", [])}


def _assert_every_alarm_has_a_destination(result) -> None:
    guards = _rollback_guards(result)
    for alarm in result.by_type(ALARM):
        inputs = alarm["inputs"]
        told = inputs.get("alarmActions") or []
        assert told or inputs["name"] in guards, f"{inputs['name']} notifies nobody"


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_of_the_example_stacks_has_a_destination(stack):
    _assert_every_alarm_has_a_destination(stack_result(stack))


def test_dev_has_no_destination_and_so_only_the_wake_up_alarm():
    (alarm,) = stack_result("dev").by_type(ALARM)  # its action is the step scaling policy
    assert alarm["inputs"]["metricName"] == "HasBacklogWithoutCapacity"
    assert not stack_result("dev").by_type(SUBSCRIPTION)
    topics = [t["inputs"].get("name") or "" for t in stack_result("dev").by_type(TOPIC)]
    assert not [t for t in topics if t.endswith("-alarms")]  # the async topics only


def test_staging_emails_get_a_topic_under_the_stacks_key_that_cloudwatch_may_use():
    result = stack_result("staging")
    emails = stack_config("staging")["genai-endpoints:aws"]["alarms"]["emails"]
    (topic,) = [t for t in result.by_type(TOPIC) if t["inputs"]["name"].endswith("-alarms")]
    assert topic["inputs"]["kmsMasterKeyId"].startswith("arn:aws:kms:")  # kmsKey: create
    subs = [s["inputs"] for s in result.by_type(SUBSCRIPTION)]
    assert [(s["protocol"], s["endpoint"]) for s in subs] == [("email", e) for e in emails]
    topic_arn = {s["topic"] for s in subs}
    alarms = [a["inputs"] for a in result.by_type(ALARM)]
    assert {a["metricName"] for a in alarms} >= {"Invocation4XXErrors", "Invocation5XXErrors"}
    for a in alarms:
        assert {*a["alarmActions"]} == topic_arn and a["okActions"] == a["alarmActions"]
    policy = json.loads(one(result, KEY)["policy"])
    cloudwatch = [s for s in policy["Statement"] if s["Principal"].get("Service")]
    assert cloudwatch == [
        {
            "Sid": "CloudWatchAlarmsPublishToTheAlarmTopic",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        }
    ]
    root = [s for s in policy["Statement"] if s["Principal"].get("AWS")]
    assert root[0]["Principal"]["AWS"] == "arn:aws:iam::123456789012:root"  # not locked out
    assert root[0]["Action"] == "kms:*"


def test_without_a_destination_only_the_rollback_guards_are_made():
    result = run_config(_with_alarms("staging", {}), stack="staging")
    alarms = {a["inputs"]["name"]: a["inputs"] for a in result.by_type(ALARM)}
    assert set(alarms) == _rollback_guards(result)
    assert {a["metricName"] for a in alarms.values()} == {"Invocation5XXErrors", "ModelLatency"}
    assert all(not a.get("alarmActions") for a in alarms.values())  # SageMaker acts on them
    assert not result.by_type(TOPIC) and not result.by_type(SUBSCRIPTION)
    assert "policy" not in one(result, KEY)  # KMS's default policy: no topic to publish to


def test_switched_off_alarms_leave_only_the_guards_and_no_guard_no_alarm():
    off = run_config(_with_alarms("staging", {"enabled": False, "topicArn": ONCALL}))
    assert {a["inputs"]["metricName"] for a in off.by_type(ALARM)} == {
        "Invocation5XXErrors",
        "ModelLatency",
    }
    assert all(not a["inputs"].get("alarmActions") for a in off.by_type(ALARM))
    none = run_config(
        _with_alarms("staging", {}, deployment={"strategy": "canary", "autoRollback": False})
    )
    assert not none.by_type(ALARM)


def test_webhooks_and_a_given_topic_are_both_told():
    config = _with_alarms(
        "prod",
        {"topicArn": ONCALL, "webhooks": ["https://hooks.example.com/sns"]},
    )
    result = run_config(config, stack="prod")
    (sub,) = [s["inputs"] for s in result.by_type(SUBSCRIPTION)]
    assert sub["protocol"] == "https" and sub["endpoint"] == "https://hooks.example.com/sns"
    for a in result.by_type(ALARM):
        assert a["inputs"]["alarmActions"] == [ONCALL, sub["topic"]]
    _assert_every_alarm_has_a_destination(result)


def test_dev_with_a_destination_gets_its_async_alarms():
    config = _with_alarms("dev", {"topicArn": ONCALL})
    result = run_config(config, stack="dev")
    told = {
        a["inputs"]["metricName"]
        for a in result.by_type(ALARM)
        if a["inputs"].get("alarmActions") == [ONCALL]
    }
    assert told == {
        "Invocation5XXErrors",
        "Invocation4XXErrors",
        "ModelLatency",
        "ApproximateBacklogSize",
    }


@pytest.mark.parametrize(
    ("alarms", "aws", "expected"),
    [
        (
            {"enabled": True},
            {},
            "genai-endpoints:aws.alarms.enabled=True: no destination, every alarm would "
            "notify nobody; allowed: alarms.topicArn",
        ),
        (
            {"emails": ["oncall@example.com"]},
            {"kmsKey": "aws-managed"},
            "genai-endpoints:aws.alarms.emails/webhooks with genai-endpoints:aws.kmsKey="
            "'aws-managed': CloudWatch alarms cannot publish",
        ),
        ({"emails": ["oncall"]}, {}, "aws.alarms.emails=['oncall']: 'oncall' is not an e-mail"),
        (
            {"webhooks": ["http://hooks.example.com"]},
            {},
            "aws.alarms.webhooks=['http://hooks.example.com']: 'http://hooks.example.com': "
            "allowed: an https:// URL",
        ),
    ],
)
def test_alarm_settings_that_would_tell_nobody_are_one_line(alarms, aws, expected):
    with pytest.raises(SynthError) as info:
        run_config(_with_alarms("dev", alarms, **aws), stack="dev")
    message = str(info.value)
    assert "\n" not in message and expected in message, message
