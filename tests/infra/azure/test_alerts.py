"""No alert fires into the void: every Azure Monitor metric alert has an action group, or is
not made."""

from __future__ import annotations

import pytest

from infra.synth import SynthError
from tests.infra.azure.helpers import AZ, azure_only
from tests.infra.azure.test_program import AZURE_STACKS
from tests.infra.helpers import run_config, stack_config, stack_result

ALERT = "azure-native:monitor:MetricAlert"
GROUP = "azure-native:monitor:ActionGroup"
GIVEN = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ops/providers/"
    "microsoft.insights/actionGroups/oncall"
)


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_every_alert_of_the_example_stacks_tells_somebody(stack):
    alerts = stack_result(stack).by_type(ALERT)
    assert alerts
    for alert in alerts:
        assert alert["inputs"].get("actions"), f"{alert['inputs']['ruleName']} tells nobody"


def test_without_a_destination_no_alert_is_made():
    alarms = {k: v for k, v in stack_config("staging")[AZ]["alarms"].items() if k != "enabled"}
    alarms.pop("emails")
    result = run_config(azure_only("staging", alarms=alarms))
    assert not result.by_type(ALERT) and not result.by_type(GROUP)


def test_webhooks_join_the_created_group_and_a_given_group_is_told_too():
    alarms = {"webhooks": ["https://hooks.example.com/azure"], "actionGroupId": GIVEN}
    result = run_config(azure_only("staging", alarms=alarms))
    (group,) = result.by_type(GROUP)
    (hook,) = group["inputs"]["webhookReceivers"]
    assert hook["serviceUri"] == "https://hooks.example.com/azure"
    assert hook["useCommonAlertSchema"] is True
    for alert in result.by_type(ALERT):
        assert [a["actionGroupId"] for a in alert["inputs"]["actions"]] == [
            GIVEN,
            f"{group['name']}-id",
        ]


@pytest.mark.parametrize(
    ("alarms", "expected"),
    [
        (
            {"enabled": True},
            "genai-endpoints:azure.alarms.enabled=True: no destination, every alert would "
            "notify nobody; allowed: alarms.actionGroupId",
        ),
        (
            {"webhooks": ["ftp://x"]},
            "azure.alarms.webhooks=['ftp://x']: 'ftp://x': allowed: an https:// URL",
        ),
    ],
)
def test_alert_settings_that_would_tell_nobody_are_one_line(alarms, expected):
    with pytest.raises(SynthError) as info:
        run_config(azure_only("staging", alarms=alarms))
    message = str(info.value)
    assert "\n" not in message and expected in message, message
