"""Every ``GENAI_*`` setting a stack writes is read by the server and changes what it does
(issue 19, "Settings the plan sizes but the server never reads"): the response cap, the
planned task, the deployed weights' digest, the mode, the device; an unknown name stops
the server at start."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from scoring import answer_size
from scoring.errors import ModelNotReady
from scoring.schema import OutputFormat
from scoring.server.settings import check_names, known_names
from tests.scoring.server.helpers import in_process_servers

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _main_thread_event_loop():
    """``anyio.run`` (the in-process server calls) leaves the main thread without an event
    loop; Pulumi's mocks in later test modules expect one."""
    yield
    asyncio.set_event_loop(asyncio.new_event_loop())


SYNTH = ROOT / "tests" / "infra" / "fixtures" / "synth"


def container_envs() -> list[tuple[str, dict[str, str]]]:
    """Every container environment the three example stacks plan (all three clouds):
    ``environment``/``environmentVariables`` maps and Vertex's ``env`` name/value lists."""
    found: list[tuple[str, dict[str, str]]] = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            if any(isinstance(k, str) and k.startswith("GENAI_") for k in node):
                found.append((where, {k: str(v) for k, v in node.items()}))
                return
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            pairs = [x for x in node if isinstance(x, dict) and set(x) == {"name", "value"}]
            if pairs and any(p["name"].startswith("GENAI_") for p in pairs):
                found.append((where, {p["name"]: str(p["value"]) for p in pairs}))
                return
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    for path in sorted(SYNTH.glob("*.json")):
        walk(json.loads(path.read_text()), path.stem)
    return found


def test_the_walk_finds_every_cloud_of_every_example_stack():
    envs = container_envs()
    assert {where.split(".")[0] for where, _ in envs} == {"dev", "staging", "prod"}
    assert {env["GENAI_CONTRACT"] for _, env in envs} == {"sagemaker", "vertex", "azureml"}


def test_the_server_reads_every_genai_variable_any_stack_sets():
    known = known_names()
    for where, env in container_envs():
        unread = sorted(k for k in env if k.startswith("GENAI_") and k not in known)
        assert not unread, f"{where}: infra sets {unread}, which the server never reads"
        check_names(env)  # and the server starts with it


def test_every_gpu_deployment_asks_for_cuda():
    """Every planned instance is a GPU one (infra.catalog refuses CPU types), so every
    container must say GENAI_DEVICE=cuda: the server then never serves on the CPU."""
    for where, env in container_envs():
        assert env.get("GENAI_DEVICE") == "cuda", where


def test_an_unknown_genai_name_is_refused_in_one_line_naming_it():
    with pytest.raises(ValueError) as info:
        check_names({"GENAI_MAX_RESPONSE_BYTE": "1", "GENAI_MAX_STEPS": "5", "PATH": "/bin"})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("unknown setting GENAI_MAX_RESPONSE_BYTE:")
    assert "GENAI_MAX_RESPONSE_BYTES" in message and "README" in message


def test_the_server_process_refuses_to_start_on_an_unknown_name(tmp_path):
    env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    env.update(PYTHONPATH=str(ROOT), GENAI_MODEL_DIR=str(tmp_path), GENAI_PORT="1")
    env["GENAI_MAX_RESPONSE_BYTE"] = "6000000"  # a typo: dropped silently before
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "scoring.server", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "GENAI_MAX_RESPONSE_BYTE:" in errors[0], proc.stderr
    assert time.monotonic() - start < 60


def test_serve_passes_only_the_servers_own_variables(image_packages):
    from genai_endpoints.commands.local_serve import server_command

    shell = {
        "PATH": "/bin",
        "GENAI_CLIENT_CACHE": "/tmp/cache",
        "GENAI_LIVE_TARGETS": "aws",
        "GENAI_MAX_STEPS": "7",
    }
    _, env = server_command("sagemaker", image_packages / "sagemaker", 8123, base_env=shell)
    assert "GENAI_CLIENT_CACHE" not in env and "GENAI_LIVE_TARGETS" not in env
    assert env["GENAI_MAX_STEPS"] == "7" and env["PATH"] == "/bin"
    check_names(env)  # the server starts with what serve gives it


# --------------------------------------------------------------------- the response cap


def test_the_png_bound_holds_for_the_least_compressible_picture():
    import numpy as np
    from PIL import Image

    from scoring.encoders import encode_image

    pixels = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    for fmt in (OutputFormat.PNG, OutputFormat.JPEG, OutputFormat.WEBP):
        size = len(encode_image(image, fmt))
        assert size <= answer_size.file_bound(128, 96, 1, fmt), fmt


