"""The traffic step against a fake ARM server on 127.0.0.1: create, update, delete, failures."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.azure.traffic import API_VERSION, TrafficProvider
from tests.infra.helpers import run_unpickled

EP = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/"
    "workspaces/ws/onlineEndpoints/ep"
)


class FakeArm:
    """One online endpoint; PUT answers 201 + an Azure-AsyncOperation URL."""

    def __init__(self) -> None:
        self.endpoint = {
            "id": EP,
            "name": "ep",
            "location": "eastus",
            "tags": {"stack": "test"},
            "kind": "Managed",
            "identity": {"type": "SystemAssigned", "principalId": "p", "tenantId": "t"},
            "properties": {
                "authMode": "Key",
                "publicNetworkAccess": "Disabled",
                "provisioningState": "Succeeded",
                "scoringUri": "https://ep.eastus.inference.ml.azure.com/score",
                "traffic": {},
                "mirrorTraffic": {},
            },
        }
        self.exists = True
        self.operation_status = "Succeeded"
        self.requests: list[tuple[str, str, dict | None, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                fake.requests.append(("GET", self.path, None, self.headers["Authorization"]))
                if self.path.startswith("/operations/"):
                    return self._send(200, {"status": fake.operation_status})
                if not fake.exists:
                    return self._send(404, {"error": {"code": "NotFound"}})
                self._send(200, fake.endpoint)

            def do_PUT(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(("PUT", self.path, body, self.headers["Authorization"]))
                fake.endpoint["properties"].update(
                    traffic=body["properties"]["traffic"],
                    mirrorTraffic=body["properties"]["mirrorTraffic"],
                )
                base = f"http://127.0.0.1:{fake.port}"
                self._send(201, fake.endpoint, {"Azure-AsyncOperation": f"{base}/operations/1"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class FakeCredential:
    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, scope):
        self.scopes.append(scope)

        class T:
            token = "fake-token"

        return T()


@pytest.fixture
def arm():
    fake = FakeArm()
    yield fake
    fake.server.shutdown()


def _props(arm, traffic, mirror=None):
    return {
        "endpoint_id": EP,
        "traffic": traffic,
        "mirror_traffic": mirror or {},
        "revision": "r1",
        "api_base": arm.base,
        "api_version": API_VERSION,
    }


def test_create_puts_traffic_keeping_the_rest_of_the_endpoint(arm):
    cred = FakeCredential()
    provider = TrafficProvider(credential=cred, poll_seconds=0)
    result = provider.create(_props(arm, {"blue": 90.0, "green": 10.0}, {"shadow": 5}))
    assert result.id == f"{EP}/traffic"
    assert arm.endpoint["properties"]["traffic"] == {"blue": 90, "green": 10}
    assert arm.endpoint["properties"]["mirrorTraffic"] == {"shadow": 5}
    (put,) = [r for r in arm.requests if r[0] == "PUT"]
    _, path, body, auth = put
    assert path == f"{EP}?api-version={API_VERSION}" and auth == "Bearer fake-token"
    assert body["location"] == "eastus" and body["tags"] == {"stack": "test"}
    assert body["identity"] == {"type": "SystemAssigned"}  # read-only ids dropped
    assert body["properties"]["authMode"] == "Key"
    assert body["properties"]["publicNetworkAccess"] == "Disabled"
    assert "provisioningState" not in body["properties"] and "scoringUri" not in body["properties"]
    assert [r[0] for r in arm.requests] == ["GET", "PUT", "GET"]  # GET, PUT, poll
    assert cred.scopes == [f"{arm.base}/.default"]


def test_zero_weights_are_left_out_as_azures_tools_do(arm):
    provider = TrafficProvider(credential=FakeCredential(), poll_seconds=0)
    provider.create(_props(arm, {"blue": 100, "green": 0}, {"green": 0, "shadow": 10}))
    (put,) = [r for r in arm.requests if r[0] == "PUT"]
    assert put[2]["properties"]["traffic"] == {"blue": 100}
    assert put[2]["properties"]["mirrorTraffic"] == {"shadow": 10}


def test_update_and_delete(arm):
    provider = TrafficProvider(credential=FakeCredential(), poll_seconds=0)
    old = _props(arm, {"blue": 100, "green": 0})
    provider.create(old)
    new = _props(arm, {"blue": 0, "green": 100})
    diff = provider.diff(f"{EP}/traffic", old, new)
    assert diff.changes and not diff.replaces
    assert not provider.diff(f"{EP}/traffic", old, dict(old)).changes
    assert provider.diff(f"{EP}/traffic", old, {**old, "endpoint_id": EP + "2"}).replaces == [
        "endpoint_id"
    ]
    provider.update(f"{EP}/traffic", old, new)
    assert arm.endpoint["properties"]["traffic"] == {"green": 100}
    provider.delete(f"{EP}/traffic", new)  # zero before the deployments go
    assert arm.endpoint["properties"]["traffic"] == {}
    assert arm.endpoint["properties"]["mirrorTraffic"] == {}
    arm.exists = False
    provider.delete(f"{EP}/traffic", new)  # endpoint already gone: nothing to do


def test_failed_operation_and_missing_endpoint_raise(arm):
    provider = TrafficProvider(credential=FakeCredential(), poll_seconds=0)
    arm.operation_status = "Failed"
    with pytest.raises(RuntimeError, match="setting traffic"):
        provider.create(_props(arm, {"blue": 100}))
    arm.exists = False
    with pytest.raises(RuntimeError, match="HTTP 404"):
        provider.create(_props(arm, {"blue": 100}))


def test_serialized_provider_loads_without_the_project(tmp_path):
    """Pulumi runs a dynamic provider from its serialized form in another process."""
    from pulumi.dynamic.dynamic import serialize_provider

    blob = serialize_provider(TrafficProvider())
    checks = (
        "d = p.diff('x', {'traffic': {'a': 1}}, {'traffic': {'a': 2}})\n"
        "print(type(p).__name__, p.poll_seconds, d.changes)\n"
    )
    assert "TrafficProvider 10.0 True" in run_unpickled(blob, checks, tmp_path)
