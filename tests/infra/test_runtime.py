"""The runtime image on every cloud: built and pushed by digest to each cloud's registry, or
taken digest-pinned from the stack; every model resource names it as repo@sha256:…"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.runtime import check_pinned
from tests.infra.helpers import STACK_FILES, run_config, stack_config, stack_result

IMAGE = "docker-build:index:Image"
PINNED = re.compile(r"^[a-z0-9.-]+(:\d+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$")
DIGEST = "sha256:" + "cd" * 32
STACKS = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACK_FILES]


def model_images(result) -> dict[str, str]:
    """The image every model resource of the run names, by cloud."""
    found = {}
    for r in result.by_type("aws:sagemaker/model:Model"):
        found["aws"] = r["inputs"]["primaryContainer"]["image"]
    for r in result.by_type("pulumi-python:dynamic/vertex:ModelDeployment"):
        found["gcp"] = r["inputs"]["model"]["containerSpec"]["imageUri"]
    for r in result.by_type("azure-native:machinelearningservices:EnvironmentVersion"):
        found["azure"] = r["inputs"]["properties"]["image"]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_an_image_per_enabled_clouds_registry_and_every_model_pinned(stack):
    result = stack_result(stack)
    enabled = {
        c
        for c in ("aws", "gcp", "azure")
        if stack_config(stack)[f"genai-endpoints:{c}"].get("enabled")
    }
    images = {r["name"]: r["inputs"] for r in result.by_type(IMAGE)}
    assert set(images) == {
        {"aws": "sagemaker-image", "gcp": "vertex-image", "azure": "azureml-image"}[c]
        for c in enabled
    }
    registries = {
        name: inputs["exports"][0]["registry"]["names"][0] for name, inputs in images.items()
    }
    hosts = {name: ref.split("/")[0] for name, ref in registries.items()}
    assert hosts.get("sagemaker-image", ".amazonaws.com").endswith(".amazonaws.com")
    assert hosts.get("vertex-image", "us-central1-docker.pkg.dev") == "us-central1-docker.pkg.dev"
    assert hosts.get("azureml-image", ".azurecr.io").endswith(".azurecr.io")
    pinned = model_images(result)
    assert set(pinned) == enabled
    for cloud, ref in pinned.items():
        assert PINNED.fullmatch(ref), (cloud, ref)
        assert result.outputs[cloud]["image"] == ref
    for name, inputs in images.items():
        assert inputs["exports"][0]["registry"]["pushByDigest"] is True
        (registry,) = inputs["registries"]
        # from the provider's outputs (Azure's exchange runs on `up` only), kept secret:
        assert registry["password"] or name == "azureml-image"
        assert "registries" in result.named(name)["secret_inputs"]


def test_gcp_pushes_with_an_access_token_and_azure_with_the_acr_exchange():
    result = stack_result("prod")
    vertex = result.named("vertex-image")["inputs"]["registries"][0]
    assert vertex == {
        "address": "us-central1-docker.pkg.dev",
        "username": "oauth2accesstoken",
        "password": "synth-token",
    }
    azure = result.named("azureml-image")["inputs"]["registries"][0]
    assert azure["username"] == "00000000-0000-0000-0000-000000000000"
    assert azure["address"].endswith(".azurecr.io")


def test_pinned_images_are_used_as_given_and_nothing_is_built():
    config = copy.deepcopy(stack_config("prod"))
    given = {
        "aws": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/runtime@{DIGEST}",
        "gcp": f"us-central1-docker.pkg.dev/genai-prod-123456/team/runtime@{DIGEST}",
        "azure": f"teamacr.azurecr.io/runtime:1.2@{DIGEST}",
    }
    config["genai-endpoints:runtime"] = given
    result = run_config(config, stack="prod")
    assert not result.by_type(IMAGE)
    assert not result.by_type("aws:ecr/repository:Repository")
    assert not result.by_type("gcp:artifactregistry/repository:Repository")
    assert model_images(result) == given
    policy = json.loads(result.by_type("aws:iam/rolePolicy:RolePolicy")[0]["inputs"]["policy"])
    pull = next(s for s in policy["Statement"] if s.get("Sid") == "PullServingImage")
    assert pull["Resource"] == ["arn:aws:ecr:us-east-1:123456789012:repository/team/runtime"]


def test_one_image_for_every_cloud_with_runtime_image():
    config = copy.deepcopy(stack_config("staging"))
    config["genai-endpoints:aws"] = {"enabled": False}
    ref = f"us-central1-docker.pkg.dev/genai-staging-123456/team/runtime@{DIGEST}"
    config["genai-endpoints:runtime"] = {"image": ref}
    assert set(model_images(run_config(config, stack="staging")).values()) == {ref}


@given(
    st.from_regex(
        r"[a-z0-9]{1,10}\.[a-z]{2,5}/[a-z0-9]{1,10}(:[a-z0-9][a-z0-9.]{0,7})?", fullmatch=True
    )
)
def test_anything_without_a_digest_is_refused(ref):
    with pytest.raises(ValueError, match="not pinned by a digest"):
        check_pinned(ref)
    assert check_pinned(f"{ref}@{DIGEST}") == f"{ref}@{DIGEST}"


class FakeAcr:
    def __init__(self, status=200):
        self.status = status
        self.forms: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                fake.forms.append({k: v[0] for k, v in parse_qs(body).items()})
                data = json.dumps({"refresh_token": "acr-refresh"}).encode()
                self.send_response(fake.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_acr_credentials_without_the_admin_user_come_from_the_entra_exchange():
    from infra.azure.registry import exchange_token

    acr = FakeAcr()
    try:
        token = exchange_token("r.azurecr.io", "tenant-1", "aad-token", base=acr.base)
        assert token == "acr-refresh"
        assert acr.forms == [
            {
                "grant_type": "access_token",
                "service": "r.azurecr.io",
                "tenant": "tenant-1",
                "access_token": "aad-token",
            }
        ]
        acr.status = 401
        with pytest.raises(RuntimeError, match="HTTP 401; the deploying identity needs push"):
            exchange_token("r.azurecr.io", "tenant-1", "aad-token", base=acr.base)
    finally:
        acr.server.shutdown()
