"""Model upload and deployment on Vertex AI: a Pulumi dynamic provider over the REST API.

The Google provider has no resource that uploads a model to the Vertex Model Registry or
deploys it to an endpoint, so this one does, with ``requests`` and ``google-auth``:

- ``models.upload``            POST {api}/projects/P/locations/L/models:upload  (operation)
- ``models.get`` / ``delete``  GET / DELETE {api}/{model}                       (delete: operation)
- ``endpoints.get``            GET {api}/{endpoint}
- ``endpoints.deployModel``    POST {api}/{endpoint}:deployModel                (operation)
- ``endpoints.patch``          PATCH {api}/{endpoint}?updateMask=trafficSplit  (read-modify-write)
- ``endpoints.update``         POST {api}/{endpoint}:update (UpdateEndpointLongRunning: only
  ``clientConnectionConfig`` may change; the inference timeout of a dedicated/PSC endpoint)
- ``endpoints.mutateDeployedModel``  POST {api}/{endpoint}:mutateDeployedModel  (operation)
- ``endpoints.undeployModel``  POST {api}/{endpoint}:undeployModel              (operation)
- ``operations.get``           GET {api}/{operation name}

Lifecycle: **create** sets the endpoint's inference timeout (dedicated and PSC endpoints keep
Vertex's 10-minute default otherwise), uploads (or adopts, see below) the model, deploys it,
then sends it all traffic. **update** that needs a new model or new machines deploys the new
model first, shifts traffic to it (``trafficPercent``; below 100 the old one keeps the rest as
a canary), and only then undeploys and deletes what no longer serves; replica counts, autoscaling
targets and container logging change in place (``mutateDeployedModel``). **delete**
undeploys, then deletes the models. Every long-running operation is polled until done or
``timeout_s``; an API error raises with the API's own status and message.

Model and deployed-model ids are content-derived inputs (the component computes them), so a
retried create finds what a failed one left behind and adopts it instead of failing.

Transport: ``google.auth.transport.requests.AuthorizedSession`` over ``google.auth.default``
credentials, which refreshes the token before it expires and once on a 401, so an upload or
deployment polled for longer than a token lives does not fail. Request bodies go out with
integral numbers as integers: values come back from the engine as floats
(``"acceleratorCount": 1.0``), which the API's int32 fields refuse. The traffic split is
written read-modify-write: the endpoint as read (display name, etag, …) with only
``trafficSplit`` replaced, so required fields and concurrent changes are respected.

Serialization: Pulumi pickles the provider *by value* (dill) into the state and runs it in a
separate process. The class below is self-contained: its methods use the stdlib and
``pulumi.dynamic`` only, ``requests`` and ``google.auth`` are imported inside them, and
:func:`infra.dynamic.pickle_by_value` (at import time) marks the class so dill copies its
code instead of naming this module. No credential is ever an input or output: a token comes from
``google.auth.default()`` at call time. The API base URL is an input so tests can point it
at a fake server on loopback.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from infra.dynamic import ProviderBase, pickle_by_value

# Inputs the provider acts on (everything else in the props is bookkeeping).
INPUT_KEYS = (
    "api_base",
    "project",
    "region",
    "endpoint",
    "model_id",
    "model",
    "upload_service_account",
    "deployed_model_id",
    "deployed_model",
    "traffic_percent",
    "inference_timeout",
    "timeout_s",
    "poll_s",
)
REPLACE_KEYS = ("project", "region", "endpoint")
REQUIRED_KEYS = (
    "api_base",
    "project",
    "region",
    "endpoint",
    "model_id",
    "model",
    "deployed_model_id",
    "deployed_model",
)
# DeployedModel fields mutateDeployedModel may change (v1); the rest need a new deployment.
MUTABLE_MASK = (
    "dedicatedResources.minReplicaCount",
    "dedicatedResources.maxReplicaCount",
    "dedicatedResources.autoscalingMetricSpecs",
    "disableContainerLogging",
)


class VertexDeploymentProvider(ProviderBase, ResourceProvider):
    """CRUD for one model deployment on one Vertex AI endpoint (see the module docstring)."""

    serialize_as_secret_always = False  # nothing secret is captured by the provider

    # ------------------------------------------------------------------ check / diff

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [
            CheckFailure(k, f"{k} is required") for k in REQUIRED_KEYS if news.get(k) in (None, "")
        ]
        pct = news.get("traffic_percent", 100)
        if isinstance(pct, int | float) and not 1 <= pct <= 100:
            failures.append(CheckFailure("traffic_percent", "allowed: 1-100"))
        dmid = news.get("deployed_model_id")
        if isinstance(dmid, str) and not (dmid.isdigit() and 1 <= len(dmid) <= 10):
            failures.append(CheckFailure("deployed_model_id", "allowed: 1-10 digits"))
        for key in self._secret_keys(news):
            failures.append(CheckFailure(key, "credentials never go into inputs or state"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in INPUT_KEYS if olds.get(k) != news.get(k)]
        replaces = [k for k in REPLACE_KEYS if k in changed]
        return DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=[k for k in REPLACE_KEYS if k not in changed],
            delete_before_replace=False,
        )

    # ------------------------------------------------------------------ create / update / delete

    def create(self, props: dict[str, Any]) -> CreateResult:
        call = self._client(props)
        endpoint = props["endpoint"]
        self._ensure_inference_timeout(call, props)
        model_name = self._ensure_model(call, props)
        dmid = str(props["deployed_model_id"])
        self._ensure_deployed(call, props, model_name)
        split = {dmid: 100}
        self._set_traffic(call, props, split)
        outs = self._outs(call, props, model_name, split, None)
        return CreateResult(id_=endpoint, outs=outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        call = self._client(news)
        self._ensure_inference_timeout(call, news)
        pct = int(news.get("traffic_percent") or 100)
        current = {
            "model_name": olds["model_name"],
            "model_id": olds["model_id"],
            "deployed_model_id": str(olds["deployed_model_id"]),
        }
        previous = olds.get("previous") or None
        new_dmid = str(news["deployed_model_id"])
        retire: list[dict[str, Any]] = []
        if new_dmid != current["deployed_model_id"]:
            # 1. the new model serves before anything old stops
            model_name = self._ensure_model(call, news)
            self._ensure_deployed(call, news, model_name)
            # 2. traffic moves
            if pct >= 100:
                split = {new_dmid: 100}
                keep = None
                retire = [current]
            else:
                split = {new_dmid: pct, current["deployed_model_id"]: 100 - pct}
                keep = current
            if previous:
                retire.append(previous)
            self._set_traffic(call, news, split)
        else:
            model_name = current["model_name"]
            self._mutate_if_needed(call, olds, news)
            keep = previous
            if previous and pct >= 100:
                retire = [previous]
                keep = None
            if keep:
                split = {new_dmid: pct, str(keep["deployed_model_id"]): 100 - pct}
            else:
                split = {new_dmid: 100}
            if split != (olds.get("traffic_split") or {}):
                self._set_traffic(call, news, split)
        # 3. what no longer takes traffic goes: undeploy, then delete its model
        self._retire(call, news, retire, keep_models={model_name, (keep or {}).get("model_name")})
        return UpdateResult(outs=self._outs(call, news, model_name, split, keep))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        call = self._client(props)
        deployments = [
            {
                "model_name": props.get("model_name"),
                "deployed_model_id": str(props.get("deployed_model_id")),
            }
        ]
        if props.get("previous"):
            deployments.append(props["previous"])
        self._retire(call, props, deployments, keep_models=set())

    # ------------------------------------------------------------------ steps

    def _ensure_model(self, call, props: dict[str, Any]) -> str:
        """The model's resource name: an existing one with this content-derived id, or a new
        upload (``models.upload``, polled to completion)."""
        parent = f"projects/{props['project']}/locations/{props['region']}"
        status, body = call("GET", f"{parent}/models/{props['model_id']}", ok=(200, 404))
        if status == 200:
            return body["name"]
        request: dict[str, Any] = {"modelId": props["model_id"], "model": props["model"]}
        if props.get("upload_service_account"):
            request["serviceAccount"] = props["upload_service_account"]
        _, op = call("POST", f"{parent}/models:upload", request)
        done = self._wait(call, props, op, "upload model " + props["model_id"])
        return (done.get("response") or {}).get("model") or f"{parent}/models/{props['model_id']}"

    def _deployed_ids(self, call, endpoint: str) -> set[str]:
        _, body = call("GET", endpoint)
        return {str(d.get("id")) for d in body.get("deployedModels") or []}

    def _ensure_deployed(self, call, props: dict[str, Any], model_name: str) -> None:
        endpoint = props["endpoint"]
        dmid = str(props["deployed_model_id"])
        if dmid in self._deployed_ids(call, endpoint):
            return
        deployed = dict(props["deployed_model"])
        deployed.update(id=dmid, model=model_name)
        # no trafficSplit here: the new model takes traffic only in the explicit shift step
        _, op = call("POST", f"{endpoint}:deployModel", {"deployedModel": deployed})
        self._wait(call, props, op, f"deploy model {model_name} as {dmid}")

    def _set_traffic(self, call, props: dict[str, Any], split: dict[str, int]) -> None:
        """Read, modify, write: the endpoint as it is (``displayName`` is required, the
        ``etag`` guards against a concurrent change) with only the split replaced."""
        endpoint = props["endpoint"]
        _, current = call("GET", endpoint)
        body = {k: v for k, v in current.items() if k not in ("deployedModels",)}
        body["trafficSplit"] = {k: int(v) for k, v in split.items()}
        call("PATCH", endpoint + "?updateMask=trafficSplit", body)

    def _ensure_inference_timeout(self, call, props: dict[str, Any]) -> None:
        """``clientConnectionConfig.inferenceTimeout`` as the plan sized it (dedicated and
        PSC endpoints only; Vertex's default is 10 minutes)."""
        wanted = props.get("inference_timeout")
        if not wanted:
            return
        endpoint = props["endpoint"]
        _, current = call("GET", endpoint)
        have = (current.get("clientConnectionConfig") or {}).get("inferenceTimeout")
        if have == wanted:
            return
        body = {k: v for k, v in current.items() if k not in ("deployedModels",)}
        body["clientConnectionConfig"] = {"inferenceTimeout": wanted}
        _, op = call("POST", f"{endpoint}:update", {"endpoint": body})
        self._wait(call, props, op, f"set the inference timeout to {wanted}")

    def _mutate_if_needed(self, call, olds: dict[str, Any], news: dict[str, Any]) -> None:
        old_dm, new_dm = olds.get("deployed_model") or {}, news["deployed_model"]
        old_res = old_dm.get("dedicatedResources") or {}
        new_res = new_dm.get("dedicatedResources") or {}
        fields = ("minReplicaCount", "maxReplicaCount", "autoscalingMetricSpecs")
        changed = [f for f in fields if old_res.get(f) != new_res.get(f)]
        logging_changed = old_dm.get("disableContainerLogging") != new_dm.get(
            "disableContainerLogging"
        )
        if not changed and not logging_changed:
            return
        mask = [f"dedicatedResources.{f}" for f in changed]
        if logging_changed:
            mask.append("disableContainerLogging")
        body = {
            "deployedModel": {
                "id": str(news["deployed_model_id"]),
                "dedicatedResources": new_res,
                "disableContainerLogging": bool(new_dm.get("disableContainerLogging")),
            },
            "updateMask": ",".join(mask),
        }
        _, op = call("POST", f"{news['endpoint']}:mutateDeployedModel", body)
        self._wait(call, news, op, "update deployed model " + str(news["deployed_model_id"]))

    def _retire(self, call, props, deployments, keep_models) -> None:
        """Undeploy every deployment listed, then delete the models no one else uses."""
        endpoint = props["endpoint"]
        for d in deployments:
            dmid = str(d.get("deployed_model_id"))
            _, ep = call("GET", endpoint)
            if dmid not in {str(x.get("id")) for x in ep.get("deployedModels") or []}:
                continue  # already gone
            request: dict[str, Any] = {"deployedModelId": dmid}
            split = {k: v for k, v in (ep.get("trafficSplit") or {}).items() if k != dmid}
            if split and sum(split.values()) == 100:
                request["trafficSplit"] = split  # the rest keeps serving as it was
            # (the last deployed model may be undeployed with traffic: the split empties)
            _, op = call("POST", f"{endpoint}:undeployModel", request)
            self._wait(call, props, op, f"undeploy {dmid}")
        for d in deployments:
            name = d.get("model_name")
            if name and name not in keep_models:
                status, op = call("DELETE", name, ok=(200, 404))
                if status == 200:
                    self._wait(call, props, op, f"delete model {name}")

    def _outs(self, call, props, model_name, split, previous) -> dict[str, Any]:
        outs = {k: v for k, v in props.items() if not k.startswith("__")}
        outs.update(
            model_name=model_name,
            traffic_split={str(k): int(v) for k, v in split.items()},
            previous=previous,
            private_predict_uri="",
        )
        _, body = call("GET", props["endpoint"])
        dns = body.get("dedicatedEndpointDns")
        if dns:
            base = dns if dns.startswith("https://") else f"https://{dns}"
            outs["predict_url"] = f"{base.rstrip('/')}/v1/{props['endpoint']}:predict"
        for d in body.get("deployedModels") or []:
            if str(d.get("id")) == str(props["deployed_model_id"]):
                private = d.get("privateEndpoints") or {}
                outs["private_predict_uri"] = private.get("predictHttpUri") or ""
        return outs

    # ------------------------------------------------------------------ transport

    def _wait(self, call, props, op: dict[str, Any], what: str) -> dict[str, Any]:
        """Poll ``operations.get`` until the operation is done; raise its error or time out."""
        deadline = time.monotonic() + float(props.get("timeout_s") or 5400)
        poll = float(props.get("poll_s") or 10)
        while not op.get("done"):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Vertex AI: {what}: operation {op.get('name')} not done after "
                    f"{props.get('timeout_s')} s; it may still finish — check it with "
                    f"`gcloud ai operations describe {op.get('name')}`, then run `pulumi up` again"
                )
            time.sleep(poll)
            _, op = call("GET", op["name"])
        error = op.get("error")
        if error:
            raise RuntimeError(
                f"Vertex AI: {what} failed: code {error.get('code')}: "
                f"{error.get('message') or 'no message'}"
            )
        return op

    def _client(self, props: dict[str, Any]):
        """A ``call(method, path, body=None, ok=(200,))`` bound to the API base, over a
        session that refreshes its credentials (see the module docstring)."""
        import google.auth
        import requests
        from google.auth.transport.requests import AuthorizedSession

        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        base = str(props["api_base"]).rstrip("/")
        session = AuthorizedSession(credentials)
        session.headers.update({"Content-Type": "application/json"})

        def call(method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)):
            url = path if path.startswith(("http://", "https://")) else f"{base}/{path}"
            url = urllib.parse.quote(url, safe=":/?=&,.-_~%")
            data = None if body is None else json.dumps(self._ints(body), sort_keys=True)
            try:
                resp = session.request(method, url, data=data, timeout=60)
            except requests.RequestException as exc:
                raise RuntimeError(f"Vertex AI: {method} {url}: {exc}") from None
            if resp.status_code not in ok:
                try:
                    err = resp.json().get("error") or {}
                except ValueError:
                    err = {}
                status = err.get("status") or resp.reason
                message = err.get("message") or resp.text[:500] or "no message"
                raise RuntimeError(
                    f"Vertex AI: {method} {url}: HTTP {resp.status_code} {status}: {message}"
                )
            try:
                payload = resp.json() if resp.content else {}
            except ValueError:
                payload = {}
            return resp.status_code, payload

        return call


pickle_by_value(VertexDeploymentProvider)


class VertexDeployment(Resource, module="vertex", name="ModelDeployment"):
    """One model deployed on one endpoint, driven by :class:`VertexDeploymentProvider`."""

    model_name: pulumi.Output[str]
    model_id: pulumi.Output[str]
    deployed_model_id: pulumi.Output[str]
    traffic_split: pulumi.Output[dict]
    private_predict_uri: pulumi.Output[str]
    predict_url: pulumi.Output[str]

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        full = {
            "inference_timeout": None,
            **props,
            "model_name": None,
            "traffic_split": None,
            "previous": None,
            "private_predict_uri": None,
        }
        super().__init__(VertexDeploymentProvider(), name, full, opts)
