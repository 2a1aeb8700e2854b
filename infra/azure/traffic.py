"""Endpoint traffic as its own step, set only after every deployment exists.

An online endpoint cannot route to a deployment that does not exist yet, and azure-native has
no separate traffic resource: traffic is a property of the endpoint. So the component creates
the endpoint with no traffic, the deployments after it (``depends_on`` the endpoint), and then
this resource, which ``depends_on`` every deployment, writes ``traffic`` and
``mirrorTraffic``. On destroy the order reverses: this resource is deleted first and sets all
traffic to zero, so the deployments can be deleted.

Azure ML's PATCH on an endpoint accepts only identity and tags, so traffic is written the way
``az ml online-endpoint update --traffic`` does it: GET the endpoint, replace the two traffic
maps, PUT it back, and poll the ``Azure-AsyncOperation`` URL until it ends. Credentials come
from ``azure.identity.DefaultAzureCredential`` at call time; nothing secret is an input, so
nothing secret is stored in the state. ``api_base`` is an input so tests can point it at a
fake server on 127.0.0.1.

The provider class is self-contained (imports inside methods, no module-level helpers) so
Pulumi's serialization of it (dill) needs nothing from this project at run time.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from infra.dynamic import pickle_by_value

API_BASE = "https://management.azure.com"
API_VERSION = "2024-10-01"
INPUT_KEYS = ("endpoint_id", "traffic", "mirror_traffic", "api_base", "api_version", "revision")


class TrafficProvider(ResourceProvider):
    """GET + PUT of an online endpoint's ``traffic`` and ``mirrorTraffic``."""

    serialize_as_secret_always = False  # it captures no secret

    def __init__(self, credential: Any = None, poll_seconds: float = 10.0, timeout_s: float = 1800):
        super().__init__()
        self.credential = credential  # tests pass a fake; None: DefaultAzureCredential
        self.poll_seconds = poll_seconds
        self.timeout_s = timeout_s

    # ------------------------------------------------------------------ HTTP
    def _headers(self, api_base: str) -> dict[str, str]:
        cred = self.credential
        if cred is None:
            from azure.identity import DefaultAzureCredential

            cred = DefaultAzureCredential()
        token = cred.get_token(api_base.rstrip("/") + "/.default").token
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def _put_traffic(self, props: dict[str, Any], traffic: dict, mirror: dict) -> dict:
        import json
        import time

        import requests

        base = props["api_base"].rstrip("/")
        url = f"{base}{props['endpoint_id']}?api-version={props['api_version']}"
        headers = self._headers(base)
        got = requests.get(url, headers=headers, timeout=60)
        if got.status_code == 404 and not traffic and not mirror:
            return {}  # the endpoint is already gone: nothing routes anywhere
        if got.status_code != 200:
            raise RuntimeError(f"GET {url}: HTTP {got.status_code}: {got.text[:500]}")
        current = got.json()
        body = {k: current[k] for k in ("location", "tags", "kind", "sku") if k in current}
        ident = current.get("identity")
        if ident:
            body["identity"] = {"type": ident["type"]}
            if ident.get("userAssignedIdentities"):
                body["identity"]["userAssignedIdentities"] = {
                    k: {} for k in ident["userAssignedIdentities"]
                }
        readonly = ("provisioningState", "scoringUri", "swaggerUri", "openapiUri")
        properties = {k: v for k, v in current.get("properties", {}).items() if k not in readonly}
        # as Azure's own tools send them: a deployment at 0 % is left out, not sent as 0
        properties["traffic"] = {k: int(v) for k, v in traffic.items() if int(v) > 0}
        properties["mirrorTraffic"] = {k: int(v) for k, v in mirror.items() if int(v) > 0}
        body["properties"] = properties
        put = requests.put(url, headers=headers, data=json.dumps(body), timeout=60)
        if put.status_code not in (200, 201, 202):
            raise RuntimeError(f"PUT {url}: HTTP {put.status_code}: {put.text[:500]}")
        poll = put.headers.get("Azure-AsyncOperation")
        deadline = time.monotonic() + self.timeout_s
        while poll:
            status = requests.get(poll, headers=headers, timeout=60)
            state = status.json().get("status", "") if status.status_code == 200 else ""
            if state == "Succeeded":
                break
            if state in ("Failed", "Canceled"):
                raise RuntimeError(
                    f"setting traffic on {props['endpoint_id']}: {status.text[:500]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"setting traffic on {props['endpoint_id']}: timed out")
            time.sleep(float(status.headers.get("Retry-After", self.poll_seconds)))
        return {"traffic": properties["traffic"], "mirror_traffic": properties["mirrorTraffic"]}

    # ------------------------------------------------------------------ CRUD
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = ("endpoint_id", "traffic", "mirror_traffic", "api_base", "api_version", "revision")
        changes = [k for k in keys if olds.get(k) != news.get(k)]
        return DiffResult(
            changes=bool(changes),
            replaces=["endpoint_id"] if "endpoint_id" in changes else [],
            delete_before_replace=False,
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._put_traffic(props, props.get("traffic") or {}, props.get("mirror_traffic") or {})
        return CreateResult(f"{props['endpoint_id']}/traffic", dict(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._put_traffic(news, news.get("traffic") or {}, news.get("mirror_traffic") or {})
        return UpdateResult(dict(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # zero live and mirrored traffic so the deployments (deleted next) can go
        self._put_traffic(props, {}, {})


pickle_by_value(TrafficProvider)


class EndpointTraffic(pulumi.dynamic.Resource, module="azureml", name="EndpointTraffic"):
    """``traffic``/``mirrorTraffic`` of one online endpoint, written after its deployments."""

    traffic: pulumi.Output[dict]
    mirror_traffic: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        *,
        endpoint_id: pulumi.Input[str],
        traffic: dict[str, int],
        mirror_traffic: dict[str, int],
        revision: str,
        api_base: str = API_BASE,
        api_version: str = API_VERSION,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            TrafficProvider(),
            name,
            {
                "endpoint_id": endpoint_id,
                "traffic": traffic,
                "mirror_traffic": mirror_traffic,
                "revision": revision,  # changes whenever the endpoint's own inputs change
                "api_base": api_base,
                "api_version": api_version,
            },
            opts,
        )
