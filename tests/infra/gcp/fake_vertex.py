"""A small fake of the Vertex AI REST API (v1) on 127.0.0.1, for the dynamic provider's tests.

It keeps models, one endpoint's deployed models and traffic split, and long-running
operations that finish after ``polls`` reads; side effects land when an operation finishes,
and ``events`` records them in that order. It enforces the rules the provider relies on:
traffic splits name deployed models and sum to 100, a model with traffic cannot be
undeployed, a deployed model cannot be deleted, a PATCH carries the endpoint's required
``displayName``, numbers meant as integers are integers (``1.0`` is refused like the API's
int32 fields refuse it), and every call carries the current bearer token (``rotate_token``
expires it, as an hour of polling does).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

TOKEN = "fake-token-for-tests"


class _Integral(float):
    """A JSON number written with a fraction (``1.0``): the API refuses it for int fields."""


class FakeVertex:
    def __init__(self, project: str = "proj-test", region: str = "us-central1") -> None:
        self.project, self.region = project, region
        self.number = "123456789"
        self.endpoint_id = "1234567890"
        self.endpoint: dict[str, Any] = {
            "name": f"projects/{self.number}/locations/{region}/endpoints/{self.endpoint_id}",
            "displayName": "genai-test",
            "etag": "etag-1",
            "deployedModels": [],
            "trafficSplit": {},
        }
        self.token = TOKEN
        self.tokens_issued = 0
        self.rotate_at: int | None = None  # expire the token once this many requests came
        self.models: dict[str, dict[str, Any]] = {}
        self.ops: dict[str, dict[str, Any]] = {}
        self.events: list[tuple] = []
        self.requests: list[tuple[str, str, Any]] = []
        self.polls = 2  # operations.get reads before an operation is done
        self.fail_upload: tuple[int, str, str] | None = None  # HTTP status, status, message
        self.fail_deploy_op: str | None = None  # the operation ends with this error message
        self.never_finish = False
        self.dedicated_dns: str | None = None
        self._n = 0
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ helpers

    def issue_token(self) -> str:
        self.tokens_issued += 1
        return self.token

    def rotate_token(self) -> None:
        """The token the client holds expires: calls with it now get 401."""
        self.token = f"{TOKEN}-{self.tokens_issued + 1}"

    def _op(self, effect, response: dict | None = None, error: str | None = None) -> dict:
        self._n += 1
        name = f"projects/{self.number}/locations/{self.region}/operations/{self._n}"
        self.ops[name] = {
            "left": self.polls,
            "effect": effect,
            "response": response,
            "error": error,
        }
        return {"name": name, "done": False}

    def _finish(self, name: str) -> dict:
        op = self.ops[name]
        if self.never_finish:
            return {"name": name, "done": False}
        if op["left"] > 0:
            op["left"] -= 1
            return {"name": name, "done": False}
        if not op.get("finished"):
            op["finished"] = True
            if op["error"]:
                return {"name": name, "done": True, "error": {"code": 9, "message": op["error"]}}
            op["effect"]()
        if op["error"]:
            return {"name": name, "done": True, "error": {"code": 9, "message": op["error"]}}
        out = {"name": name, "done": True}
        if op["response"] is not None:
            out["response"] = op["response"]
        return out

    def deployed_ids(self) -> list[str]:
        return [d["id"] for d in self.endpoint["deployedModels"]]

    # ------------------------------------------------------------------ routing

    def handle(self, method: str, path: str, query: str, body: Any) -> tuple[int, dict]:
        self.requests.append((method, path, body))
        ep_re = rf"/v1/projects/[^/]+/locations/{self.region}/endpoints/{self.endpoint_id}"
        model_re = rf"/v1/projects/[^/]+/locations/{self.region}/models/([a-z0-9_-]+)"
        if method == "GET" and re.fullmatch(
            r"/v1/projects/[^/]+/locations/[^/]+/operations/\d+", path
        ):
            name = path.removeprefix("/v1/")
            return 200, self._finish(name)
        if method == "GET" and re.fullmatch(ep_re, path):
            ep = dict(self.endpoint)
            if self.dedicated_dns:
                ep["dedicatedEndpointDns"] = self.dedicated_dns
            return 200, ep
        if method == "PATCH" and re.fullmatch(ep_re, path):
            assert "updateMask=trafficSplit" in query, query
            if not body.get("displayName"):
                return _err(400, "INVALID_ARGUMENT", "Endpoint.display_name is required")
            if body.get("etag") not in (None, self.endpoint["etag"]):
                return _err(409, "ABORTED", "etag mismatch")
            split = body["trafficSplit"]
            if sum(split.values()) != 100 or not set(split) <= set(self.deployed_ids()):
                return _err(400, "INVALID_ARGUMENT", f"bad traffic split {split}")
            self.endpoint["trafficSplit"] = dict(split)
            self.endpoint["etag"] = f"etag-{len(self.events) + 2}"
            self.events.append(("traffic", dict(split)))
            return 200, self.endpoint
        if method == "POST" and re.fullmatch(ep_re + ":update", path):
            wanted = body["endpoint"]
            if not wanted.get("displayName"):
                return _err(400, "INVALID_ARGUMENT", "Endpoint.display_name is required")
            config = wanted.get("clientConnectionConfig")

            def effect():
                self.endpoint["clientConnectionConfig"] = config
                self.events.append(("client-connection", config))

            return 200, self._op(effect)
        m = re.fullmatch(ep_re + r":(deployModel|undeployModel|mutateDeployedModel)", path)
        if method == "POST" and m:
            return self._endpoint_verb(m.group(1), body)
        if method == "POST" and re.fullmatch(
            rf"/v1/projects/[^/]+/locations/{self.region}/models:upload", path
        ):
            if self.fail_upload:
                status, code, message = self.fail_upload
                return _err(status, code, message)
            mid = body["modelId"]
            name = f"projects/{self.number}/locations/{self.region}/models/{mid}"

            def effect():
                self.models[mid] = {"name": name, **body["model"]}
                self.events.append(("upload", mid))

            return 200, self._op(effect, {"model": name})
        m = re.fullmatch(model_re, path)
        if m and method == "GET":
            mid = m.group(1)
            if mid not in self.models:
                return _err(404, "NOT_FOUND", f"Model {mid} not found")
            return 200, self.models[mid]
        if m and method == "DELETE":
            mid = m.group(1)
            if mid not in self.models:
                return _err(404, "NOT_FOUND", f"Model {mid} not found")
            if any(d["model"].endswith(f"/models/{mid}") for d in self.endpoint["deployedModels"]):
                return _err(400, "FAILED_PRECONDITION", f"Model {mid} is deployed")

            def effect():
                self.models.pop(mid, None)
                self.events.append(("delete", mid))

            return 200, self._op(effect)
        return _err(404, "NOT_FOUND", f"no route {method} {path}")

    def _endpoint_verb(self, verb: str, body: dict) -> tuple[int, dict]:
        if verb == "deployModel":
            dm = body["deployedModel"]
            if "trafficSplit" in body:
                self.events.append(("deploy-with-traffic", body["trafficSplit"]))
            mid = dm["model"].rsplit("/", 1)[-1]
            if mid not in self.models:
                return _err(404, "NOT_FOUND", f"Model {dm['model']} not found")

            def effect():
                self.endpoint["deployedModels"].append(dict(dm))
                self.events.append(("deploy", dm["id"], mid))

            return 200, self._op(effect, error=self.fail_deploy_op)
        if verb == "undeployModel":
            dmid = body["deployedModelId"]
            if dmid not in self.deployed_ids():
                return _err(404, "NOT_FOUND", f"DeployedModel {dmid} not found")
            split = body.get("trafficSplit") or self.endpoint["trafficSplit"]
            last = self.deployed_ids() == [dmid]
            if split.get(dmid, 0) > 0 and not last:
                return _err(400, "FAILED_PRECONDITION", f"DeployedModel {dmid} has traffic")
            if body.get("trafficSplit"):
                self.endpoint["trafficSplit"] = dict(body["trafficSplit"])

            def effect():
                self.endpoint["deployedModels"] = [
                    d for d in self.endpoint["deployedModels"] if d["id"] != dmid
                ]
                self.endpoint["trafficSplit"].pop(dmid, None)
                self.events.append(("undeploy", dmid))

            return 200, self._op(effect)
        # mutateDeployedModel
        dm = body["deployedModel"]
        mask = body["updateMask"].split(",")

        def effect():
            for d in self.endpoint["deployedModels"]:
                if d["id"] == dm["id"]:
                    d["dedicatedResources"] = {
                        **d["dedicatedResources"],
                        **{
                            k.split(".", 1)[1]: dm["dedicatedResources"][k.split(".", 1)[1]]
                            for k in mask
                            if k.startswith("dedicatedResources.")
                        },
                    }
            self.events.append(("mutate", dm["id"], tuple(mask)))

        return 200, self._op(effect)


def _integral_floats(value: Any, path: str = "") -> str | None:
    """The path of the first number sent as ``1.0`` rather than ``1``, else None."""
    if isinstance(value, _Integral) and float(value).is_integer():
        return path or "."
    if isinstance(value, dict):
        for k, v in value.items():
            found = _integral_floats(v, f"{path}.{k}")
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _integral_floats(v, f"{path}[{i}]")
            if found:
                return found
    return None


def _err(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"error": {"code": status, "status": code, "message": message}}


def serve(fake: FakeVertex) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def _do(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if fake.rotate_at is not None and len(fake.requests) >= fake.rotate_at:
                fake.rotate_at = None
                fake.rotate_token()
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                status, payload = _err(401, "UNAUTHENTICATED", "missing or expired token")
            else:
                body = json.loads(raw, parse_float=_Integral) if raw else None
                parts = urlsplit(self.path)
                bad = _integral_floats(body)
                if bad:
                    status, payload = _err(400, "INVALID_ARGUMENT", f"not an integer: {bad}")
                else:
                    with fake.lock:
                        status, payload = fake.handle(self.command, parts.path, parts.query, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _do

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"
