"""Serve a built package on loopback under its cloud's contract, with no cloud.

- sagemaker: ``GET /ping``, ``POST /invocations``, calling the package's ``inference.py``
  the way the Hugging Face toolkit does (``model_fn`` once; ``input_fn``, ``predict_fn``,
  ``output_fn`` per request, with a context that carries status and content type).
- vertex: ``AIP_HTTP_PORT``, ``AIP_HEALTH_ROUTE``, ``AIP_PREDICT_ROUTE`` (defaults when
  unset), body ``{"instances", "parameters"}``, calling the package's ``EndpointHandler``.
- azureml: the package's ``score.py`` under the real Azure ML inference server
  (``azmlinfsrv``), in a child process.

The package's own copy of the engine is imported (its folder goes first on sys.path), so
what is tested is what ships. The model loads in the background: health answers 503
while loading, and 503 with the reason (e.g. which weight file is corrupt) if it failed.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("genai_endpoints.serve")


class Loader:
    """Loads once in a thread; health reflects loading, ready, or the load error."""

    def __init__(self, load) -> None:
        self.value: Any = None
        self.error: str | None = None
        self.done = threading.Event()
        threading.Thread(target=self._run, args=(load,), daemon=True).start()

    def _run(self, load) -> None:
        try:
            self.value = load()
        except Exception as exc:
            self.error = getattr(exc, "message", None) or str(exc)
            log.error("model failed to load: %s", self.error)
        finally:
            self.done.set()

    def health(self) -> tuple[int, dict]:
        if not self.done.is_set():
            return 503, {"status": "loading"}
        if self.error is not None:
            return 503, {"status": "failed", "error": self.error}
        return 200, {"status": "ok"}


def import_file(path: Path, name: str):
    """Import ``path`` as module ``name`` with its folder first on sys.path."""
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class ToolkitContext:
    """The parts of the model server's context that handler functions use."""

    def __init__(self) -> None:
        self.status = 200
        self.phrase = ""
        self.content_type: str | None = None

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        self.status, self.phrase = code, phrase

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.content_type = value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "genai-endpoints-local"

    def log_message(self, fmt: str, *args) -> None:
        log.info("%s %s", self.address_string(), fmt % args)

    def send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, obj: Any, headers: dict | None = None) -> None:
        self.send(status, json.dumps(obj).encode(), "application/json", headers)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


def sagemaker_server(package: Path, port: int) -> ThreadingHTTPServer:
    model_dir = package / "model"
    inference = import_file(model_dir / "code" / "inference.py", "inference")
    loader = Loader(lambda: inference.model_fn(str(model_dir), ToolkitContext()))

    class Handler(_Handler):
        def do_GET(self):
            if self.path != "/ping":
                return self.send_json(404, {"error": {"code": 404, "message": "use /ping"}})
            status, body = loader.health()
            self.send_json(status, body)

        def do_POST(self):
            if self.path != "/invocations":
                return self.send_json(404, {"error": {"code": 404, "message": "use /invocations"}})
            if loader.value is None:
                return self.send_json(503, loader.health()[1])
            # what the toolkit does: default Accept to JSON, decode UTF-8 JSON bodies
            accept = self.headers.get("Accept")
            if not accept or accept == "*/*":
                accept = "application/json"
            content_type = self.headers.get("Content-Type", "application/json")
            ctx = ToolkitContext()
            try:
                data = inference.input_fn(self.body(), content_type, ctx)
                prediction = inference.predict_fn(data, loader.value, ctx)
                out = inference.output_fn(prediction, accept, ctx)
            except Exception as exc:  # the toolkit: any exception is a 400 with its text
                return self.send_json(
                    400, {"code": 400, "type": "InternalServerException", "message": str(exc)}
                )
            self.send(ctx.status, out, ctx.content_type or accept)

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def vertex_server(package: Path, port: int | None = None) -> ThreadingHTTPServer:
    model_dir = package / "model"
    port = port or int(os.environ.get("AIP_HTTP_PORT", "8080"))
    health_route = os.environ.get("AIP_HEALTH_ROUTE", "/health")
    predict_route = os.environ.get("AIP_PREDICT_ROUTE", "/predict")
    handler_module = import_file(model_dir / "handler.py", "handler")
    loader = Loader(lambda: handler_module.EndpointHandler(str(model_dir)))

    class Handler(_Handler):
        def do_GET(self):
            if self.path != health_route:
                return self.send_json(404, {"error": f"use {health_route}"})
            status, body = loader.health()
            self.send_json(status, body)

        def do_POST(self):
            if self.path != predict_route:
                return self.send_json(404, {"error": f"use {predict_route}"})
            if loader.value is None:
                return self.send_json(503, loader.health()[1])
            from scoring.errors import ScoringError

            try:
                data = json.loads(self.body())
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                return self.send_json(
                    400, {"error": {"code": 400, "message": f"body: not valid JSON ({exc})"}}
                )
            try:
                self.send_json(200, loader.value(data))
            except ScoringError as err:
                self.send_json(err.status, err.to_dict(), err.headers())

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def azureml_command(package: Path, port: int) -> tuple[list[str], dict[str, str], Path]:
    """The azmlinfsrv command line, environment and working folder for a package."""
    code = package / "code"
    exe = Path(sys.executable).with_name("azmlinfsrv")
    env = {
        **os.environ,
        "AZUREML_MODEL_DIR": str(package / "model"),
        "AML_APP_ROOT": str(code),
        "PYTHONPATH": str(code),
    }
    return [str(exe), "--entry_script", str(code / "score.py"), "--port", str(port)], env, code


def serve_forever(cloud: str, package: Path, port: int) -> int:
    """Run the package's server in the foreground until interrupted."""
    if cloud == "azureml":  # become the server: signals reach it and its workers directly
        cmd, env, cwd = azureml_command(package, port)
        os.chdir(cwd)
        os.execve(cmd[0], cmd, env)
    server = (
        sagemaker_server(package, port) if cloud == "sagemaker" else vertex_server(package, port)
    )
    log.info("serving %s package %s on http://127.0.0.1:%d", cloud, package, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
