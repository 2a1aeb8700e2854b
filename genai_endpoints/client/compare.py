"""Send the same requests to several targets and collect what a comparison report needs.

Targets are called one after another (never at once), so one target's load does not
slow another's timings. Latency figures come from live calls only; a cached answer is
shown, and counted as cached, but is not a measurement.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genai_endpoints.client.client import Client, as_request
from genai_endpoints.client.errors import ClientError
from genai_endpoints.client.history import percentile
from scoring.schema import OutputFormat

EXT = {f.content_type: f.value for f in OutputFormat}


@dataclass
class Cell:
    """One prompt on one target."""

    prompt_index: int
    target: str
    ok: bool
    error: str | None = None
    latencies_s: list[float] = field(default_factory=list)  # live calls
    busy_per_image_s: list[float] = field(default_factory=list)
    cache: str = "off"
    outputs: list[dict[str, Any]] = field(default_factory=list)  # path, sha256, type, seed


@dataclass
class TargetSummary:
    name: str
    kind: str
    calls: int
    cached: int
    errors: int
    p50_s: float | None
    p95_s: float | None
    usd_per_image: float | None
    price_basis: str
    model_id: str | None = None
    model_revision: str | None = None


@dataclass
class Comparison:
    prompts: list[str]
    request: dict[str, Any]
    targets: list[TargetSummary]
    cells: list[Cell]
    identical: list[bool | None]  # per prompt: every target's first output the same bytes
    started: float
    seconds: float


def run_compare(
    client: Client,
    names: list[str],
    prompts: list[str],
    request: dict[str, Any],
    out_dir: Path,
    *,
    repeat: int = 1,
    use_cache: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> Comparison:
    """``request`` holds every field but the prompt (the seed included)."""
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    started, t0 = time.time(), time.perf_counter()
    cells: list[Cell] = []
    meta: dict[str, dict] = {n: {} for n in names}
    total, done = len(prompts) * len(names) * repeat, 0
    for i, prompt in enumerate(prompts):
        req = as_request({**request, "prompt": prompt})
        for name in names:
            cell = Cell(i, name, ok=False)
            for r in range(repeat):
                if progress:
                    progress(done, total, f"prompt {i + 1}/{len(prompts)} → {name}")
                try:
                    result = client.invoke(name, req, use_cache=use_cache and r == 0)
                except ClientError as exc:
                    cell.error = exc.message
                    done += repeat - r
                    break
                done += 1
                cell.ok = True
                if result.cache == "hit":
                    cell.cache = "hit"
                else:
                    cell.cache = result.cache if r == 0 else cell.cache
                    cell.latencies_s.append(result.latency_s)
                    busy = result.server_s if result.server_s is not None else result.latency_s
                    cell.busy_per_image_s.append(busy / max(1, len(result.outputs)))
                meta[name].update(model_id=result.model_id, model_revision=result.model_revision)
                if r == 0:
                    cell.outputs = _save(images, i, name, result.outputs, out_dir)
            cells.append(cell)
    if progress:
        progress(total, total, "done")
    summaries = [_summary(client, n, [c for c in cells if c.target == n], meta[n]) for n in names]
    identical: list[bool | None] = []
    for i in range(len(prompts)):
        firsts = [
            c.outputs[0]["sha256"] for c in cells if c.prompt_index == i and c.ok and c.outputs
        ]
        identical.append(len(set(firsts)) == 1 if len(firsts) > 1 else None)
    return Comparison(
        prompts, request, summaries, cells, identical, started, time.perf_counter() - t0
    )


def _save(images: Path, i: int, name: str, outputs, out_dir: Path) -> list[dict[str, Any]]:
    saved = []
    for k, out in enumerate(outputs):
        ext = EXT.get(out.content_type.split(";")[0].strip(), "bin")
        suffix = f"-{k + 1}" if len(outputs) > 1 else ""
        path = images / f"p{i + 1:02d}-{name}{suffix}.{ext}"
        path.write_bytes(out.data)
        saved.append(
            {
                "path": path.relative_to(out_dir).as_posix(),
                "sha256": hashlib.sha256(out.data).hexdigest(),
                "content_type": out.content_type,
                "seed": out.seed,
                "bytes": len(out.data),
            }
        )
    return saved


def _summary(client: Client, name: str, cells: list[Cell], meta: dict) -> TargetSummary:
    latencies = [x for c in cells for x in c.latencies_s]
    busy = [x for c in cells for x in c.busy_per_image_s]
    kind = client.targets.get(name).kind
    price, basis = None, "target could not be resolved"
    try:
        resolved = client.resolved(name)
    except ClientError:
        resolved = None
    if resolved is not None:
        if resolved.price_per_image is not None:
            price, basis = resolved.price_per_image, resolved.price_note
        elif resolved.price_per_hour is not None and busy:
            med = statistics.median(busy)
            price = resolved.price_per_hour * med / 3600
            basis = f"${resolved.price_per_hour:g}/h × {med:.3f} s/image (median, this run)"
        elif resolved.price_per_hour is not None:
            basis = f"${resolved.price_per_hour:g}/h; no live calls to measure"
        else:
            basis = resolved.price_note or "no price"
    return TargetSummary(
        name=name,
        kind=kind,
        calls=len(latencies),
        cached=sum(1 for c in cells if c.cache == "hit"),
        errors=sum(1 for c in cells if not c.ok),
        p50_s=percentile(latencies, 50),
        p95_s=percentile(latencies, 95),
        usd_per_image=price,
        price_basis=basis,
        model_id=meta.get("model_id"),
        model_revision=meta.get("model_revision"),
    )
