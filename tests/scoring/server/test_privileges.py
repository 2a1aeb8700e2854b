"""Which user the server runs as: root on SageMaker (AWS requires it), the image's
unprivileged uid on the other clouds, and a drop that fails says so in one line."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from scoring.server import privileges
from scoring.server.contracts import CONTRACTS
from scoring.server.main import main

UID = 10001  # the image's user (runtime/Dockerfile)
VERTEX_ENV = {"AIP_HTTP_PORT": "18080", "AIP_STORAGE_URI": "gs://bucket/models/abc"}


@pytest.mark.parametrize("contract", sorted(CONTRACTS))
def test_only_sagemaker_keeps_root_every_other_contract_drops(contract):
    decision = privileges.decide(contract, run_as=UID, euid=0)
    if contract == "sagemaker":
        assert decision.drop_to is None
        assert "your-algorithms-inference-code" in decision.reason  # the AWS page, cited
    else:
        assert decision.drop_to == UID


def test_nothing_is_dropped_without_run_as_or_when_not_root():
    # local runs and the tests set no GENAI_RUN_AS: the process stays the user it started as
    assert privileges.decide("vertex", run_as=None, euid=0).drop_to is None
    # a cloud that already starts the container unprivileged: nothing to drop
    assert privileges.decide("azureml", run_as=UID, euid=UID).drop_to is None
    assert privileges.decide("azureml", run_as=UID, euid=4242).drop_to is None


def test_only_sagemaker_requires_root_and_says_where():
    keeps = {n for n, d in CONTRACTS.items() if d.requires_root}
    assert keeps == {"sagemaker"}
    assert CONTRACTS["sagemaker"].requires_root.startswith("https://docs.aws.")


def test_a_failed_drop_stops_the_server_with_one_line(monkeypatch, tmp_path, caplog):
    """main() settles the user before it loads anything; a drop the kernel refuses (no
    CAP_SETGID, say) is one line naming the uid and what would work, and exit 2."""

    def refuse(*_):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(privileges.os, "geteuid", lambda: 0)
    monkeypatch.setattr(privileges.os, "setgroups", refuse)
    monkeypatch.setattr(privileges.os, "setgid", refuse)
    monkeypatch.setattr(privileges.os, "setuid", refuse)
    monkeypatch.setattr(privileges.os, "chown", lambda *_: None)
    monkeypatch.setenv("GENAI_RUN_AS", str(UID))
    monkeypatch.setenv("GENAI_CACHE_DIR", str(tmp_path / "cache"))
    for key, value in VERTEX_ENV.items():
        monkeypatch.setenv(key, value)
    caplog.set_level(logging.ERROR, logger="scoring.server")
    with pytest.raises(SystemExit) as stopped:
        main([], dict(os.environ))
    assert stopped.value.code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert f"uid {UID}" in errors[0] and "Operation not permitted" in errors[0]
    assert "allowed:" in errors[0] and "GENAI_RUN_AS" in errors[0]


SETTLE = """
import json, os, sys
from pathlib import Path
from scoring.server.contracts import detect
from scoring.server.privileges import settle
from scoring.server.settings import ServerSettings
contract = detect(sys.argv[1:], os.environ)
settle(contract, ServerSettings())
model = Path(os.environ["MODEL"])
try:
    readable = (model / "unet" / "weights.bin").read_bytes() == b"w"
except PermissionError:
    readable = False
cache = Path(os.environ["GENAI_CACHE_DIR"])
print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
                  "groups": os.getgroups(), "readable": readable,
                  "cache_owner": cache.stat().st_uid if cache.exists() else None}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="a real drop needs root (the image starts as root)")
@pytest.mark.parametrize("contract", ["sagemaker", "vertex"])
def test_a_real_drop_as_root(contract, tmp_path):
    """In a child process started as root, as the image starts: SageMaker's contract keeps
    root and reads a model folder as SageMaker lays it out (root-owned, 0700/0600); Vertex's
    drops for good to the image's uid, after handing it the cache its weights go to."""
    model = tmp_path / "model"
    (model / "unet").mkdir(parents=True)
    (model / "unet" / "weights.bin").write_bytes(b"w")
    for path in (model, model / "unet"):
        path.chmod(0o700)
    (model / "unet" / "weights.bin").chmod(0o600)
    cache = Path(tempfile.mkdtemp(prefix="genai-privileges-"))  # under /tmp, as in the image
    cache.chmod(0o755)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
        "GENAI_RUN_AS": str(UID),
        "GENAI_CACHE_DIR": str(cache / "genai-model"),
        "MODEL": str(model),
    }
    args = ["serve"] if contract == "sagemaker" else []
    if contract == "vertex":
        env.update(VERTEX_ENV)
    try:
        proc = subprocess.run([sys.executable, "-c", SETTLE, *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    finally:
        shutil.rmtree(cache)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    if contract == "sagemaker":
        assert got["uid"] == got["euid"] == 0 and got["readable"] is True
    else:
        assert got["uid"] == got["euid"] == got["gid"] == UID
        assert got["groups"] == [] and got["readable"] is False  # root's 0700 is out of reach
        assert got["cache_owner"] == UID


@pytest.mark.skipif(os.geteuid() != 0, reason="a real drop needs root (the image starts as root)")
def test_a_cache_the_user_cannot_reach_is_one_line_at_start(tmp_path):
    """The folder for fetched weights under a parent only root may enter: found at start,
    in one line, not as a failed download minutes later."""
    tmp_path.chmod(0o700)
    env = {
        **os.environ,
        **VERTEX_ENV,
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
        "GENAI_RUN_AS": str(UID),
        "GENAI_CACHE_DIR": str(tmp_path / "genai-model"),
        "MODEL": str(tmp_path),
    }
    proc = subprocess.run([sys.executable, "-c", SETTLE], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"uid {UID} cannot write" in lines[0], proc.stderr
