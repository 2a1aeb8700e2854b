"""Mutation fuzz of the three serving contracts over raw HTTP (issue 10's "done when").

Builds the tiny text-to-image model, packages it for sagemaker, vertex and azureml, starts
each package with ``genai_endpoints.commands.rehearsal.package_server`` (so it runs unchanged on
whatever server ``genai-endpoints serve`` starts), and sends each ``--requests`` mutated
bodies: the issue's repros, plus random structural mutations of a valid request (huge
numbers, deep JSON, bad Unicode, wrong types, many outputs, unknown keys, truncated
bodies, invalid UTF-8, bad content types), in each contract's envelope and route.

Counted per contract: statuses; 5xx other than the deliberate 503/504; hangs (no answer
within ``--timeout``); dropped connections; server deaths (process exit or health
failing); 4xx whose body is not ``{"error": {"field": ...}}`` with a field. Prints a
table, writes every failure to ``OUT/failures-<cloud>.jsonl``, and exits 1 on any.

    python benchmarks/fuzz_contracts.py --requests 10000 --seed 1

Generation is kept cheap (limits set low through the servers' ``GENAI_*`` environment,
1-2 steps, 64x64) so that the requests the model does run cost little.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from scoring.server.contracts import CONTRACTS

ROUTES = {name: d.routes.predict for name, d in CONTRACTS.items()}
CLOUDS = tuple(ROUTES)
# cheap generations; the limits' logic is the same at any size
SERVER_ENV = {
    "GENAI_MAX_STEPS": "2",
    "GENAI_MAX_OUTPUTS": "2",
    "GENAI_MAX_FRAMES": "4",
    "GENAI_MAX_SIDE": "256",
    "GENAI_MAX_PIXELS": str(128 * 128),
    "GENAI_REQUEST_TIMEOUT_S": "20",
    "GENAI_QUEUE_TIMEOUT_S": "20",
    "GENAI_VERIFY_WEIGHTS": "0",
}
DELIBERATE_5XX = {503, 504}


def png_b64(width: int, height: int, mode: str = "RGB") -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (width, height), (120, 30, 200) if mode == "RGB" else 255).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def huge_header_png_b64() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode()


@dataclass
class Case:
    kind: str
    body: bytes
    content_type: str = "application/json"


class Mutator:
    """Requests for one contract: the issue's repros and random mutations of a valid one."""

    NUMBERS = (0, -1, 1, 2, 7, 8, 64, 65, 4096, 8388608, 10**9, 2**31, 2**32,
               2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), 10**30, 0.5, -0.0, 1e-300,
               1e308, 64.0)  # fmt: skip
    TEXTS = ("", "x", "\ud800", "\udfff", "a\x00b", "\x1b[2J", "é" * 3000, "😀" * 10, "\u202e")
    FIELDS = ("task", "prompt", "negative_prompt", "width", "height", "num_inference_steps",
              "guidance_scale", "seed", "num_outputs", "image", "mask", "strength", "outpaint",
              "num_frames", "fps", "output_format")  # fmt: skip

    def __init__(self, cloud: str, rng: random.Random) -> None:
        self.cloud = cloud
        self.rng = rng
        self.png = png_b64(64, 64)
        self.mask = png_b64(64, 64, "L")
        self.bomb = huge_header_png_b64()

    # -- envelopes -------------------------------------------------------------------
    def wrap(self, req: dict) -> object:
        if self.cloud == "sagemaker":
            params = {k: v for k, v in req.items() if k != "prompt"}
            return {"inputs": req.get("prompt", "x"), "parameters": params}
        if self.cloud == "vertex":
            return {"instances": [req], "parameters": {}}
        return req

    def encode(self, obj: object) -> bytes:
        return json.dumps(obj).encode()  # ensure_ascii: lone surrogates travel escaped

    def base(self) -> dict:
        kind = self.rng.choice(["t2i", "t2i", "i2i", "inpaint", "outpaint"])
        req: dict = {"prompt": "a fox", "num_inference_steps": 1, "seed": 1}
        if kind == "t2i":
            req.update(width=64, height=64)
        else:
            req["image"] = self.png
        if kind == "inpaint":
            req["mask"] = self.mask
        if kind == "outpaint":
            req["outpaint"] = {"right": 8}
        return req

    # -- the repros ----------------------------------------------------------
    def repros(self) -> list[Case]:
        image = {"prompt": "x", "image": self.png, "num_inference_steps": 1}
        w = self.wrap
        return [
            Case("canvas-height-2^23", self.encode(w({**image, "height": 8388608}))),
            Case("canvas-height-1e9", self.encode(w({**image, "height": 10**9}))),
            Case("canvas-height-2^31", self.encode(w({**image, "height": 2**31}))),
            Case("outpaint-huge", self.encode(w({**image, "outpaint": {"left": 2**31}}))),
            Case(
                "video-2-outputs",
                self.encode(w({"prompt": "waves", "num_outputs": 2, "num_frames": 2})),
            ),
            Case("deep-array", b"[" * 100_000),
            Case("seed-5000-digits", b'{"prompt":"x","seed":' + b"9" * 5000 + b"}"),
            Case("width-2^31", self.encode(w({"prompt": "x", "width": 2**31, "height": 64}))),
            Case(
                "surrogate-negative", self.encode(w({"prompt": "x", "negative_prompt": "\ud800"}))
            ),
            Case(
                "batch-16-outputs",
                self.encode({"instances": [{"prompt": "x"}] * 4, "parameters": {"num_outputs": 4}}),
            ),
            Case("height-4096", self.encode(w({"prompt": "x", "height": 4096}))),
            *[
                Case(f"parameters-{json.dumps(v)}", self.encode({"inputs": "x", "parameters": v}))
                for v in ("", False, 0, [])
            ],
            Case("bomb-header", self.encode(w({"prompt": "x", "image": self.bomb}))),
        ]

    def unknown_keys_body(self) -> bytes:
        keys = {str(i): 1 for i in range(500_000)}
        return json.dumps({"prompt": "x", **keys}, separators=(",", ":")).encode()

    # -- random mutations ------------------------------------------------------------
    def value(self, depth: int = 0) -> object:
        r = self.rng.random()
        if r < 0.35:
            return self.rng.choice(self.NUMBERS)
        if r < 0.6:
            return self.rng.choice(self.TEXTS)
        if r < 0.7:
            return self.rng.choice((None, True, False))
        if r < 0.8 and depth < 3:
            return [self.value(depth + 1) for _ in range(self.rng.randint(0, 3))]
        if r < 0.9 and depth < 3:
            return {self.rng.choice([*self.FIELDS, "x", ""]): self.value(depth + 1)}
        return self.rng.choice([self.png, self.mask, self.png[:-30], "!!", "data:,"])

    def mutate(self) -> Case:
        rng = self.rng
        req = self.base()
        kinds = []
        for _ in range(rng.randint(1, 3)):
            op = rng.choice(["set", "set", "set", "delete", "unknown", "outputs", "outpaint"])
            kinds.append(op)
            if op == "set":
                req[rng.choice(self.FIELDS)] = self.value()
            elif op == "delete" and req:
                req.pop(rng.choice(sorted(req)))
            elif op == "unknown":
                for i in range(rng.choice([1, 5, 50])):
                    req[f"knob{i}"] = self.value()
            elif op == "outputs":
                req["num_outputs"] = rng.choice([2, 4, 5, 100, 2**40])
            else:
                side = rng.choice(["left", "right", "top", "bottom", "up"])
                req["outpaint"] = {side: rng.choice(self.NUMBERS)}
        obj = self.wrap(req)
        if self.cloud == "vertex" and rng.random() < 0.2:
            obj = {"instances": [req] * rng.randint(1, 6), "parameters": {}}
        if rng.random() < 0.05:  # another contract's envelope
            obj = rng.choice([{"inputs": req.get("prompt"), "parameters": req}, req])
        body = self.encode(obj)
        content_type = "application/json"
        r = rng.random()
        if r < 0.08:
            body, kinds = body[: rng.randint(0, len(body))], [*kinds, "truncated"]
        elif r < 0.11:
            body, kinds = b"[" * rng.choice([17, 1025, 50_000]) + body, [*kinds, "deep"]
        elif r < 0.13:
            pos = rng.randrange(len(body))
            body, kinds = (
                body[:pos] + bytes([rng.choice([0xFF, 0xC3, 0xED, 0x00])]) + body[pos:],
                [
                    *kinds,
                    "bad-utf8",
                ],
            )
        elif r < 0.16:
            content_type = rng.choice(["text/plain", "", "application/x-www-form-urlencoded"])
            kinds = [*kinds, "content-type"]
        return Case("+".join(kinds), body, content_type)

    def cases(self, n: int) -> list[Case]:
        fixed = self.repros()
        out = [fixed[i % len(fixed)] for i in range(min(n, len(fixed) * 3))]
        out.append(Case("500k-unknown-keys", self.unknown_keys_body()))
        while len(out) < n:
            out.append(self.mutate())
        self.rng.shuffle(out)
        return out[:n]


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    failures: list[dict] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    max_latency_s: float = 0.0
    latency_s: Counter = field(default_factory=Counter)  # summed per status class
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, kind: str, case: Case, detail: str) -> None:
        with self.lock:
            self.kinds[kind] += 1
            self.failures.append(
                {
                    "failure": kind,
                    "case": case.kind,
                    "detail": detail[:500],
                    "body_head": case.body[:200].decode("utf-8", "replace"),
                }
            )


