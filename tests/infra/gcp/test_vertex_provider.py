"""The dynamic provider's create, diff, update and delete against a fake Vertex AI REST API
served on loopback: success, operation polling, API errors, rollout and teardown order."""

from __future__ import annotations

import base64

import pytest

from infra.gcp.vertex_provider import VertexDeploymentProvider
from tests.infra.gcp.fake_vertex import TOKEN
from tests.infra.gcp.helpers import props
from tests.infra.helpers import run_unpickled

P = VertexDeploymentProvider()


def _new(p, model_id, dmid):
    return {**p, "model_id": model_id, "deployed_model_id": dmid}


def test_create_uploads_polls_deploys_then_sends_traffic(fake_vertex):
    p = props(fake_vertex)
    result = P.create(p)
    assert result.id == p["endpoint"]
    assert fake_vertex.events == [
        ("upload", "genai-test-aaaa"),
        ("deploy", "1111111111", "genai-test-aaaa"),
        ("traffic", {"1111111111": 100}),
    ]
    upload = next(b for m, path, b in fake_vertex.requests if path.endswith("models:upload"))
    assert upload["modelId"] == "genai-test-aaaa" and upload["model"] == p["model"]
    assert upload["serviceAccount"] == p["upload_service_account"]
    deploy = next(b for m, path, b in fake_vertex.requests if path.endswith(":deployModel"))
    assert deploy["deployedModel"]["id"] == "1111111111"
    assert deploy["deployedModel"]["model"].endswith("/models/genai-test-aaaa")
    assert "trafficSplit" not in deploy  # traffic moves only in the explicit shift step
    polls = [r for r in fake_vertex.requests if "/operations/" in r[1]]
    assert len(polls) >= 2 * fake_vertex.polls  # operations were polled until done
    outs = result.outs
    assert outs["model_name"] == "projects/123456789/locations/us-central1/models/genai-test-aaaa"
    assert outs["deployed_model_id"] == "1111111111" and outs["traffic_split"] == {
        "1111111111": 100
    }
    assert outs["previous"] is None
    assert not any("token" in k.lower() for k in outs)
    assert "fake-token" not in repr(outs)


def test_create_adopts_what_a_failed_attempt_left(fake_vertex):
    p = props(fake_vertex)
    P.create(p)
    fake_vertex.events.clear()
    P.create(p)  # same content-derived ids: nothing new is uploaded or deployed
    assert fake_vertex.events == [("traffic", {"1111111111": 100})]


def test_dedicated_dns_becomes_the_predict_url(fake_vertex):
    fake_vertex.dedicated_dns = "1234567890.us-central1-123456789.prediction.vertexai.goog"
    outs = P.create(props(fake_vertex)).outs
    assert outs["predict_url"] == (
        "https://1234567890.us-central1-123456789.prediction.vertexai.goog/v1/"
        "projects/proj-test/locations/us-central1/endpoints/1234567890:predict"
    )


def test_api_error_carries_the_apis_message(fake_vertex):
    fake_vertex.fail_upload = (400, "INVALID_ARGUMENT", "containerSpec.imageUri is not accessible")
    with pytest.raises(RuntimeError) as info:
        P.create(props(fake_vertex))
    msg = str(info.value)
    assert "HTTP 400 INVALID_ARGUMENT" in msg and "containerSpec.imageUri is not accessible" in msg


def test_failed_operation_carries_its_error(fake_vertex):
    fake_vertex.fail_deploy_op = "Machine type g2-standard-8 is out of stock in us-central1"
    with pytest.raises(RuntimeError) as info:
        P.create(props(fake_vertex))
    assert "deploy model" in str(info.value) and "out of stock" in str(info.value)


def test_operation_polling_times_out_with_a_clear_message(fake_vertex):
    fake_vertex.never_finish = True
    with pytest.raises(RuntimeError) as info:
        P.create(props(fake_vertex, timeout_s=0.2))
    assert "not done after 0.2 s" in str(info.value) and "operations describe" in str(info.value)


def test_diff():
    old = {"project": "p", "region": "r", "endpoint": "e", "model_id": "a", "traffic_percent": 100}
    assert not P.diff("e", old, dict(old)).changes
    d = P.diff("e", old, {**old, "model_id": "b"})
    assert d.changes and d.replaces == []
    d = P.diff("e", old, {**old, "endpoint": "e2"})
    assert d.changes and d.replaces == ["endpoint"]
    # outputs the provider fills in do not count as changes
    d = P.diff(
        "e", {**old, "model_name": "x", "predict_url": "real"}, {**old, "predict_url": "form"}
    )
    assert not d.changes


def test_update_with_a_new_model_deploys_shifts_then_undeploys_and_deletes(fake_vertex):
    p1 = props(fake_vertex)
    outs = P.create(p1).outs
    fake_vertex.events.clear()
    p2 = _new(p1, "genai-test-bbbb", "2222222222")
    outs2 = P.update(p1["endpoint"], outs, p2).outs
    assert fake_vertex.events == [
        ("upload", "genai-test-bbbb"),
        ("deploy", "2222222222", "genai-test-bbbb"),
        ("traffic", {"2222222222": 100}),
        ("undeploy", "1111111111"),
        ("delete", "genai-test-aaaa"),
    ]
    assert fake_vertex.deployed_ids() == ["2222222222"]
    assert set(fake_vertex.models) == {"genai-test-bbbb"}
    assert outs2["deployed_model_id"] == "2222222222" and outs2["previous"] is None


