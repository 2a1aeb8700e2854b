"""The offline main job: every cloud's package, served under its own contract, answering
the same request. Also the helpers tests use to run a package server as a child process."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from scoring.server.contracts import CONTRACTS, Descriptor


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str
    latency_s: float

    def json(self):
        return json.loads(self.body)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 120) -> Reply:  # fmt: skip
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
            return Reply(
                resp.status, data, resp.headers.get("Content-Type", ""), time.perf_counter() - start
            )
    except urllib.error.HTTPError as exc:
        return Reply(
            exc.code, exc.read(), exc.headers.get("Content-Type", ""), time.perf_counter() - start
        )


@dataclass
class RunningServer:
    cloud: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def contract(self) -> Descriptor:
        return CONTRACTS[self.cloud]

    def predict(self, payload: dict, accept: str | None = None) -> Reply:
        headers = {"Content-Type": "application/json"}
        if accept:
            headers["Accept"] = accept
        url = self.base + self.contract.routes.predict
        return http("POST", url, json.dumps(payload).encode(), headers)

    def health(self) -> Reply:
        """The readiness route: 200 only once the model is loaded (a liveness route may
        answer sooner)."""
        return http("GET", self.base + self.contract.routes.readiness, timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def package_server(cloud: str, package: Path, log_dir: Path, ready_timeout: float = 180,
                   expect_ready: bool = True, env: dict[str, str] | None = None,
                   storage_uri: str | None = None) -> Iterator[RunningServer]:  # fmt: skip
    """``genai-endpoints serve`` in a child process, waited on until ready (or, with
    ``expect_ready=False``, until it reports a load failure), always stopped after.
    ``env`` adds deployment settings (``GENAI_*``); ``storage_uri`` makes a contract that
    fetches its own weights fetch them from a gs:// prefix, as in the cloud."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{cloud}-{port}.log"
    cmd = [sys.executable, "-m", "genai_endpoints", "serve", "--cloud", cloud,
           "--package", str(package), "--port", str(port)]  # fmt: skip
    if storage_uri:
        cmd += ["--storage-uri", storage_uri]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    server = RunningServer(cloud, port, proc, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{cloud} server exited ({proc.returncode}):\n{server.log()[-3000:]}"
                )
            with contextlib.suppress(OSError):
                reply = server.health()
                if reply.status == 200 or (not expect_ready and b"failed" in reply.body):
                    break
                if expect_ready and b'"failed"' in reply.body:
                    raise RuntimeError(f"{cloud} model failed to load: {reply.body.decode()}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{cloud} not ready in {ready_timeout:g} s:\n{server.log()[-3000:]}"
                )
            time.sleep(0.2)
        yield server
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen) -> None:
    """Stop the server (SIGTERM: it drains and exits) and anything it started."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # stragglers whose parent already left
        os.killpg(proc.pid, signal.SIGKILL)


def run_rehearsal(model_dir: Path | None, out_dir: Path, prompt: str, steps: int,
                  console: Console, err: Console) -> int:  # fmt: skip
    from PIL import Image

    from model_packages.build import CLOUDS, build_packages
    from model_packages.staging import stage_local

    out_dir.mkdir(parents=True, exist_ok=True)
    if model_dir is None:
        from scoring.tiny import build_tiny_model

        model_dir = out_dir / "tiny-t2i"
        if not (model_dir / "model_index.json").is_file():
            with err.status("building the tiny text-to-image model"):
                build_tiny_model(model_dir)
    with err.status(f"packaging for {', '.join(CLOUDS[:-1])} and {CLOUDS[-1]}"):
        manifests = build_packages(stage_local(model_dir), list(CLOUDS), out_dir / "packages")
    video = manifests[CLOUDS[0]].model.tasks == ["text-to-video"]  # the same model in each
    request = {"prompt": prompt, "num_inference_steps": steps, "seed": 7, "width": 64, "height": 64}
    if video:
        request["num_frames"] = 8
    suffix = "mp4" if video else "png"

    table = Table(title="rehearsal: one request, three clouds' contracts, on loopback")
    for col in ("cloud", "status", "latency", "output", "same bytes"):
        table.add_column(col)
    results: dict[str, tuple[bool, bytes | None]] = {}
    for cloud in CLOUDS:
        try:
            with (
                err.status(f"starting {cloud} server"),
                package_server(cloud, out_dir / "packages" / cloud, out_dir / "logs") as server,
            ):
                reply = server.predict(server.contract.wrap(request))
        except (RuntimeError, TimeoutError) as exc:
            results[cloud] = (False, None)
            table.add_row(cloud, "[red]did not start[/]", "-", str(exc).splitlines()[0], "-")
            continue
        ok, data, path = reply.status == 200, None, "-"
        if ok:
            out = CONTRACTS[cloud].first_answer(reply.json())["outputs"][0]
            data = base64.b64decode(out["data"])
            path = out_dir / f"{cloud}.{suffix}"
            path.write_bytes(data)
            if not video:
                ok = Image.open(io.BytesIO(data)).size == (64, 64)
        results[cloud] = (ok, data)
        status = f"[green]{reply.status}[/]" if ok else f"[red]{reply.status}[/]"
        table.add_row(cloud, status, f"{reply.latency_s * 1000:.0f} ms", str(path), "")
    blobs = {c: d for c, (ok, d) in results.items() if ok}
    for row, cloud in enumerate(CLOUDS):
        if cloud in blobs:
            table.columns[4]._cells[row] = same_bytes(cloud, blobs)
    console.print(table)
    answered = all(ok for ok, _ in results.values())
    identical = answered and len(set(blobs.values())) == 1
    if identical:
        console.print("all three answered, with the same bytes")
    elif answered:
        console.print("[red]rehearsal failed: the clouds' outputs differ[/]")
    else:
        console.print(f"[red]rehearsal failed; server logs in {out_dir / 'logs'}[/]")
    return 0 if identical else 1


def same_bytes(cloud: str, blobs: dict[str, bytes]) -> str:
    """Whether ``cloud``'s output equals every other cloud that answered: clouds that
    failed say nothing about the ones that did."""
    others = [c for c in blobs if c != cloud]
    if not others:
        return "-"
    differ = [c for c in others if blobs[c] != blobs[cloud]]
    return "same" if not differ else f"[yellow]differs from {', '.join(differ)}[/]"
