"""Helpers for the server tests: raw HTTP to talk to a server, and each contract's app
in process."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)


def raw_request(port: int, request: bytes, timeout: float = 30) -> Raw:
    """Send bytes as they are, read one response (Content-Length framed)."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_response(sock, start)


def read_response(sock: socket.socket, start: float) -> Raw:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Raw(status, headers, body, time.perf_counter() - start)


def post(port: int, path: str, payload, headers: dict[str, str] | None = None) -> Raw:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    return raw_request(port, head.encode() + body)


def get(port: int, path: str) -> Raw:
    return raw_request(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


@dataclass
class AppReply:
    status: int
    body: bytes

    def json(self):
        return json.loads(self.body)


class InProcess:
    """One contract's ASGI app, called over HTTP semantics without a socket or a process:
    the routes, envelopes and answers of the real server, at a fraction of its start-up
    cost (process start-up itself is tested in tests/scoring/server/test_clouds.py)."""

    def __init__(self, cloud: str, app) -> None:
        self.cloud = cloud
        self.app = app

    def predict(self, payload: dict, headers: dict[str, str] | None = None) -> AppReply:
        import anyio
        import httpx

        from scoring.server.contracts import CONTRACTS

        route = CONTRACTS[self.cloud].routes.predict

        async def call():
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                return await client.post(route, json=payload, headers=headers or {}, timeout=300)

        reply = anyio.run(call)
        return AppReply(reply.status_code, reply.content)


def in_process_servers(package_dir) -> dict[str, InProcess]:
    """Each cloud's app over one model loaded once (every contract serves the same bytes),
    with the environment that cloud sets; the model comes from the package's folder."""
    from pathlib import Path

    from scoring.server.app import ModelState, build_app
    from scoring.server.contracts import DESCRIPTORS, detect
    from scoring.server.contracts.base import LocalRun
    from scoring.server.main import load_scorer
    from scoring.server.settings import ServerSettings

    package_dir = Path(package_dir)
    model = str(package_dir / DESCRIPTORS[0].name / "model")
    envs = {
        d.name: (
            list(d.args) or [""],
            d.local_env(LocalRun(d.port, model, d.routes.readiness, d.routes.predict)),
        )
        for d in DESCRIPTORS
    }
    settings = ServerSettings()
    state = ModelState()
    argv, env = next(iter(envs.values()))
    state.scorer = load_scorer(detect(argv, env), settings, env)
    return {
        cloud: InProcess(cloud, build_app(detect(argv, env), settings, state))
        for cloud, (argv, env) in envs.items()
    }
