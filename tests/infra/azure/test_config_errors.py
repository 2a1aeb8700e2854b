"""Each class of bad Azure config stops the program with one message: key, value, allowed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.azure.config import AzureSection
from infra.synth import SynthError
from tests.infra.azure.helpers import azure_only, azure_package
from tests.infra.helpers import run_config

UAI_PREFIX = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/r/providers/"


def _error(config, **kw) -> str:
    with pytest.raises(SynthError) as info:
        run_config(config, **kw)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize(
    ("azure", "expected"),
    [
        ({"requestTimeoutMs": 240000}, "azure.requestTimeoutMs=240000: Azure ML managed online"),
        ({"requestTimeoutMs": 5000}, "azure.requestTimeoutMs=5000: the largest accepted"),
        (
            {"workload": {"maxSteps": 150}, "instanceType": "Standard_NC4as_T4_v3"},
            "azure.workload.maxSteps=150",
        ),
        ({"instanceType": "Standard_DS3_v2"}, "'Standard_DS3_v2' is a cpu instance with no GPU"),
        ({"instanceType": "Standard_X"}, "not a known azureml GPU instance type; allowed:"),
        (
            {"deployments": [{"name": "blue", "traffic": 60}, {"name": "green", "traffic": 30}]},
            "live traffic sums to 90; allowed: a sum of exactly 100",
        ),
        (
            {"deployments": [{"name": "blue", "traffic": 100}, {"name": "blue"}]},
            "name 'blue' appears twice",
        ),
        (
            {"deployments": [{"name": "blue", "traffic": 100, "mirrorTraffic": 10}]},
            "allowed: mirror only to a deployment with traffic 0",
        ),
        (
            {
                "deployments": [
                    {"name": "blue", "traffic": 100},
                    {"name": "green", "mirrorTraffic": 60},
                ]
            },
            "Input should be less than or equal to 50",
        ),
        ({"deployments": [{"name": "b", "traffic": 100}]}, "azure.deployments.0.name='b'"),
        ({"deployments": [{"name": "ab--", "traffic": 100}]}, "azure.deployments.0.name='ab--'"),
        ({"deployments": [{"name": "blue-", "traffic": 100}]}, "deployments.0.name='blue-'"),
        ({"endpointName": "my--endpoint"}, "azure.endpointName='my--endpoint'"),
        ({"endpointName": "x" * 33}, "azure.endpointName='xxxx"),
        (
            {"deployments": [{"name": "blue", "traffic": 100, "instanceCount": 51}]},
            "azure.deployments.0.instanceCount=51: Input should be less than or equal to 50",
        ),
        ({"instanceCount": 100}, "azure.instanceCount=100: Input should be less than or equal"),
        ({"autoscale": {"max": 60}}, "azure.autoscale.max=60: Input should be less than or equal"),
        (
            {
                "autoscale": {
                    "rules": [
                        {
                            "metric": "GpuUtilizationPercentage",
                            "operator": "GreaterThan",
                            "threshold": 70,
                            "windowMinutes": 4,
                            "direction": "Increase",
                        }
                    ]
                }
            },
            "azure.autoscale.rules.0.windowMinutes=4: Input should be greater than or equal to 5",
        ),
        (
            {"publicNetworkAccess": "Disabled"},
            "azure.publicNetworkAccess='Disabled': `pulumi up` uploads the weights",
        ),
        (
            {"publicNetworkAccess": "Disabled", "deployerIpRanges": ["10.0.0.0/8"]},
            "azure.deployerIpRanges=['10.0.0.0/8']: '10.0.0.0/8': allowed: public IPv4",
        ),
        (
            {"deployerIpRanges": ["203.0.113.7/32"]},
            "only used with publicNetworkAccess 'Disabled'",
        ),
        ({"alarms": {"emails": ["oncall"]}}, "'oncall' is not an e-mail address"),
        (
            {"alarms": {"enabled": True}},
            "azure.alarms.enabled=True: no destination, every alert would notify nobody; "
            "allowed: alarms.actionGroupId",
        ),
        ({"alarms": {"webhooks": ["ftp://x"]}}, "'ftp://x': allowed: an https:// URL"),
        ({"deployEndpoint": False}, "unknown key genai-endpoints:azure.deployEndpoint"),
        ({"deployments": []}, "allowed: 1 to 20 deployments"),
        ({"autoscale": {"min": 3, "max": 2}}, "azure.autoscale.min=3: must be ≤"),
        ({"autoscale": {"min": 0, "max": 2}}, "cannot scale to zero; allowed: ≥ 1"),
        ({"autoscale": {"min": 1, "max": 2, "default": 5}}, "azure.autoscale.default=5"),
        (
            {
                "autoscale": {
                    "rules": [
                        {
                            "metric": "GpuUtilizationPercentage",
                            "operator": "GreaterThan",
                            "threshold": 70,
                            "direction": "Increase",
                        }
                    ]
                }
            },
            "at least one 'Increase' and one 'Decrease' rule",
        ),
        (
            {"authMode": "amlToken"},
            "azure.authMode='amlToken': Input should be 'key' or 'aadToken'",
        ),
        ({"publicNetworkAccess": "off"}, "azure.publicNetworkAccess='off'"),
        (
            {
                "identity": {
                    "type": "SystemAssigned",
                    "userAssignedId": UAI_PREFIX + "Microsoft.ManagedIdentity/"
                    "userAssignedIdentities/x",
                }
            },
            "identity.userAssignedId is set but identity.type='SystemAssigned'",
        ),
        (
            {"identity": {"type": "UserAssigned", "userAssignedId": "my-id"}},
            "azure.identity.userAssignedId='my-id'",
        ),
        ({"resourceGroup": {"create": False}}, "an existing group needs its name"),
        ({"instanceTyp": "x"}, "unknown key genai-endpoints:azure.instanceTyp"),
        ({"subscriptionId": "abc"}, "azure.subscriptionId='abc'"),
        ({"location": "East US"}, "azure.location='East US'"),
    ],
)
def test_bad_azure_values(azure, expected):
    assert expected in _error(azure_only(**azure))


def test_video_with_too_many_frames_is_refused_naming_the_limit(video_package):
    config = azure_only(workload={"maxFrames": 200}, instanceType="Standard_NC4as_T4_v3")
    config["genai-endpoints:task"] = "text-to-video"
    msg = _error(config, package_dir=video_package)
    assert msg.startswith("genai-endpoints:azure.workload.maxFrames=200: the largest accepted")
    assert "allows 180 s per request" in msg and "allowed: workload.maxFrames ≤" in msg


def test_model_too_big_for_the_gpu(tmp_path):
    pkg = azure_package(tmp_path, size_bytes=20 * 2**30)
    msg = _error(azure_only(instanceType="Standard_NC4as_T4_v3"), package_dir=pkg)
    assert "azure.instanceType='Standard_NC4as_T4_v3'" in msg and "16 GiB per GPU" in msg
    assert "allowed: " in msg and "Standard_NC24ads_A100_v4" in msg


def test_deployment_override_instance_type_is_checked():
    deployments = [{"name": "blue", "traffic": 100}, {"name": "green", "instanceType": "nope"}]
    msg = _error(azure_only(deployments=deployments))
    assert "azure.deployments[1].instanceType='nope'" in msg


def test_missing_manifest(tmp_path):
    msg = _error(azure_only(), package_dir=tmp_path / "nowhere")
    assert "no azureml manifest" in msg


def test_changed_weights_file(tmp_path):
    pkg = azure_package(tmp_path)
    (pkg / "azureml" / "model" / "genai_package.json").write_text("changed\n")
    assert "rebuild the package" in _error(azure_only(), package_dir=pkg)


def test_private_networking_is_deployable_from_inside_the_vnet():
    from tests.infra.azure.helpers import run_with_graph

    config = azure_only(
        "prod", deployerIpRanges=[], deployFromPrivateNetwork=True, publicNetworkAccess="Disabled"
    )
    result, _ = run_with_graph(config, stack="prod")
    account = result.by_type("azure-native:storage:StorageAccount")[0]["inputs"]
    assert account["publicNetworkAccess"] == "Disabled" and "networkRuleSet" not in account


def test_task_not_in_package():
    config = azure_only()
    config["genai-endpoints:task"] = "text-to-video"
    assert "supports only" in _error(config)


def test_section_must_be_an_object():
    config = azure_only()
    config["genai-endpoints:azure"] = "on"
    assert "genai-endpoints:azure='on': must be an object" in _error(config)


def test_cross_field_checks_are_the_sections_own(tmp_path):
    """Model validators: they run when the config is read, before any package is opened,
    and the message is theirs, whole."""
    config = azure_only(deployments=[{"name": "blue", "traffic": 60}])
    assert _error(config, package_dir=tmp_path / "nowhere") == (
        "genai-endpoints:azure.deployments[*].traffic=[60]: live traffic sums to 60; "
        "allowed: a sum of exactly 100"
    )


def test_a_section_that_is_off_is_not_cross_checked():
    bad = {"deployments": [{"name": "blue", "traffic": 60}], "autoscale": {"min": 0}}
    assert not AzureSection.model_validate({**bad, "enabled": False}).enabled
    with pytest.raises(ValidationError, match="live traffic sums to 60"):
        AzureSection.model_validate({**bad, "enabled": True})