def test_canary_keeps_the_old_model_until_traffic_percent_is_100(fake_vertex):
    p1 = props(fake_vertex)
    outs = P.create(p1).outs
    fake_vertex.events.clear()
    p2 = _new(p1, "genai-test-bbbb", "2222222222") | {"traffic_percent": 20}
    outs2 = P.update(p1["endpoint"], outs, p2).outs
    assert fake_vertex.events[-1] == ("traffic", {"2222222222": 20, "1111111111": 80})
    assert set(fake_vertex.deployed_ids()) == {"1111111111", "2222222222"}
    assert outs2["previous"]["deployed_model_id"] == "1111111111"
    fake_vertex.events.clear()
    p3 = p2 | {"traffic_percent": 100}
    assert P.diff(p1["endpoint"], outs2, p3).changes
    outs3 = P.update(p1["endpoint"], outs2, p3).outs
    assert fake_vertex.events == [
        ("traffic", {"2222222222": 100}),
        ("undeploy", "1111111111"),
        ("delete", "genai-test-aaaa"),
    ]
    assert outs3["previous"] is None


def test_replica_changes_mutate_in_place(fake_vertex):
    p1 = props(fake_vertex)
    outs = P.create(p1).outs
    fake_vertex.events.clear()
    dm = {**p1["deployed_model"]}
    dm["dedicatedResources"] = {**dm["dedicatedResources"], "maxReplicaCount": 5}
    P.update(p1["endpoint"], outs, p1 | {"deployed_model": dm})
    assert fake_vertex.events == [("mutate", "1111111111", ("dedicatedResources.maxReplicaCount",))]
    assert fake_vertex.endpoint["deployedModels"][0]["dedicatedResources"]["maxReplicaCount"] == 5


def test_delete_undeploys_then_deletes_the_model(fake_vertex):
    p1 = props(fake_vertex)
    outs = P.create(p1).outs
    fake_vertex.events.clear()
    P.delete(p1["endpoint"], outs)
    assert fake_vertex.events == [("undeploy", "1111111111"), ("delete", "genai-test-aaaa")]
    assert not fake_vertex.deployed_ids() and not fake_vertex.models
    fake_vertex.events.clear()
    P.delete(p1["endpoint"], outs)  # gone already: nothing to do, no error
    assert fake_vertex.events == []


def test_check_refuses_missing_inputs_and_credentials():
    result = P.check({}, {"project": "p", "access_token": "x", "deployed_model_id": "01a"})
    props_failed = {f.property for f in result.failures}
    assert {"api_base", "model", "access_token", "deployed_model_id"} <= props_failed


def test_provider_survives_pulumi_serialization_without_this_repo(tmp_path):
    """Pulumi pickles the provider (dill) into the state; the provider process must be able
    to load and run it with only the SDKs installed — not with ``infra`` importable."""
    from pulumi.dynamic.dynamic import serialize_provider

    provider = VertexDeploymentProvider()
    assert vars(provider) == {}  # no state on the instance: nothing credential-like to pickle
    blob = serialize_provider(provider)
    assert TOKEN.encode() not in base64.b64decode(blob)
    assert b"infra.gcp" not in base64.b64decode(blob)  # code by value, not a module reference
    checks = (
        "old = {'project': 'p', 'region': 'r', 'endpoint': 'e', 'model_id': 'a'}\n"
        "d = p.diff('e', old, dict(old, model_id='b'))\n"
        "assert d.changes and not d.replaces, d\n"
        "print('ok')\n"
    )
    assert "ok" in run_unpickled(blob, checks, tmp_path)


def test_a_token_that_expires_while_polling_is_refreshed(fake_vertex):
    """An upload and deployment polled past the token's life: the session refreshes."""
    fake_vertex.polls = 5
    fake_vertex.rotate_at = 4  # the token expires in the middle of the upload's polling
    P.create(props(fake_vertex))
    assert fake_vertex.tokens_issued >= 2
    assert ("traffic", {"1111111111": 100}) in fake_vertex.events


def test_numbers_go_out_as_integers(fake_vertex):
    P.create(props(fake_vertex))  # the fake refuses 1.0 where the API wants an int32
    deploy = next(b for m, path, b in fake_vertex.requests if path.endswith(":deployModel"))
    machine = deploy["deployedModel"]["dedicatedResources"]["machineSpec"]
    assert machine["acceleratorCount"] == 1 and type(machine["acceleratorCount"]) is int
    assert type(deploy["deployedModel"]["dedicatedResources"]["minReplicaCount"]) is int


def test_traffic_is_written_read_modify_write(fake_vertex):
    P.create(props(fake_vertex))
    (patch,) = [b for m, path, b in fake_vertex.requests if m == "PATCH"]
    assert patch["displayName"] == "genai-test" and patch["etag"] == "etag-1"
    assert patch["trafficSplit"] == {"1111111111": 100}
    assert "deployedModels" not in patch  # output only


def test_dedicated_endpoints_get_the_plans_inference_timeout(fake_vertex):
    p = props(fake_vertex, inference_timeout="3600s")
    P.create(p)
    assert fake_vertex.events[0] == ("client-connection", {"inferenceTimeout": "3600s"})
    assert fake_vertex.endpoint["clientConnectionConfig"] == {"inferenceTimeout": "3600s"}
    update = next(b for m, path, b in fake_vertex.requests if path.endswith(":update"))
    assert update["endpoint"]["displayName"] == "genai-test"  # the endpoint as read
    fake_vertex.events.clear()
    P.create(p)  # already set: not sent again
    assert not [e for e in fake_vertex.events if e[0] == "client-connection"]
