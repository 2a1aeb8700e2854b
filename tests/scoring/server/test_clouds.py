"""The runtime's entry point started with exactly the environment each cloud sets:
Vertex fetching its weights from fake-gcs-server on loopback (tests/emulators.py), Azure ML
with its model asset mounted one folder down, SageMaker with ``serve``."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genai_endpoints.commands.rehearsal import free_port, stop_group
from tests.emulators import unique_name
from tests.scoring.server.helpers import get, post

pytestmark = pytest.mark.slow
REQUEST = {"prompt": "a lighthouse", "num_inference_steps": 2, "seed": 5}


@contextlib.contextmanager
def runtime(env: dict[str, str], args: list[str], log: Path):
    """``python -m scoring.server ARGS`` as the image's ENTRYPOINT runs it, with only the
    variables a cloud sets (plus PATH/PYTHONPATH for this checkout)."""
    keep = {k: os.environ[k] for k in ("PATH", "PYTHONPATH", "HOME") if k in os.environ}
    full = {**keep, "HF_HUB_OFFLINE": "1", "GENAI_HOST": "127.0.0.1", **env}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scoring.server", *args],
            env=full,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[3],
        )
    try:
        yield proc
    finally:
        stop_group(proc)


def wait_for(port: int, path: str, proc, log: Path, status: int = 200, timeout: float = 120):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(OSError):
            r = get(port, path)
            seen.append(r.status)
            if r.status == status:
                return seen
        time.sleep(0.1)
    raise TimeoutError(f"{path} never answered {status}: {log.read_text()[-2000:]}")


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def bucket(fake_gcs_server):
    """A bucket of its own on fake-gcs-server, through google-cloud-storage."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with fake_gcs_server.environment():
        client = storage.Client(project="test", credentials=AnonymousCredentials())
        yield client.create_bucket(unique_name("vertex-copy"))


@pytest.fixture
def gcs(bucket, image_packages, fake_gcs_server):
    """The Vertex package's model folder under ``models/abc/``, as Vertex copies it; the
    gs:// URI and the emulator's address the server is given."""
    folder = image_packages / "vertex" / "model"
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            bucket.blob(f"models/abc/{path.relative_to(folder).as_posix()}").upload_from_filename(
                str(path)
            )
    yield {"AIP_STORAGE_URI": f"gs://{bucket.name}/models/abc",
           "STORAGE_EMULATOR_HOST": fake_gcs_server.url}  # fmt: skip


def test_vertex_fetches_its_weights_from_aip_storage_uri(gcs, tmp_path, image_packages):
    port = free_port()
    env = {
        "AIP_HTTP_PORT": str(port),
        "AIP_HEALTH_ROUTE": "/v1/endpoints/1/deployedModels/2",
        "AIP_PREDICT_ROUTE": "/v1/endpoints/1/deployedModels/2:predict",
        **gcs,
        "GENAI_CACHE_DIR": str(tmp_path / "cache"),
    }
    log = tmp_path / "vertex.log"
    with runtime(env, [], log) as proc:
        seen = wait_for(port, "/v1/endpoints/1/deployedModels/2", proc, log)
        r = post(port, "/v1/endpoints/1/deployedModels/2:predict",
                 {"instances": [REQUEST["prompt"]], "parameters": {"num_inference_steps": 2,
                                                                  "seed": 5}})  # fmt: skip
        assert r.status == 200, r.body
        assert r.json()["predictions"][0]["metadata"]["seeds"] == [5]
        ready = get(port, "/v1/endpoints/1/deployedModels/2").json()
    assert set(seen) <= {503, 200}
    assert tree(tmp_path / "cache") == tree(image_packages / "vertex" / "model")
    assert "fetched" in log.read_text()
    # the contract that downloads its weights times the download as a phase of its own
    assert "fetch" in ready["startup"] and "verify" not in ready["startup"]
    assert re.search(r"start-up phases: import [\d.]+ s, fetch [\d.]+ s, ", log.read_text())


