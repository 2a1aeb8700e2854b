"""Load on each contract's server: many clients at once, health probed all along.

For each contract, serves the tiny model's package with the runtime's server, then runs
CLIENTS threads that each send a 2-step 64x64 request back to back (keep-alive) for
SECONDS, while one prober GETs the health route every 50 ms. Clients wait the
``Retry-After`` a 429/503 names before trying again, as this project's client and the
clouds' SDKs do; ``--no-backoff`` makes them retry at once (a storm: the worst case).
Prints per contract: status counts, latency p50/p99 of 200s and of 429s, the health
probe's p50/p99/max, and the server's resident memory at start and end.

    .venv/bin/python benchmarks/serve_load.py                # 64 clients, 60 s, all three
    .venv/bin/python benchmarks/serve_load.py --seconds 10 --cloud vertex
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genai_endpoints.commands.rehearsal import package_server  # noqa: E402
from scoring.server.contracts import CONTRACTS  # noqa: E402

REQUEST = {"prompt": "a lighthouse", "num_inference_steps": 2, "width": 64, "height": 64}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def client(port: int, path: str, body: bytes, stop: float, out: list, backoff: bool) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < stop:
        start = time.perf_counter()
        try:
            conn.request("POST", path, body, headers)
            resp = conn.getresponse()
            resp.read()
            out.append((resp.status, time.perf_counter() - start))
            wait = resp.getheader("Retry-After")
            if backoff and resp.status in (429, 503) and wait:
                time.sleep(min(float(wait), max(0.0, stop - time.monotonic())))
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        except (OSError, http.client.HTTPException) as exc:
            out.append((type(exc).__name__, time.perf_counter() - start))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.close()


def prober(port: int, path: str, stop: float, out: list) -> None:
    while time.monotonic() < stop:
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            out.append((resp.status, time.perf_counter() - start))
        except OSError as exc:
            out.append((type(exc).__name__, time.perf_counter() - start))
        finally:
            conn.close()
        time.sleep(0.05)


def run_one(
    cloud: str, package: Path, clients: int, seconds: float, logs: Path, backoff: bool = True
) -> dict:
    with package_server(cloud, package / cloud, logs) as server:
        contract = CONTRACTS[cloud]
        body = json.dumps(contract.wrap(REQUEST)).encode()
        for _ in range(3):  # warm up: first generations pay lazy initialisation
            server.predict(contract.wrap(REQUEST))
        pid = server.process.pid
        rss_start = rss_mb(pid)
        stop = time.monotonic() + seconds
        results: list = []
        probes: list = []
        threads = [
            threading.Thread(
                target=client,
                args=(server.port, contract.routes.predict, body, stop, results, backoff),
            )
            for _ in range(clients)
        ]
        threads.append(
            threading.Thread(
                target=prober, args=(server.port, contract.routes.readiness, stop, probes)
            )
        )
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rss_end = rss_mb(pid)
        alive = server.process.poll() is None and server.health().status == 200
    counts = collections.Counter(str(s) for s, _ in results)
    ok = [t for s, t in results if s == 200]
    busy = [t for s, t in results if s == 429]
    health = [t for s, t in probes if s == 200]
    return {
        "cloud": cloud,
        "requests": len(results),
        "statuses": dict(sorted(counts.items())),
        "ok_per_s": len(ok) / seconds,
        "p50_200_ms": pct(ok, 0.5) * 1000,
        "p99_200_ms": pct(ok, 0.99) * 1000,
        "p50_429_ms": pct(busy, 0.5) * 1000,
        "p99_429_ms": pct(busy, 0.99) * 1000,
        "health_probes": len(probes),
        "health_failed": len(probes) - len(health),
        "health_p50_ms": pct(health, 0.5) * 1000,
        "health_p99_ms": pct(health, 0.99) * 1000,
        "health_max_ms": max(health, default=float("nan")) * 1000,
        "rss_start_mb": rss_start,
        "rss_end_mb": rss_end,
        "alive_after": alive,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--cloud", choices=["sagemaker", "vertex", "azureml"], action="append")
    parser.add_argument("--json", action="store_true", help="print one JSON object per contract")
    parser.add_argument("--no-backoff", action="store_true", help="ignore Retry-After (a storm)")
    args = parser.parse_args()
    clouds = args.cloud or ["sagemaker", "vertex", "azureml"]

    from model_packages.build import build_packages
    from model_packages.staging import stage_local
    from scoring.tiny import build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "tiny")
        build_packages(stage_local(model), clouds, Path(tmp) / "pkg")
        for cloud in clouds:
            r = run_one(cloud, Path(tmp) / "pkg", args.clients, args.seconds, Path(tmp) / "logs",
                        backoff=not args.no_backoff)  # fmt: skip
            if args.json:
                print(json.dumps(r))
                continue
            print(
                f"{cloud}: {r['requests']} requests in {args.seconds:g} s from {args.clients} "
                f"clients{' (no back-off)' if args.no_backoff else ''}; statuses "
                f"{r['statuses']}; {r['ok_per_s']:.1f} images/s\n"
                f"  200 p50/p99 {r['p50_200_ms']:.0f}/{r['p99_200_ms']:.0f} ms; "
                f"429 p50/p99 {r['p50_429_ms']:.1f}/{r['p99_429_ms']:.1f} ms\n"
                f"  health ({r['health_probes']} probes, {r['health_failed']} failed) p50/p99/max "
                f"{r['health_p50_ms']:.1f}/{r['health_p99_ms']:.1f}/{r['health_max_ms']:.1f} ms\n"
                f"  server RSS {r['rss_start_mb']:.0f} MB at start, {r['rss_end_mb']:.0f} MB at "
                f"end; serving after: {r['alive_after']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
