"""A built SageMaker package served by the REAL SageMaker Hugging Face inference stack:
sagemaker-huggingface-inference-toolkit starting multi-model-server (a Java frontend with
Python workers) on loopback, called over HTTP the way SageMaker calls a container.

The stack lives in .venv-smtk (transformers 4.x; the main venv has 5.x), made by
scripts/setup_sagemaker_toolkit_env.sh. The toolkit runs unmodified except for three
things a launcher changes before calling ``serving.main()``:
- MMS's config file goes to the test's folder instead of /etc/sagemaker-mms.properties;
- MMS binds to 127.0.0.1 only (MMS_INFERENCE_ADDRESS / MMS_MANAGEMENT_ADDRESS, which MMS
  reads because the toolkit's config sets enable_envvars_config=true);
- the toolkit's ``pip install -r code/requirements.txt`` at start is replaced by a check of
  each pin against what is installed (no network at serve time; see KNOWN_PIN_CONFLICTS).
The model is found through SAGEMAKER_BASE_DIR (the toolkit reads $SAGEMAKER_BASE_DIR/model
instead of /opt/ml/model), so nothing outside tmp_path is touched.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from model_packages.build import build_packages
from model_packages.staging import stage_local

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SMTK = REPO / ".venv-smtk"
SETUP = "scripts/setup_sagemaker_toolkit_env.sh"
READY_TIMEOUT_S = 180

# Pins in the package's code/requirements.txt that .venv-smtk cannot satisfy, and why.
# On a real endpoint the toolkit would pip-install these into the container at start.
KNOWN_PIN_CONFLICTS: set[str] = set()  # none: model_packages.layout.SERVING_PINS fit

LAUNCHER = """
import json, sys
from importlib import metadata
from packaging.requirements import Requirement
from sagemaker_inference import model_server
from sagemaker_huggingface_inference_toolkit import mms_model_server, serving

config_file, pins_report = sys.argv[1:3]
model_server.MMS_CONFIG_FILE = mms_model_server.MMS_CONFIG_FILE = config_file

def check_requirements():
    unmet = {}
    for line in open(model_server.REQUIREMENTS_PATH):
        line = line.split("#")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        try:
            have = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            have = None
        if have is None or not req.specifier.contains(have, prereleases=True):
            unmet[req.name] = {"wanted": str(req.specifier), "installed": have}
    with open(pins_report, "w") as f:
        json.dump(unmet, f)
    print("launcher: requirements.txt not installed; unmet pins:", unmet, flush=True)

