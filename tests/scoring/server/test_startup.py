"""The cold start (issue 26): each weight file is read once (hashed while torch imports,
then loaded from the bytes that were hashed), a corrupted weight is still refused naming
the file before any weight is used, and the start-up phases appear in one log line and in
readiness on every contract."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.scoring.server.helpers import in_process_servers

PHASES = ("import", "verify", "load", "to device", "warm-up", "total")


def sagemaker_contract(package: Path):
    from scoring.server.contracts import DESCRIPTORS, detect
    from scoring.server.contracts.base import LocalRun

    d = next(d for d in DESCRIPTORS if d.name == "sagemaker")
    env = d.local_env(LocalRun(d.port, str(package / "model"), d.routes.readiness, "/p"))
    return detect(list(d.args) or [""], env), env


@pytest.fixture
def package(image_packages, tmp_path) -> Path:
    copy = tmp_path / "sagemaker"
    shutil.copytree(image_packages / "sagemaker", copy)  # the fixture's files stay intact
    return copy


def weight_files(model: Path) -> list[Path]:
    return sorted(model.rglob("*.safetensors"))


def test_each_weight_file_is_read_once_during_a_server_start(package, monkeypatch):
    """Every way a weight reaches memory is counted: Python opens (the hashing), the
    safetensors reader diffusers calls, and the ``safe_open`` transformers calls; each
    weight file must be read exactly once, and still verified."""
    import safetensors.torch
    import transformers.modeling_utils

    from scoring.server.main import load_scorer
    from scoring.server.settings import ServerSettings

    model = package / "model"
    weights = {str(p.resolve()): p.relative_to(model).as_posix() for p in weight_files(model)}
    assert len(weights) >= 3  # unet, vae, text encoder
    reads: Counter[str] = Counter()

    def count(path) -> None:
        resolved = str(Path(path).resolve()) if isinstance(path, (str, Path)) else ""
        if resolved in weights:
            reads[weights[resolved]] += 1

    real_open = Path.open
    real_load_file = safetensors.torch.load_file
    real_safe_open = transformers.modeling_utils.safe_open

    def spy_open(self, *args, **kwargs):
        count(self)
        return real_open(self, *args, **kwargs)

    def spy_load_file(filename, *args, **kwargs):
        count(filename)
        return real_load_file(filename, *args, **kwargs)

    def spy_safe_open(filename, *args, **kwargs):
        count(filename)
        return real_safe_open(filename, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy_open)
    monkeypatch.setattr(safetensors.torch, "load_file", spy_load_file)
    monkeypatch.setattr(transformers.modeling_utils, "safe_open", spy_safe_open)
    contract, env = sagemaker_contract(package)
    scorer = load_scorer(contract, ServerSettings(), env)
    assert dict(reads) == {rel: 1 for rel in weights.values()}
    assert scorer.startup is not None and scorer.startup["verify"] >= 0


@pytest.mark.parametrize(
    "victim", ["unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"]
)
def test_a_corrupted_weight_is_refused_naming_it_before_any_weight_is_used(
    package, victim, monkeypatch
):
    import scoring.engine
    from scoring.errors import ModelNotReady
    from scoring.server.main import load_scorer
    from scoring.server.settings import ServerSettings

    path = package / "model" / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    built = []
    monkeypatch.setattr(scoring.engine.Engine, "__init__", lambda *a, **k: built.append(a))
    contract, env = sagemaker_contract(package)
    with pytest.raises(ModelNotReady, match=f"weights: {victim} is corrupted"):
        load_scorer(contract, ServerSettings(), env)
    assert built == []  # the engine never saw a weight


def test_the_start_up_phases_are_one_log_line_and_in_readiness_on_every_contract(
    image_packages, caplog
):
    from starlette.testclient import TestClient

    from scoring.server.contracts import CONTRACTS

    with caplog.at_level(logging.INFO, logger="scoring.server"):
        servers = in_process_servers(image_packages)
    lines = [r.getMessage() for r in caplog.records if "start-up phases:" in r.getMessage()]
    assert len(lines) == 1, lines
    for phase in PHASES:
        assert f"{phase} " in lines[0] and " s" in lines[0]
    assert set(servers) == {"sagemaker", "vertex", "azureml"}
    for cloud, server in servers.items():
        route = CONTRACTS[cloud].routes.readiness
        with TestClient(server.app) as client:  # its own thread's loop, not this thread's
            reply = client.get(route)
        assert reply.status_code == 200, (cloud, reply.text)
        startup = reply.json()["startup"]
        assert list(startup)[-1] == "total" and set(PHASES) <= set(startup), (cloud, startup)
        assert startup["total"] >= startup["load"] > 0


def test_the_import_phase_writes_nothing_to_stderr(tiny_family):
    """The libraries are quieted before the pipeline's classes resolve: resolving them
    early (the import phase) made transformers warn about torchvision on stderr."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from scoring.server.main import import_engine; "
        "import_engine(Path(sys.argv[1]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tiny_family("sd"))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
