"""Every stack file with Azure on runs under mocks; the Azure ML graph is checked."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from functools import cache

import pytest

from infra.azure.config import PACKAGES_CONTAINER, REQUEST_TIMEOUT_MAX_MS
from infra.azure.identity import ROLES
from tests.infra.azure.helpers import (
    AZ,
    DEPLOYMENT,
    ENDPOINT,
    ROLE,
    TRAFFIC,
    Graph,
    azure_only,
    run_with_graph,
)
from tests.infra.helpers import (
    FIXTURE_PACKAGES,
    STACK_FILES,
    run_config,
    stack_config,
    stack_result,
)

TAG_KEYS = {"project", "stack", "environment", "owner", "cost-centre"}
AZURE_STACKS = [
    p.name.removeprefix("Pulumi.").removesuffix(".yaml")
    for p in STACK_FILES
    if (stack_config(p.name.removeprefix("Pulumi.").removesuffix(".yaml")).get(AZ) or {}).get(
        "enabled"
    )
]
MANIFEST = json.loads((FIXTURE_PACKAGES / "azureml" / "manifest.json").read_text())


@cache
def _run(stack: str):
    result = stack_result(stack)
    return result, Graph(result)


def _all(result, token):
    return [r["inputs"] for r in result.by_type(token)]


def _one(result, token):
    found = _all(result, token)
    assert len(found) == 1, f"{token}: {len(found)}"
    return found[0]


def test_some_example_stack_enables_azure_and_prod_is_private():
    assert {"staging", "prod"} <= set(AZURE_STACKS)
    assert stack_config("prod")[AZ]["publicNetworkAccess"] == "Disabled"


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_stack_runs_and_exports_azure_outputs(stack):
    result, _ = _run(stack)
    assert result.by_type("genai-endpoints:azure:AzureMlEndpoint")
    az = result.outputs["azure"]
    cfg = stack_config(stack)[AZ]
    name = az["endpoint_name"]
    assert az["scoring_uri"] == f"https://{name}.{cfg['location']}.inference.ml.azure.com/score"
    assert 3 <= len(name) <= 32 and name[0].isalpha()
    assert az["auth_mode"] == {"key": "Key", "aadToken": "AADToken"}[cfg["authMode"]]
    assert 0 < az["usd_per_hour_min"] <= az["usd_per_hour_max"]
    assert az["subscription_id"] == "00000000-0000-0000-0000-000000000000"
    assert az["resource_group"] and az["workspace"]
    assert az["model_id"] == MANIFEST["model"]["id"]
    assert az["model_revision"] == MANIFEST["model"]["revision"]
    assert az["datastore_uri"].endswith("/datastores/genai_packages")
    assert _one(result, ENDPOINT)["properties"]["authMode"] == az["auth_mode"]


@cache
def _accepts_tags(token: str) -> bool:
    _, mod, cls = token.split(":")
    module = importlib.import_module(f"pulumi_azure_native.{mod}")
    return "tags" in inspect.signature(getattr(module, cls)._internal_init).parameters


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_every_taggable_azure_resource_is_tagged(stack):
    result, _ = _run(stack)
    checked = 0
    for r in result.resources:
        if not r["type"].startswith("azure-native:"):
            continue
        tags = None
        if _accepts_tags(r["type"]):
            tags = r["inputs"].get("tags")
        elif "tags" in (r["inputs"].get("properties") or {}):  # assets and datastores
            tags = r["inputs"]["properties"]["tags"]
        else:
            assert r["type"] in ("azure-native:storage:BlobContainer", ROLE), r["type"]
            continue
        assert tags and set(tags) >= TAG_KEYS, (r["type"], r["name"], tags)
        assert tags["stack"] == stack and tags["owner"] and tags["cost-centre"]
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_public_network_access_follows_config(stack):
    result, _ = _run(stack)
    cfg = stack_config(stack)[AZ]
    access, egress = cfg["publicNetworkAccess"], cfg["egressPublicNetworkAccess"]
    assert (
        _one(result, "azure-native:machinelearningservices:Workspace")["publicNetworkAccess"]
        == access
    )
    assert _one(result, ENDPOINT)["properties"]["publicNetworkAccess"] == access
    storage_account = _one(result, "azure-native:storage:StorageAccount")
    registry = _one(result, "azure-native:containerregistry:Registry")
    allow = cfg.get("deployerIpRanges") or []
    if allow:  # closed to everyone but the deploying runner (the upload, the image push)
        assert storage_account["publicNetworkAccess"] == "Enabled"
        rules = storage_account["networkRuleSet"]
        assert rules["defaultAction"] == "Deny"
        assert [r["iPAddressOrRange"] for r in rules["ipRules"]] == [
            r.removesuffix("/32") for r in allow
        ]
        assert registry["publicNetworkAccess"] == "Enabled"
        assert registry["networkRuleSet"]["defaultAction"] == "Deny"
        assert [r["iPAddressOrRange"] for r in registry["networkRuleSet"]["ipRules"]] == allow
        assert registry["sku"] == {"name": "Premium"}
    else:
        assert storage_account["publicNetworkAccess"] == access
        assert registry["publicNetworkAccess"] == access
        assert "networkRuleSet" not in registry
    vault = _one(result, "azure-native:keyvault:Vault")["properties"]
    assert vault["publicNetworkAccess"] == access and vault["enableRbacAuthorization"] is True
    account = _one(result, "azure-native:storage:StorageAccount")
    assert account["allowBlobPublicAccess"] is False and account["minimumTlsVersion"] == "TLS1_2"
    assert account["encryption"]["services"]["blob"]["enabled"] is True
    assert _one(result, "azure-native:storage:BlobContainer")["publicAccess"] == "None"
    assert _one(result, "azure-native:containerregistry:Registry")["adminUserEnabled"] is False
    for dep in _all(result, DEPLOYMENT):
        assert dep["properties"]["egressPublicNetworkAccess"] == egress
    if stack == "prod":
        assert access == "Disabled" and egress == "Disabled"


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_probes_timeouts_and_concurrency(stack):
    result, _ = _run(stack)
    az = result.outputs["azure"]
    timeout_ms = az["request_timeout_ms"]
    assert 1000 <= timeout_ms <= REQUEST_TIMEOUT_MAX_MS
    for dep in _all(result, DEPLOYMENT):
        p = dep["properties"]
        assert p["endpointComputeType"] == "Managed" and p["appInsightsEnabled"] is True
        rs = p["requestSettings"]
        assert rs["requestTimeout"] == f"PT{timeout_ms // 1000}S"
        assert rs["maxConcurrentRequestsPerInstance"] == 9  # GENAI_MAX_QUEUE=8 waiting + 1
        env = p["environmentVariables"]
        assert env["GENAI_MAX_QUEUE"] == "8"
        budget = int(env["GENAI_REQUEST_TIMEOUT_S"]) + int(env["GENAI_QUEUE_TIMEOUT_S"])
        assert budget < timeout_ms / 1000  # the engine answers before Azure cuts it off
        assert int(env["GENAI_REQUEST_TIMEOUT_S"]) >= az["estimated_request_s"]
        live, ready = p["livenessProbe"], p["readinessProbe"]
        secs = lambda iso: int(iso.removeprefix("PT").removesuffix("S"))  # noqa: E731
        load = secs(live["initialDelay"])
        # SDXL-size fixture: ≥ 2 min to load; liveness waits for it
        assert load >= 120
        # readiness keeps trying for the whole load
        assert ready["failureThreshold"] * secs(ready["period"]) >= load
        # a probe stuck behind one full-length request does not kill the container
        assert live["failureThreshold"] * secs(live["period"]) >= timeout_ms / 1000
        assert "codeConfiguration" not in p  # a custom container: no scoring script
        assert p["scaleSettings"] == {"scaleType": "Default"}
        assert env["GENAI_CONTRACT"] == "azureml"
        assert env["GENAI_WEIGHTS_DIGEST"] == MANIFEST["weights"]["digest"]


ENDPOINT_ROLES = {k: v for k, v in ROLES.items() if k != "Storage Blob Data Contributor"}
DEPLOYER = "azureml-deployer-writes-packages"


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_role_assignments_are_least_privilege(stack):
    result, _ = _run(stack)
    roles = [r for r in result.by_type(ROLE) if r["name"] != DEPLOYER]
    identity = stack_config(stack)[AZ].get("identity", {}).get("type", "SystemAssigned")
    if identity == "SystemAssigned":
        # Azure ML grants a system-assigned identity these itself: RoleAssignmentExists
        assert roles == []
        return
    by_role = {r["inputs"]["roleDefinitionId"].rsplit("/", 1)[1]: r["inputs"] for r in roles}
    assert set(by_role) == set(ENDPOINT_ROLES.values())
    registry = result.by_type("azure-native:containerregistry:Registry")[0]["name"]
    container = result.by_type("azure-native:storage:BlobContainer")[0]["name"]
    workspace = result.by_type("azure-native:machinelearningservices:Workspace")[0]["name"]
    assert by_role[ROLES["AcrPull"]]["scope"] == f"{registry}-id"
    # the packages container, not the storage account or the group
    assert by_role[ROLES["Storage Blob Data Reader"]]["scope"] == f"{container}-id"
    assert by_role[ROLES["AzureML Metrics Writer (preview)"]]["scope"] == f"{workspace}-id"
    for r in by_role.values():
        assert r["principalType"] == "ServicePrincipal"
        assert r["roleDefinitionId"].startswith("/subscriptions/")
        assert "/providers/Microsoft.Authorization/roleDefinitions/" in r["roleDefinitionId"]
    assert not result.by_type("azure-native:keyvault:Secret")  # nothing for the endpoint to read


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_the_deploying_identity_may_write_the_weights_only(stack):
    result, graph = _run(stack)
    deployer = result.named(DEPLOYER)["inputs"]
    assert deployer["roleDefinitionId"].endswith(ROLES["Storage Blob Data Contributor"])
    assert deployer["principalId"] == "22222222-2222-2222-2222-222222222222"  # the caller
    container = result.by_type("azure-native:storage:BlobContainer")[0]["name"]
    assert deployer["scope"] == f"{container}-id"
    assert DEPLOYER in graph.depends_on["azureml-weights"]


def test_system_assigned_identity_gets_no_duplicate_assignments():
    result, _ = run_with_graph(azure_only("prod", identity={"type": "SystemAssigned"}), stack="p")
    assert [r["name"] for r in result.by_type(ROLE)] == [DEPLOYER]
    assert _one(result, ENDPOINT)["identity"] == {"type": "SystemAssigned"}


def test_user_assigned_identity_gets_the_roles():
    config = azure_only("prod", identity={"type": "UserAssigned"})
    result, graph = run_with_graph(config, stack="prod")
    (uai,) = result.by_type("azure-native:managedidentity:UserAssignedIdentity")
    endpoint = _one(result, ENDPOINT)
    assert endpoint["identity"]["type"] == "UserAssigned"
    assert endpoint["identity"]["userAssignedIdentities"] == [f"{uai['name']}-id"]
    roles = [r["inputs"] for r in result.by_type(ROLE) if r["name"] != DEPLOYER]
    assert len(roles) == 3 and {r["principalId"] for r in roles} == {"uai-principal"}
    assert uai["name"] in graph.depends_on["azureml-endpoint"]


def test_existing_user_assigned_identity_is_referenced():
    uai = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ids/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/genai"
    )
    result, _ = run_with_graph(
        azure_only("prod", identity={"type": "UserAssigned", "userAssignedId": uai}), stack="p"
    )
    assert not result.by_type("azure-native:managedidentity:UserAssignedIdentity")
    assert _one(result, ENDPOINT)["identity"]["userAssignedIdentities"] == [uai]


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_traffic_is_set_only_after_every_deployment_exists(stack):
    result, graph = _run(stack)
    cfg = stack_config(stack)[AZ]
    endpoint = _one(result, ENDPOINT)
    # the endpoint is created without traffic, and never fights the traffic step over it
    assert "traffic" not in endpoint["properties"] and "mirrorTraffic" not in endpoint["properties"]
    assert set(graph.ignore_changes["azureml-endpoint"]) >= {
        "properties.traffic",
        "properties.mirrorTraffic",
    }
    deployments = {r["name"] for r in result.by_type(DEPLOYMENT)}
    assert deployments == {f"azureml-deployment-{d['name']}" for d in cfg["deployments"]}
    roles = {r["name"] for r in result.by_type(ROLE)} - {DEPLOYER}
    for d in deployments:
        assert "azureml-endpoint" in graph.depends_on[d]
        assert roles <= graph.depends_on[d]  # the identity can pull before a deployment starts
        assert graph.parent[d] == "azureml"
    (traffic,) = result.by_type(TRAFFIC)
    assert deployments | {"azureml-endpoint"} <= graph.depends_on[traffic["name"]]
    assert graph.parent[traffic["name"]] == "azureml"
    t = traffic["inputs"]
    assert t["endpoint_id"] == "azureml-endpoint-id"
    # as Azure's tools send it: no deployment at 0 %
    assert {k: int(v) for k, v in t["traffic"].items()} == {
        d["name"]: d["traffic"] for d in cfg["deployments"] if d.get("traffic")
    }
    assert {k: int(v) for k, v in t["mirror_traffic"].items()} == {
        d["name"]: d["mirrorTraffic"] for d in cfg["deployments"] if d.get("mirrorTraffic")
    }
    assert t["api_base"] == "https://management.azure.com"
    assert not any("token" in k.lower() or "secret" in k.lower() for k in t)


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_autoscale_bounds_and_rules_per_deployment(stack):
    result, graph = _run(stack)
    a = stack_config(stack)[AZ]["autoscale"]
    settings = result.by_type("azure-native:monitor:AutoscaleSetting")
    deployments = {r["name"]: r["inputs"] for r in result.by_type(DEPLOYMENT)}
    assert len(settings) == len(deployments)
    for s in settings:
        inputs = s["inputs"]
        dep = inputs["targetResourceUri"].removesuffix("-id")
        assert dep in deployments and dep in graph.depends_on[s["name"]]
        assert inputs["enabled"] is True
        (profile,) = inputs["profiles"]
        cap = profile["capacity"]
        assert (cap["minimum"], cap["maximum"], cap["default"]) == (
            str(a["min"]),
            str(a["max"]),
            str(a.get("default", a["min"])),
        )
        assert deployments[dep]["sku"] == {
            "name": "Default",
            "capacity": a.get("default", a["min"]),
        }
        directions = {r["scaleAction"]["direction"] for r in profile["rules"]}
        assert directions == {"Increase", "Decrease"}
        for r in profile["rules"]:
            assert r["scaleAction"]["type"] == "ChangeCount"
            trig = r["metricTrigger"]
            assert trig["metricResourceUri"] in (f"{dep}-id", "azureml-endpoint-id")
            if trig["metricResourceUri"] == "azureml-endpoint-id":  # this deployment's share
                assert trig["dimensions"][0]["values"] == [dep.removeprefix("azureml-deployment-")]


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_alerts_on_5xx_and_latency(stack):
    result, _ = _run(stack)
    alerts = {
        a["inputs"]["ruleName"]: a["inputs"]
        for a in result.by_type("azure-native:monitor:MetricAlert")
    }
    assert len(alerts) == 2
    by_metric = {a["criteria"]["allOf"][0]["metricName"]: a for a in alerts.values()}
    five = by_metric["RequestsPerMinute"]["criteria"]["allOf"][0]
    assert five["dimensions"] == [
        {"name": "statusCodeClass", "operator": "Include", "values": ["5xx"]}
    ]
    lat = by_metric["RequestLatency_P90"]["criteria"]["allOf"][0]
    cfg = stack_config(stack)[AZ]["alarms"]
    assert five["threshold"] == cfg["error5xxPerMinute"]
    if "latencyP90Ms" in cfg:
        assert lat["threshold"] == cfg["latencyP90Ms"]
    emails = cfg.get("emails") or []
    groups = result.by_type("azure-native:monitor:ActionGroup")
    for a in alerts.values():
        assert a["scopes"] == ["azureml-endpoint-id"] and a["enabled"] is True
        if emails:  # somebody is told
            assert a["actions"] == [{"actionGroupId": f"{groups[0]['name']}-id"}]
    if emails:
        (group,) = groups
        receivers = group["inputs"]["emailReceivers"]
        assert [r["emailAddress"] for r in receivers] == emails
        assert len(group["inputs"]["groupShortName"]) <= 12


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_assets_reference_the_uploaded_weights_and_the_image_by_digest(stack):
    result, graph = _run(stack)
    prefix = MANIFEST["weights"]["key_prefix"]
    model = _one(result, "azure-native:machinelearningservices:ModelVersion")
    assert model["properties"]["modelUri"].endswith(f"/datastores/genai_packages/paths/{prefix}")
    assert model["properties"]["modelUri"].startswith("azureml://subscriptions/")
    assert model["version"] == MANIFEST["weights"]["digest"][:16]
    upload = result.named("azureml-weights")["inputs"]
    assert upload["store"]["container"] == PACKAGES_CONTAINER and upload["key_prefix"] == prefix
    assert "azureml-weights" in graph.depends_on["azureml-model"]
    env = _one(result, "azure-native:machinelearningservices:EnvironmentVersion")
    image = env["properties"]["image"]
    assert image == result.outputs["azure"]["image"]
    assert re.fullmatch(r"[a-z0-9]+\.azurecr\.io/genai-runtime@sha256:[0-9a-f]{64}", image)
    assert env["version"] == image.rsplit("sha256:", 1)[1][:16]  # a new image: a new version
    assert env["properties"]["inferenceConfig"] == {
        "livenessRoute": {"path": "/", "port": 5001},
        "readinessRoute": {"path": "/ready", "port": 5001},
        "scoringRoute": {"path": "/score", "port": 5001},
    }
    assert "condaFile" not in env["properties"] and "build" not in env["properties"]
    assert not result.by_type("azure-native:machinelearningservices:CodeVersion")
    assert not result.by_type("azure-native:storage:Blob")
    for token in ("ModelVersion", "EnvironmentVersion"):
        (r,) = result.by_type(f"azure-native:machinelearningservices:{token}")
        assert graph.retain[r["name"]]  # immutable versions stay for older deployments
    for dep in _all(result, DEPLOYMENT):
        p = dep["properties"]
        assert p["model"] == "azureml-model-id" and p["environmentId"] == "azureml-environment-id"


def test_existing_resource_group_is_not_created():
    result = run_config(azure_only(resourceGroup={"name": "shared-ml", "create": False}))
    assert not result.by_type("azure-native:resources:ResourceGroup")
    assert (
        _one(result, "azure-native:machinelearningservices:Workspace")["resourceGroupName"]
        == "shared-ml"
    )


def test_video_that_fits_sets_frames_and_a_long_timeout(video_package):
    config = azure_only(workload={"maxFrames": 16, "maxSteps": 25})
    config["genai-endpoints:task"] = "text-to-video"
    result = run_config(config, package_dir=video_package)
    (dep, _) = _all(result, DEPLOYMENT)
    assert dep["properties"]["environmentVariables"]["GENAI_MAX_FRAMES"] == "16"
    assert result.outputs["azure"]["request_timeout_ms"] <= REQUEST_TIMEOUT_MAX_MS