mms_model_server._install_requirements = check_requirements
serving.main()
"""


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class ToolkitServer:
    port: int
    run_dir: Path
    log_path: Path

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def request(self, method: str, path: str, payload: dict | None = None, accept: str = ""):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return Reply(r.status, r.headers.get("Content-Type", ""), r.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, err.headers.get("Content-Type", ""), err.read())

    def invoke(self, payload: dict, accept: str = "") -> Reply:
        return self.request("POST", "/invocations", payload, accept)


def _free_mms_port() -> int:
    """A free loopback port below 32767: MMS refuses higher ones ("Invalid port number"),
    and Linux hands out ephemeral ports from 32768 up, so bind(0) never gives a usable one."""
    for port in random.sample(range(20000, 32767), 50):
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            return port
    raise RuntimeError("no free port in 20000-32766")


def _server_env(package: Path, run_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}  # fmt: skip
    address = f"http://127.0.0.1:{port}"
    env.update(
        # the toolkit runs `multi-model-server` from PATH
        PATH=f"{SMTK / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        SAGEMAKER_BASE_DIR=str(package),  # the toolkit serves $SAGEMAKER_BASE_DIR/model
        SAGEMAKER_BIND_TO_PORT=str(port),
        SAGEMAKER_MODEL_SERVER_WORKERS="1",
        SAGEMAKER_STARTUP_TIMEOUT="120",
        MMS_INFERENCE_ADDRESS=address,
        MMS_MANAGEMENT_ADDRESS=address,
        TMPDIR=str(run_dir),  # MMS's pid file and worker sockets
        TEMP=str(run_dir),  # the JVM's java.io.tmpdir
        LOG_LOCATION=str(run_dir / "logs"),
        METRICS_LOCATION=str(run_dir / "logs"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    return env


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(proc: subprocess.Popen, env: dict[str, str], run_dir: Path) -> None:
    """MMS daemonizes its Java frontend, which stays in the launcher's process group:
    ask MMS to stop, then end the group, and check that nothing of it is left."""
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run([str(SMTK / "bin" / "multi-model-server"), "--stop"], env=env,
                       cwd=run_dir, capture_output=True, timeout=30, check=False)  # fmt: skip
    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(proc.pid):
                return
            time.sleep(0.2)
    assert not _group_alive(proc.pid), f"processes of group {proc.pid} outlived SIGKILL"


@pytest.fixture(scope="module")
def smtk_python() -> Path:
    python = SMTK / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{SMTK} does not exist: run `bash {SETUP}` first (about 2 minutes)")
    if shutil.which("java") is None:
        pytest.fail("multi-model-server needs Java on PATH (e.g. openjdk-17-jre-headless)")
    return python


@pytest.fixture(scope="module")
def sagemaker_package(tmp_path_factory) -> Path:
    from scoring.tiny import TinyKind, build_tiny_model

    root = tmp_path_factory.mktemp("smtk")
    model = build_tiny_model(root / "tiny-t2i", TinyKind.TEXT_TO_IMAGE)
    build_packages(stage_local(model), ["sagemaker"], root / "packages")
    return root / "packages" / "sagemaker"  # holds model/, which SageMaker mounts


@pytest.fixture(scope="module")
def toolkit_server(smtk_python, sagemaker_package, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("smtk-run")
    port = _free_mms_port()
    env = _server_env(sagemaker_package, run_dir, port)
    server = ToolkitServer(port, run_dir, run_dir / "server.log")
    cmd = [str(smtk_python), "-c", LAUNCHER, str(run_dir / "mms.properties"),
           str(run_dir / "unmet-pins.json")]  # fmt: skip
    with server.log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=run_dir, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"toolkit exited ({proc.returncode}):\n{server.log_tail()}")
            with contextlib.suppress(OSError):
                if server.request("GET", "/ping").status == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"no /ping 200 in {READY_TIMEOUT_S} s:\n{server.log_tail()}")
            time.sleep(0.5)
        yield server
    finally:
        _stop(proc, env, run_dir)


def test_package_pins_are_met_but_for_known_conflicts(toolkit_server):
    unmet = json.loads((toolkit_server.run_dir / "unmet-pins.json").read_text())
    unexpected = {name: v for name, v in unmet.items() if name.lower() not in KNOWN_PIN_CONFLICTS}
    assert not unexpected, (
        f"code/requirements.txt pins not met in {SMTK.name}: {unexpected}; "
        f"rerun `bash {SETUP}` (or `--refresh` if the package's pins changed)"
    )


def test_text_to_image_under_the_real_toolkit(toolkit_server):
    payload = {
        "inputs": "a lighthouse",
        "parameters": {"num_inference_steps": 30, "guidance_scale": 7.5, "height": 64, "width": 64},
    }
    reply = toolkit_server.invoke(payload)
    assert reply.status == 200, reply.body[:500] + toolkit_server.log_tail().encode()
    body = reply.json()
    img = Image.open(io.BytesIO(base64.b64decode(body["outputs"][0]["data"])))
    assert img.format == "PNG" and img.size == (64, 64)
    assert body["metadata"]["model_revision"].startswith("local-")


def test_bad_request_is_4xx_and_the_server_keeps_serving(toolkit_server):
    bad = toolkit_server.invoke({"inputs": "x", "parameters": {"num_inference_steps": 0}})
    assert 400 <= bad.status < 500, (bad.status, bad.body[:500])
    assert "num_inference_steps" in bad.json()["error"]["message"]
    # a status other than 400 survives the toolkit: model_fn & co. take its context
    wrong_task = toolkit_server.invoke({"inputs": "x", "parameters": {"num_frames": 8}})
    assert wrong_task.status == 422, (wrong_task.status, wrong_task.body[:500])
    assert wrong_task.json()["error"]["field"] == "task"
    again = toolkit_server.invoke({"inputs": "x", "parameters": {"num_inference_steps": 2}})
    assert again.status == 200, again.body[:500]


def test_accept_header_gives_raw_image_bytes(toolkit_server):
    reply = toolkit_server.invoke(
        {"inputs": "x", "parameters": {"num_inference_steps": 2}}, accept="image/jpeg"
    )
    assert reply.status == 200 and reply.content_type == "image/jpeg", reply.body[:300]
    assert Image.open(io.BytesIO(reply.body)).format == "JPEG"
