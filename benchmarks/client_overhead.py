"""The client's overhead per call against a raw HTTP POST of the same body to the same
server (median of 50 each, interleaved), and a cache hit's latency.

Default server: a canned answer (one 64x64 PNG, our contract's JSON) from a separate
process, so the figures are the client's own work: request validation, envelope, JSON and
base64 decoding, the retry wrapper, the history row. ``--package OUT/sagemaker`` serves a
built package with ``genai-endpoints serve`` instead (generation time then dominates).

A benchmark, not a test. Run: .venv/bin/python benchmarks/client_overhead.py [-n 50]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import multiprocessing
import socket
import statistics
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def canned_answer() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 120, 200)).save(buf, format="PNG")
    body = {
        "outputs": [{"data": base64.b64encode(buf.getvalue()).decode(), "content_type": "image/png",
                     "seed": 7}],
        "metadata": {"model_id": "canned", "model_revision": "r1", "seeds": [7],
                     "timings_ms": {"queued": 0.0, "inference": 0.0, "encode": 0.0}},
    }  # fmt: skip
    return json.dumps(body).encode()


def serve_canned(port_queue) -> None:
    answer = canned_answer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            # headers and body go out in two writes: without this, Nagle's algorithm and
            # the client's delayed ACK add ~40 ms to every answer
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(httpd.server_address[1])
    httpd.serve_forever()


def ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=20)
    return f"median {statistics.median(values) * 1000:7.2f} ms   p95 {q[18] * 1000:7.2f} ms"


def measure(base_url: str, n: int, request: dict) -> None:
    import httpx

    from genai_endpoints.client import Client

    tmp = Path(tempfile.mkdtemp())
    (tmp / "targets.yaml").write_text(
        f"targets:\n  - {{name: bench, kind: sagemaker, url: '{base_url}', model_revision: r1}}\n"
    )
    client = Client.from_file(tmp / "targets.yaml", cache=str(tmp / "cache"), history=tmp / "h.db")
    params = {k: v for k, v in request.items() if k != "prompt"}
    body = json.dumps({"inputs": request["prompt"], "parameters": params}).encode()
    raw = httpx.Client(timeout=120)
    url = base_url + "/invocations"

    def raw_post() -> float:
        start = time.perf_counter()
        resp = raw.post(url, content=body, headers={"Content-Type": "application/json"})
        resp.read()
        assert resp.status_code == 200
        return time.perf_counter() - start

    def client_call() -> float:
        start = time.perf_counter()
        client.invoke("bench", request, use_cache=False)
        return time.perf_counter() - start

    for _ in range(5):  # warm both connections and code paths
        raw_post()
        client_call()
    raw_s, client_s = [], []
    for _ in range(n):  # interleaved, so drift in the machine's load hits both alike
        raw_s.append(raw_post())
        client_s.append(client_call())
    client.invoke("bench", request)  # fill the cache
    hit_s = []
    for _ in range(n):
        start = time.perf_counter()
        assert client.invoke("bench", request).cache == "hit"
        hit_s.append(time.perf_counter() - start)
    client.close()
    over = statistics.median(client_s) - statistics.median(raw_s)
    print(f"raw HTTP POST (httpx, keep-alive):  {ms(raw_s)}")
    print(f"client.invoke, cache off:           {ms(client_s)}")
    print(f"client overhead per call (median):  {over * 1000:7.2f} ms")
    print(f"client.invoke, cache hit:           {ms(hit_s)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="calls per variant (default 50)")
    parser.add_argument("--package", type=Path, help="a built OUT/sagemaker package to serve")
    args = parser.parse_args()
    request = {"prompt": "a lighthouse", "seed": 7, "num_inference_steps": 2, "width": 64,
               "height": 64}  # fmt: skip
    if args.package:
        from genai_endpoints.commands.rehearsal import package_server

        with package_server("sagemaker", args.package, Path(tempfile.mkdtemp())) as server:
            print(f"server: genai-endpoints serve --cloud sagemaker ({args.package}), n={args.n}")
            measure(server.base, args.n, request)
        return
    queue: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=serve_canned, args=(queue,), daemon=True)
    proc.start()
    try:
        port = queue.get(timeout=30)
        print(f"server: canned answer from a separate process (one 64x64 PNG), n={args.n}")
        measure(f"http://127.0.0.1:{port}", args.n, request)
    finally:
        proc.terminate()
        proc.join(5)


if __name__ == "__main__":
    main()
