"""An upload stopped by SIGINT (Ctrl-C) or SIGTERM (CI runners, ``timeout``, Kubernetes)
mid-file leaves nothing behind on any of the three real emulators: no object, and no
unfinished multipart upload or uncommitted block list. The command is a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_packages.upload.stores.gcs import GCS_CHUNK_SIZE
from tests.emulators import ROOT
from tests.model_packages.upload.helpers import BIG, MiB, write_package

SIZE = 80 * MiB  # above every store's multipart threshold
GCS_SIZE = GCS_CHUNK_SIZE + 16 * MiB  # over one GCS chunk: caught between two requests


@pytest.fixture(scope="module")
def big_packages(tmp_path_factory):
    built: dict[int, Path] = {}

    def get(size: int) -> Path:
        if size not in built:
            weights = {"model_index.json": b"{}", BIG: os.urandom(size)}
            built[size] = write_package(tmp_path_factory.mktemp("big") / "azureml", weights)
        return built[size]

    return get


def _position(pid: int, path: Path) -> int | None:
    """How far process ``pid`` has read ``path`` (None: not open), from /proc."""
    fds = Path(f"/proc/{pid}/fd")
    for fd in list(fds.iterdir()) if fds.exists() else []:
        try:
            if os.readlink(fd) == str(path):
                info = Path(f"/proc/{pid}/fdinfo/{fd.name}").read_text()
                return int(info.split("pos:")[1].split()[0])
        except (OSError, IndexError):
            continue
    return None


def _wait_until_mid_upload(proc: subprocess.Popen, bucket, path: Path, size: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        pos = _position(proc.pid, path)
        if bucket.cloud == "gs":  # an open resumable session is not listed
            if pos is not None and 0 < pos < size:
                return
        elif pos is not None and bucket.unfinished():  # a multipart upload, staged blocks
            return
        time.sleep(0.01)
    proc.kill()
    pytest.fail("the upload never got under way")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_upload_leaves_nothing_behind(bucket, big_packages, sig):
    size = GCS_SIZE if bucket.cloud == "gs" else SIZE
    big_package = big_packages(size)
    env = {**bucket.env(), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "genai_endpoints", "upload", "--package", str(big_package)]
    proc = subprocess.Popen(
        [*argv, "--to", f"{bucket.url}/p"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_until_mid_upload(proc, bucket, big_package / "model" / BIG, size)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert err.strip() == "error: interrupted; no partial object was left behind", err
    assert "Traceback" not in err
    keys = set(bucket.objects())
    assert not any(k.endswith(BIG) or "/manifests/" in k for k in keys), keys
    assert bucket.unfinished() == []