def test_vertex_refuses_a_corrupted_object_naming_it(gcs, bucket, tmp_path):
    blob = bucket.blob("models/abc/unet/diffusion_pytorch_model.safetensors")
    data = bytearray(blob.download_as_bytes())
    data[100] ^= 0xFF
    blob.upload_from_string(bytes(data))  # the store's own checksums match: only sha256 can tell
    port = free_port()
    env = {
        "AIP_HTTP_PORT": str(port),
        **gcs,
        "GENAI_CACHE_DIR": str(tmp_path / "cache"),
    }
    log = tmp_path / "vertex.log"
    with runtime(env, [], log) as proc:
        wait_for(port, "/health", proc, log, status=503)
        deadline = time.monotonic() + 60
        while b"failed" not in (r := get(port, "/health")).body and time.monotonic() < deadline:
            time.sleep(0.2)
        assert r.status == 503
        assert "unet/diffusion_pytorch_model.safetensors" in r.json()["error"]
        assert "sha256" in r.json()["error"]
    assert not (tmp_path / "cache" / "unet" / "diffusion_pytorch_model.safetensors").exists()
    assert not list((tmp_path / "cache").rglob("*.partial"))


def test_sigterm_during_the_vertex_fetch_stops_it_and_leaves_nothing(bucket, fake_gcs_server,
                                                                      tmp_path):  # fmt: skip
    """The cloud stops a container that is still fetching (a scale-in, a redeploy): the
    fetch ends at its next chunk, the process exits 0 at once, nothing half-written stays."""
    big = os.urandom(1 << 20) * 256  # 256 MB: seconds to stream, hash and write
    info = {"files": [{"path": "unet/w.safetensors", "size": len(big),
                       "sha256": hashlib.sha256(big).hexdigest()}]}  # fmt: skip
    bucket.blob("models/big/genai_package.json").upload_from_string(json.dumps(info))
    bucket.blob("models/big/unet/w.safetensors").upload_from_string(big, timeout=300)
    del big
    cache = tmp_path / "cache"
    env = {"AIP_HTTP_PORT": str(free_port()), "AIP_STORAGE_URI": f"gs://{bucket.name}/models/big",
           "STORAGE_EMULATOR_HOST": fake_gcs_server.url, "GENAI_CACHE_DIR": str(cache),
           "GENAI_GRACEFUL_SHUTDOWN_S": "1"}  # fmt: skip
    log = tmp_path / "vertex.log"
    with runtime(env, [], log) as proc:
        deadline = time.monotonic() + 120
        while not list(cache.rglob("*.partial")):  # the big file is on its way
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()
    assert "fetched" not in log.read_text()
    assert not list(cache.rglob("*.partial")) and not (cache / "unet" / "w.safetensors").exists()


def test_azureml_liveness_is_up_while_loading_readiness_only_when_ready(tmp_path, image_packages):
    # Azure ML mounts a model asset inside a folder named after it
    mount = tmp_path / "azureml-models" / "genai-model" / "1"
    shutil.copytree(image_packages / "azureml" / "model", mount / "model")
    port = free_port()
    env = {"AZUREML_MODEL_DIR": str(mount), "GENAI_PORT": str(port)}
    log = tmp_path / "azure.log"
    with runtime(env, [], log) as proc:
        wait_for(port, "/", proc, log)  # liveness: up as soon as the process is
        early = get(port, "/ready")
        wait_for(port, "/ready", proc, log)
        r = post(port, "/score", REQUEST)
        assert r.status == 200
        same = r.json()["outputs"][0]["data"]
    assert early.status in (503, 200)  # 503 "loading" unless the load was already done
    if early.status == 503:
        assert early.json()["status"] == "loading" and early.headers["retry-after"]
    assert base64.b64decode(same).startswith(b"\x89PNG")


def test_sagemaker_is_started_with_serve_and_nothing_else(tmp_path, image_packages):
    port = free_port()
    env = {"GENAI_PORT": str(port), "GENAI_MODEL_DIR": str(image_packages / "sagemaker" / "model")}
    log = tmp_path / "sm.log"
    with runtime(env, ["serve"], log) as proc:
        wait_for(port, "/ping", proc, log)
        r = post(port, "/invocations", {"inputs": "x", "parameters": {"num_inference_steps": 2}})
        assert r.status == 200
    assert "sagemaker contract" in log.read_text()
