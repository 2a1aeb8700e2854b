"""Fakes on loopback for the client's HTTP backends, and small builders."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from genai_endpoints.client.cache import Cache
from genai_endpoints.client.client import Client
from genai_endpoints.client.history import History
from genai_endpoints.client.targets import load_targets


def png_bytes(color=(10, 200, 30), size=(8, 8)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def contract_answer(data: bytes, seed: int = 7, vertex: bool = False) -> dict:
    """What our server answers (docs/architecture.md), one PNG output."""
    body = {
        "outputs": [
            {"data": base64.b64encode(data).decode(), "content_type": "image/png", "seed": seed}
        ],
        "metadata": {
            "task": "text-to-image",
            "model_id": "tiny",
            "model_revision": "local-abc",
            "seeds": [seed],
            "timings_ms": {"queued": 1.0, "inference": 40.0, "encode": 10.0},
        },
    }
    return {"predictions": [body]} if vertex else body


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: object = None  # dict → JSON, bytes → raw
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class FakeServer:
    """A threaded HTTP server answering from a queue of replies (the last one repeats) or a
    function of the request; it records every request it sees."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.replies: list[Reply] = [Reply(body={})]
        self.handler: Callable[[Seen], Reply] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(length))  # fmt: skip
                fake.seen.append(seen)
                reply = fake.handler(seen) if fake.handler else (
                    fake.replies.pop(0) if len(fake.replies) > 1 else fake.replies[0]
                )  # fmt: skip
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                body = reply.body
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def reply(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    try:
        yield server
    finally:
        server.close()


def write_targets(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def make_client(tmp_path: Path, targets_yaml: str, *, cache: bool = True, sleeps=None) -> Client:
    """A client over a targets file, with its cache and history in ``tmp_path``."""
    targets = load_targets(write_targets(tmp_path / "targets.yaml", targets_yaml))
    store = Cache.at(str(tmp_path / "cache")) if cache else None
    sleep = (lambda s: sleeps.append(s)) if sleeps is not None else (lambda s: None)
    return Client(targets, cache=store, history=History(tmp_path / "history.sqlite3"), sleep=sleep)