def _servers(image_packages, monkeypatch, **env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return in_process_servers(image_packages)


REQUEST = {"prompt": "a lighthouse", "num_inference_steps": 2, "seed": 3}


def test_a_request_whose_answer_cannot_fit_is_refused_before_the_gpu(image_packages, monkeypatch):
    """The issue's measurement, scaled down: SageMaker's server with a response cap answered
    200 with a body over it for num_outputs 4 in PNG. Now: a 400 naming the fields and
    what fits, before a pixel is generated."""
    servers = _servers(image_packages, monkeypatch, GENAI_MAX_RESPONSE_BYTES="600000")
    app = servers["sagemaker"]
    ran = []
    monkeypatch.setattr(
        app.app.state.model.scorer.engine, "generate", lambda *a, **k: ran.append(1)
    )
    request = {**REQUEST, "num_outputs": 4, "width": 256, "height": 256}
    reply = app.predict(answer_request("sagemaker", request))
    assert reply.status == 400, (reply.status, len(reply.body))
    error = reply.json()["error"]
    assert error["field"] == "num_outputs"
    message = error["message"]
    for part in ("4 × 256x256 png", "600,000", "GENAI_MAX_RESPONSE_BYTES", "output_format jpeg"):
        assert part in message, message
    assert "num_outputs 2" in message and "the async mode (no cap)" in message
    assert not ran


def answer_request(cloud: str, request: dict) -> dict:
    from scoring.server.contracts import CONTRACTS

    return CONTRACTS[cloud].wrap(request)


def test_what_the_refusal_says_fits_is_served(image_packages, monkeypatch):
    servers = _servers(image_packages, monkeypatch, GENAI_MAX_RESPONSE_BYTES="600000")
    request = {**REQUEST, "num_outputs": 4, "width": 256, "height": 256, "output_format": "jpeg"}
    reply = servers["sagemaker"].predict(answer_request("sagemaker", request))
    assert reply.status == 200 and len(reply.body) <= 600_000


def test_an_encoded_answer_over_the_cap_is_never_sent(image_packages, monkeypatch):
    """Whatever slips past the bound: an error naming the limit, not the oversized body."""
    servers = _servers(image_packages, monkeypatch, GENAI_MAX_RESPONSE_BYTES="50000")
    monkeypatch.setattr(answer_size, "file_bound", lambda *a: 1)  # a bound that is wrong
    request = {**REQUEST, "num_outputs": 2, "width": 128, "height": 128}
    reply = servers["vertex"].predict(answer_request("vertex", request))
    assert reply.status == 500 and len(reply.body) < 1000
    error = reply.json()["error"]
    assert "at most 50,000" in error["message"] and "GENAI_MAX_RESPONSE_BYTES" in error["message"]


def test_each_clouds_own_cap_is_the_default_and_the_mode_picks_it():
    from scoring.server.caps import limits_for, mode_limit, roomier
    from scoring.server.contracts import CONTRACTS
    from scoring.server.contracts.base import LocalRun

    def contract(name):
        d = CONTRACTS[name]
        return d.contract(list(d.args), d.local_env(LocalRun(8080, "/m", "/health", "/predict")))

    sm, vx = contract("sagemaker"), contract("vertex")
    assert limits_for(sm, None).max_response_bytes == 6_000_000
    assert limits_for(sm, "async").max_response_bytes is None
    assert limits_for(vx, None).max_response_bytes == 1_500_000
    assert limits_for(vx, "dedicated").max_response_bytes == 10_000_000
    assert limits_for(contract("azureml"), None).max_response_bytes is None
    assert roomier(vx, 1_500_000) == "the dedicated mode (10,000,000)"
    with pytest.raises(ValueError, match="GENAI_MODE='async' is not a Vertex AI mode"):
        mode_limit(vx, "async")


# ------------------------------------------------------------------ task, digest, device


def test_a_task_the_deployment_was_not_planned_for_is_refused(tiny_image_model):
    from scoring.engine import Engine
    from scoring.service import Scorer
    from scoring.settings import EngineSettings

    settings = EngineSettings(model_dir=tiny_image_model, task="text-to-image", warmup=False)
    scorer = Scorer(Engine(settings))
    assert scorer.health()["tasks"] == ["text-to-image"]
    from scoring.errors import UnsupportedTask

    with pytest.raises(UnsupportedTask) as info:
        scorer.validate({"prompt": "x", "image": _png_b64(64, 64)})
    assert info.value.status == 422
    assert "serves text-to-image" in info.value.message
    assert "not image-to-image" in info.value.message


def _png_b64(width: int, height: int) -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_the_task_names_setting_knows_are_the_schemas():
    from scoring.schema import Task
    from scoring.settings import TASK_NAMES, EngineSettings

    assert set(TASK_NAMES) == {t.value for t in Task}
    with pytest.raises(ValueError, match="'text2img' is not a task"):
        EngineSettings(task="text2img")


def test_a_planned_task_the_model_cannot_do_keeps_it_unready(tiny_image_model):
    from scoring.engine import Engine
    from scoring.settings import EngineSettings

    with pytest.raises(ModelNotReady, match=r"GENAI_TASK=text-to-video: .* can do only"):
        Engine(EngineSettings(model_dir=tiny_image_model, task="text-to-video"))


def test_the_server_digest_is_the_packages_content_address(image_packages):
    from model_packages.staging import tree_digest
    from scoring.server.model import read_package

    manifest = json.loads((image_packages / "sagemaker" / "manifest.json").read_text())
    model_dir = image_packages / "sagemaker" / manifest["weights"]["folder"]
    digest = manifest["weights"]["digest"]
    assert digest == tree_digest(
        [type(f)(**f.model_dump()) for f in _entries(manifest["weights"]["files"])]
    )
    assert read_package(model_dir, verify=False, digest=digest) is not None
    other = "0" * 64
    with pytest.raises(ModelNotReady) as info:
        read_package(model_dir, verify=False, digest=other)
    assert digest in info.value.message and other in info.value.message


def _entries(files):
    from model_packages.manifest import FileEntry

    return [FileEntry(**f) for f in files]


def _readiness(app, path: str):
    async def call():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return await client.get(path)

    return anyio.run(call)


def test_a_server_that_asked_for_cuda_without_it_stays_unready(image_packages, monkeypatch, caplog):
    """GENAI_DEVICE=cuda on this CPU-only host: readiness 503 with one line naming the
    driver found and the one this build needs, never a model served on the CPU."""
    import torch

    from scoring.server.app import ModelState, build_app
    from scoring.server.contracts import CONTRACTS
    from scoring.server.contracts.base import LocalRun
    from scoring.server.main import load_scorer
    from scoring.server.settings import ServerSettings

    if torch.cuda.is_available():
        pytest.skip("this host has CUDA")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setenv("GENAI_DEVICE", "cuda")
    d = CONTRACTS["sagemaker"]
    env = d.local_env(LocalRun(8080, str(image_packages / "sagemaker" / "model"), "/ping", "/x"))
    contract = d.contract(["serve"], env)
    state = ModelState()
    app = build_app(contract, ServerSettings(), state)
    with caplog.at_level(logging.ERROR, logger="scoring.server"):
        state.start(lambda: load_scorer(contract, ServerSettings(), env))
        assert state.loaded.wait(60)
    reply = _readiness(app, "/ping")
    assert reply.status_code == 503 and state.scorer is None
    message = reply.json()["error"]
    assert "NVIDIA driver found: none" in message
    assert "required: branch >= 580 (torch CUDA 13.0)" in message
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and "\n" not in lines[0] and "branch >= 580" in lines[0]


def test_the_driver_found_is_read_from_the_kernel_module(tmp_path):
    from scoring.cuda_host import driver_found

    version = tmp_path / "version"
    version.write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.256.02  Thu May  2 2024\n"
        "GCC version:  gcc version 7.3.1\n"
    )
    assert driver_found(version) == "470.256.02"
    assert driver_found(tmp_path / "absent").startswith("none (no ")


def test_the_readme_settings_table_lists_every_setting_the_server_reads():
    text = (ROOT / "README.md").read_text()
    table = text[text.index("### Deployment settings (environment)") :]
    table = table[: table.index("\n## ")]
    missing = sorted(n for n in known_names() if f"`{n}`" not in table)
    assert not missing, f"README's settings table lacks {missing}"


@pytest.mark.slow
def test_serve_starts_with_the_clients_variables_in_the_shell(image_packages, tmp_path):
    """A shell set up for the client (GENAI_CLIENT_CACHE) still serves: ``serve`` passes
    the server only its own variables, and the server refuses any other GENAI_* name."""
    from genai_endpoints.commands.rehearsal import package_server

    shell = {"GENAI_CLIENT_CACHE": str(tmp_path / "cache")}
    with package_server("sagemaker", image_packages / "sagemaker", tmp_path, env=shell) as s:
        assert s.health().status == 200
