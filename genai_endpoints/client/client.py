"""The Python API: send one request schema to any target, by name or by priority.

```python
from genai_endpoints.client import Client

with Client.from_file("targets.yaml") as client:
    result = client.generate({"prompt": "a lighthouse", "seed": 7}, priority="cost")
    open("out.png", "wb").write(result.outputs[0].data)
```

``generate`` without a target asks the selector for an order and falls back to the next
target on 429, 5xx, a timeout or a dropped connection; a request the backend cannot honour
moves on too, while a 4xx (a bad request) stops at once. Every live call is recorded in the
history the selector reads; seeded calls are cached.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genai_endpoints.client.cache import Cache, cache_key
from genai_endpoints.client.errors import CallError, ClientError, ConfigError, UnsupportedRequest
from genai_endpoints.client.history import History, default_history_path
from genai_endpoints.client.resolve import Resolved, resolve
from genai_endpoints.client.retry import with_retries
from genai_endpoints.client.selector import Candidate, Priority, candidate, rank
from genai_endpoints.client.targets import TargetsFile, load_targets
from genai_endpoints.client.transports.base import Answer, Output, Transport
from scoring.schema import GenerationRequest, Task, requested_task

Progress = Callable[[str], None]


@dataclass
class Result:
    target: str
    kind: str
    outputs: list[Output]
    latency_s: float  # wall time of this call, retries included (a cache read for a hit)
    cache: str  # hit | miss | off
    cache_note: str = ""  # why off; for a miss on a damaged entry, what it was and its heal
    attempts: int = 1
    model_id: str | None = None
    model_revision: str | None = None
    server_s: float | None = None
    cost_usd: float | None = None
    seeded: bool = True
    fallbacks: list[str] = field(default_factory=list)

    @property
    def seed(self) -> int | None:
        return self.outputs[0].seed if self.outputs else None


def as_request(request: GenerationRequest | dict[str, Any]) -> GenerationRequest:
    if isinstance(request, GenerationRequest):
        return request
    from scoring.errors import ScoringError
    from scoring.schema import parse_request

    try:
        return parse_request(request)
    except ScoringError as exc:
        raise UnsupportedRequest(exc.message, field=exc.field) from None


def default_cache_location(targets: TargetsFile) -> str:
    env = os.environ.get("GENAI_CLIENT_CACHE")
    if env:
        return env
    if targets.cache:
        return targets.cache
    from platformdirs import user_cache_dir

    return str(Path(user_cache_dir("genai-endpoints")) / "outputs")


class Client:
    def __init__(
        self,
        targets: TargetsFile,
        *,
        cache: Cache | None = None,
        history: History | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.targets = targets
        self.cache = cache
        self.history = history
        self.sleep = sleep
        self._resolved: dict[str, Resolved] = {}
        self._failed: dict[str, ClientError] = {}

    @classmethod
    def from_file(
        cls,
        path: Path | str,
        *,
        cache: str | bool | None = None,
        history: Path | str | None = None,
    ) -> Client:
        """``cache``: a location, False for none, None for env/file/default; ``history``:
        a SQLite path, None for env/file/default."""
        targets = load_targets(Path(path))
        store = None
        if cache is not False:
            location = cache if isinstance(cache, str) else default_cache_location(targets)
            store = Cache.at(location)
        if history is not None:
            hist_path = Path(history)
        elif os.environ.get("GENAI_CLIENT_HISTORY"):
            hist_path = default_history_path()
        else:
            hist_path = targets.history or default_history_path()
        return cls(targets, cache=store, history=History(hist_path))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for r in self._resolved.values():
            r.transport.close()
        if self.history:
            self.history.close()

    # -- targets -----------------------------------------------------------------------
    def resolved(self, name: str) -> Resolved:
        if name in self._failed:
            raise self._failed[name]
        if name not in self._resolved:
            target = self.targets.get(name)
            try:
                self._resolved[name] = resolve(target)
            except ClientError as exc:
                err = ConfigError(f"target {name}: {exc.message}")
                self._failed[name] = err
                raise err from None
        return self._resolved[name]

    def candidates(self, task: Task | None = None) -> list[Candidate]:
        out = []
        for target in self.targets.targets:
            try:
                out.append(candidate(self.resolved(target.name), self.history, task))
            except ClientError as exc:
                out.append(
                    Candidate(target.name, target.kind, None, None, None, "", target.quality_score,
                              unavailable=exc.message)
                )  # fmt: skip
        return out

    def select(
        self, priority: Priority | str = Priority.BALANCED, task: Task | str | None = None
    ) -> list[Candidate]:
        """All targets, the best first for ``priority``; unusable ones last with a reason."""
        task = Task(task) if isinstance(task, str) else task
        return rank(self.candidates(task), Priority(priority))

    # -- calls -------------------------------------------------------------------------
    def invoke(
        self,
        name: str,
        request: GenerationRequest | dict[str, Any],
        *,
        progress: Progress | None = None,
        use_cache: bool = True,
    ) -> Result:
        """One target, no fallback: retries on 429/503 within the target's budget."""
        req = as_request(request)
        resolved = self.resolved(name)
        target, transport = resolved.target, resolved.transport
        transport.check(req)
        call_req = req if transport.seeded else req.model_copy(update={"seed": None})
        task = requested_task(req)

        key, note = (None, "cache off")
        if self.cache is not None and use_cache:
            key, note = cache_key(transport, call_req)
        start = time.perf_counter()
        if key:
            hit = self.cache.get(key)
            if hit is not None:
                a = hit.answer
                return Result(
                    name, target.kind, a.outputs, time.perf_counter() - start, "hit",
                    f"cached {time.strftime('%Y-%m-%d %H:%M', time.localtime(hit.created))}",
                    0, a.model_id, a.model_revision, a.server_s, 0.0, transport.seeded,
                )  # fmt: skip

        attempt_start = [start]

        def attempt():
            attempt_start[0] = time.perf_counter()
            return transport.call(call_req, target.timeout_s, progress)

        def on_wait(exc: CallError, seconds: float) -> None:
            if progress:
                progress(f"{name}: {exc.kind}, retrying in {seconds:.1f} s")

        try:
            answer, attempts = with_retries(
                attempt, budget_s=target.retry_budget_s, sleep=self.sleep, on_wait=on_wait
            )
        except CallError as exc:
            latency = time.perf_counter() - attempt_start[0]
            self._record(name, transport.identity, task, ok=False, status=exc.kind,
                         error=exc.message, latency_s=latency)  # fmt: skip
            raise
        end = time.perf_counter()
        last_latency = end - attempt_start[0]
        self._record(name, transport.identity, task, ok=True, status="ok", latency_s=last_latency,
                     server_s=answer.server_s, images=len(answer.outputs))  # fmt: skip
        if key:
            note = _healed_note(self.cache, key, transport, call_req, answer) or note
        return Result(
            name, target.kind, answer.outputs, end - start, "miss" if key else "off", note,
            attempts, answer.model_id or transport.model_id,
            answer.model_revision or transport.model_revision, answer.server_s,
            self._cost(resolved, answer.server_s, last_latency, len(answer.outputs)),
            transport.seeded,
        )  # fmt: skip

    def generate(
        self,
        request: GenerationRequest | dict[str, Any],
        *,
        target: str | None = None,
        priority: Priority | str = Priority.BALANCED,
        progress: Progress | None = None,
        use_cache: bool = True,
    ) -> Result:
        """``target`` alone, or the selector's order with fallback on 429/5xx/timeout."""
        req = as_request(request)
        if target is not None:
            return self.invoke(target, req, progress=progress, use_cache=use_cache)
        ranked = self.select(priority, requested_task(req))
        usable = [c for c in ranked if c.unavailable is None]
        if not usable:
            why = "; ".join(f"{c.name}: {c.reason}" for c in ranked)
            raise ConfigError(f"no target can take this request ({why})")
        tried: list[str] = []
        for c in usable:
            try:
                result = self.invoke(c.name, req, progress=progress, use_cache=use_cache)
            except CallError as exc:
                if not exc.fallback_ok:
                    raise
                tried.append(f"{c.name}: {exc.message}")
            except (UnsupportedRequest, ConfigError) as exc:
                tried.append(f"{c.name}: {exc.message}")
            else:
                result.fallbacks = tried
                return result
            if progress:
                progress(f"{c.name} failed; trying the next target")
        raise CallError(f"every target failed: {' | '.join(tried)}")

    # -- helpers -----------------------------------------------------------------------
    def _record(self, name: str, identity: str, task: Task | None, **fields) -> None:
        if self.history is not None:
            self.history.record(
                target=name, identity=identity, task=task.value if task else None, **fields
            )

    @staticmethod
    def _cost(
        resolved: Resolved, server_s: float | None, latency_s: float | None, images: int
    ) -> float | None:
        """This call's estimated cost: list price × images, or $/hour × busy seconds."""
        if resolved.price_per_image is not None:
            return resolved.price_per_image * images
        busy = server_s if server_s is not None else latency_s
        if resolved.price_per_hour is not None and busy is not None:
            return resolved.price_per_hour * busy / 3600
        return None


def _healed_note(
    cache: Cache, key: str, transport: Transport, req: GenerationRequest, answer: Answer
) -> str:
    """Store a live answer; say so when it replaced a damaged entry (else "")."""
    damage = cache.damage(key)
    healed = cache.put(key, transport, req, answer)
    return (
        f"damaged entry ({damage or 'a blob did not match its sha256'}), rewritten"
        if healed
        else ""
    )
