"""Request-body parsing: orjson against the standard library, on 6 MB bodies.

Prints, per body, the best of 5 runs of: ``orjson.loads``; ``json.loads``; the standard
library with the hooks that bounding it needs (``parse_int``/``parse_float``/
``parse_constant``); and ``scoring.jsonbody.loads`` (orjson plus the shape check, i.e. what
a request pays; for a refused body, until it is refused).

    python benchmarks/json_parsing.py
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import time

import orjson

from scoring import jsonbody
from scoring.errors import RequestError


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise ValueError("too many digits")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("not finite")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(name)


HOOKED = json.JSONDecoder(
    parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant
)


def ours(body: bytes) -> None:
    with contextlib.suppress(RequestError):
        jsonbody.loads(body, 10_000_000)


def best_ms(fn, body: bytes, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn(body)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    rng = random.Random(0)
    bodies = {
        "one base64 image": json.dumps(
            {"prompt": "x", "image": base64.b64encode(os.urandom(4_400_000)).decode()}
        ).encode(),
        "500,000 keys": json.dumps({f"k{i}": 1 for i in range(500_000)}).encode(),
        "600,000 integers": json.dumps([rng.randrange(10**9) for _ in range(600_000)]).encode(),
        "300,000 floats": json.dumps([rng.random() for _ in range(300_000)]).encode(),
        "non-ASCII text": json.dumps({"prompt": "é漢" * 1_000_000}, ensure_ascii=False).encode(),
    }
    print(f"{'body':18} {'MB':>4} {'orjson':>8} {'json':>8} {'json+hooks':>11} {'jsonbody':>9}")
    for name, body in bodies.items():
        figures = [
            best_ms(orjson.loads, body),
            best_ms(json.loads, body),
            best_ms(lambda b: HOOKED.decode(b.decode()), body),
            best_ms(ours, body),
        ]
        print(
            f"{name:18} {len(body) / 1e6:4.1f} "
            + " ".join(f"{v:{w}.1f}" for v, w in zip(figures, (8, 8, 11, 9), strict=True))
            + "  ms"
        )


if __name__ == "__main__":
    main()