def send(port: int, route: str, case: Case, timeout: float) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": case.content_type, "Accept": "application/json"}
        if not case.content_type:
            headers.pop("Content-Type")
        conn.request("POST", route, body=case.body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def check(case: Case, status: int, body: bytes, tally: Tally, took_s: float) -> None:
    with tally.lock:
        tally.statuses[status] += 1
        tally.latency_s[f"{status // 100}xx"] += took_s
    if status >= 500 and status not in DELIBERATE_5XX:
        tally.fail("5xx", case, f"{status} {body[:300]!r}")
    elif 400 <= status < 500 and status != 429:
        try:
            err = json.loads(body)["error"]
            named = isinstance(err, dict) and bool(err.get("field"))
        except (ValueError, KeyError, TypeError):
            named = False
        if not named:
            tally.fail("4xx-without-field", case, f"{status} {body[:300]!r}")


def fuzz_contract(cloud: str, package: Path, logs: Path, args) -> tuple[Tally, float, bool]:
    from genai_endpoints.commands.rehearsal import package_server

    rng = random.Random(f"{args.seed}-{cloud}")
    cases = Mutator(cloud, rng).cases(args.requests)
    tally = Tally()
    dead = threading.Event()
    start = time.monotonic()
    with package_server(cloud, package, logs) as server:
        route = ROUTES[cloud]

        def one(case: Case) -> None:
            if dead.is_set():
                return
            t0 = time.monotonic()
            try:
                status, body = send(server.port, route, case, args.timeout)
            except TimeoutError:
                tally.fail("hang", case, f"no answer in {args.timeout:g} s")
                return
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                tally.fail("dropped", case, type(exc).__name__)
                if server.process.poll() is not None:
                    dead.set()
                return
            finally:
                with tally.lock:
                    tally.max_latency_s = max(tally.max_latency_s, time.monotonic() - t0)
            check(case, status, body, tally, time.monotonic() - t0)

        done = 0
        with ThreadPoolExecutor(args.concurrency) as pool:
            for chunk_start in range(0, len(cases), 200):
                list(pool.map(one, cases[chunk_start : chunk_start + 200]))
                done += len(cases[chunk_start : chunk_start + 200])
                alive = server.process.poll() is None and _healthy(server)
                if not alive:
                    dead.set()
                if dead.is_set():
                    tally.fail("server-death", cases[chunk_start], f"after {done} requests")
                    break
                print(f"  {cloud}: {done}/{len(cases)}", file=sys.stderr, flush=True)
    return tally, time.monotonic() - start, not dead.is_set()


def _healthy(server) -> bool:
    for _ in range(3):
        try:
            if server.health().status == 200:
                return True
        except OSError:
            pass
        time.sleep(1)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="per contract")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clouds", default=",".join(CLOUDS), help="comma-separated")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds: a hang")
    parser.add_argument("--out", type=Path, default=Path("build/fuzz"))
    args = parser.parse_args(argv)
    clouds = [c.strip() for c in args.clouds.split(",") if c.strip()]

    from model_packages.build import build_packages
    from model_packages.staging import stage_local
    from scoring.tiny import build_tiny_model

    os.environ.update(SERVER_ENV)  # the servers inherit it
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.out / "tiny-t2i"
    if not (model / "model_index.json").is_file():
        build_tiny_model(model)
    build_packages(stage_local(model), clouds, args.out / "packages")

    rows = []
    failed = False
    for cloud in clouds:
        print(f"fuzzing {cloud} ...", file=sys.stderr, flush=True)
        try:
            tally, seconds, alive = fuzz_contract(
                cloud, args.out / "packages" / cloud, args.out / "logs", args
            )
        except (RuntimeError, TimeoutError) as exc:
            print(f"{cloud}: server did not start: {str(exc).splitlines()[0]}")
            failed = True
            continue
        with (args.out / f"failures-{cloud}.jsonl").open("w") as fh:
            for item in tally.failures:
                fh.write(json.dumps(item) + "\n")
        s = tally.statuses
        rows.append(
            [
                cloud,
                sum(s.values()),
                sum(v for k, v in s.items() if 200 <= k < 300),
                sum(v for k, v in s.items() if 400 <= k < 500),
                sum(v for k, v in s.items() if k in DELIBERATE_5XX),
                tally.kinds["5xx"],
                tally.kinds["hang"],
                tally.kinds["dropped"],
                0 if alive else 1,
                tally.kinds["4xx-without-field"],
                f"{tally.max_latency_s:.1f}",
                f"{seconds:.0f}",
            ]
        )
        failed |= bool(tally.failures)
        mean_ms = {
            k: round(1000 * v / sum(n for c, n in s.items() if f"{c // 100}xx" == k))
            for k, v in sorted(tally.latency_s.items())
        }
        print(f"  {cloud} statuses: {dict(sorted(s.items()))}; mean ms: {mean_ms}")
        top = Counter(f"{f['failure']}: {f['detail'][:90]}" for f in tally.failures)
        for text, count in top.most_common(8):
            print(f"  {cloud} x{count} {text}")
    head = ["contract", "answers", "2xx", "4xx", "503/504", "bad 5xx", "hangs", "dropped",
            "deaths", "4xx w/o field", "max s", "run s"]  # fmt: skip
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths, strict=True)))
    print(f"seed {args.seed}, {args.requests} requests per contract; failures in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
