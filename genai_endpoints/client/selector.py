"""Choose a target by cost, speed, quality or a balance of them, from measured history.

- cost: $/image — a managed API's list price (or ``price_per_image``), or our endpoint's
  $/instance-hour × the median GPU-busy seconds per image measured in history.
- speed: median (p50) latency of recent successful calls.
- quality: the ``quality_score`` the team declares per target. Nothing measures image
  quality here; it is the team's judgement, written down.
- balanced: the mean of each target's cost, p50 and quality relative to the best target
  (1.0 = best on that axis; an unknown axis counts as 3.0), times (1 + error rate).

Targets that cannot do the task are left out; those with half or more of their recent calls
failing (3 or more calls) go last. Ties break on p50, then on the file's order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from genai_endpoints.client.history import History, Stats
from genai_endpoints.client.resolve import Resolved
from scoring.schema import Task

UNKNOWN_PENALTY = 3.0


class Priority(StrEnum):
    COST = "cost"
    SPEED = "speed"
    QUALITY = "quality"
    BALANCED = "balanced"


@dataclass
class Candidate:
    name: str
    kind: str
    resolved: Resolved | None
    stats: Stats | None
    cost_per_image: float | None
    cost_basis: str
    quality: float | None
    unavailable: str | None = None  # why it cannot be used (resolution failed, task)
    score: float = math.inf
    reason: str = ""

    @property
    def healthy(self) -> bool:
        s = self.stats
        return not (s and s.calls >= 3 and s.error_rate >= 0.5)

    @property
    def p50(self) -> float | None:
        return self.stats.p50_s if self.stats else None


def cost_per_image(resolved: Resolved, stats: Stats | None) -> tuple[float | None, str]:
    if resolved.price_per_image is not None:
        return resolved.price_per_image, resolved.price_note
    if resolved.price_per_hour is not None:
        busy = stats.busy_per_image_s if stats else None
        if busy is not None:
            return (
                resolved.price_per_hour * busy / 3600,
                f"${resolved.price_per_hour:g}/h × {busy:.2f} s/image measured",
            )
        return None, f"${resolved.price_per_hour:g}/h; no measured calls yet"
    return None, resolved.price_note or "no price"


def candidate(resolved: Resolved, history: History | None, task: Task | None) -> Candidate:
    target = resolved.target
    stats = history.stats(target.name, task=task.value if task else None) if history else None
    cost, basis = cost_per_image(resolved, stats)
    c = Candidate(target.name, target.kind, resolved, stats, cost, basis, target.quality_score)
    if task is not None and resolved.tasks is not None and task not in resolved.tasks:
        can = ", ".join(t.value for t in resolved.tasks)
        c.unavailable = f"cannot do {task.value} (can do {can})"
    return c


def rank(candidates: list[Candidate], priority: Priority) -> list[Candidate]:
    """Usable candidates best first, then unusable ones (with their reason)."""
    usable = [c for c in candidates if c.unavailable is None]
    order = {c.name: i for i, c in enumerate(candidates)}
    # "best" comes from healthy targets: a failing one must not set the yardstick
    ref = [c for c in usable if c.healthy] or usable
    best_cost = min((c.cost_per_image for c in ref if c.cost_per_image), default=None)
    best_p50 = min((c.p50 for c in ref if c.p50), default=None)
    best_q = max((c.quality for c in ref if c.quality), default=None)

    for c in usable:
        rel_cost = c.cost_per_image / best_cost if c.cost_per_image and best_cost else None
        if c.cost_per_image == 0:
            rel_cost = 1.0
        rel_p50 = c.p50 / best_p50 if c.p50 and best_p50 else None
        rel_q = best_q / c.quality if c.quality and best_q else None
        if priority is Priority.COST:
            c.score = c.cost_per_image if c.cost_per_image is not None else math.inf
        elif priority is Priority.SPEED:
            c.score = c.p50 if c.p50 is not None else math.inf
        elif priority is Priority.QUALITY:
            c.score = -c.quality if c.quality is not None else math.inf
        else:
            parts = [v if v is not None else UNKNOWN_PENALTY for v in (rel_cost, rel_p50, rel_q)]
            err = c.stats.error_rate if c.stats else 0.0
            c.score = sum(parts) / 3 * (1 + err)
        c.reason = describe(c, priority)

    usable.sort(key=lambda c: (not c.healthy, c.score, c.p50 or math.inf, order[c.name]))
    rest = [c for c in candidates if c.unavailable is not None]
    for c in rest:
        c.reason = c.unavailable or ""
    return usable + rest


def describe(c: Candidate, priority: Priority) -> str:
    bits = []
    if c.cost_per_image is not None:
        bits.append(f"{dollars(c.cost_per_image)}/image ({c.cost_basis})")
    else:
        bits.append(f"$/image unknown ({c.cost_basis})")
    if c.stats and c.p50 is not None:
        calls = c.stats.calls
        bits.append(f"p50 {c.p50:.2f} s over {calls} call{'s' if calls != 1 else ''}")
    else:
        bits.append("no measured calls")
    if c.stats and c.stats.errors:
        bits.append(f"{c.stats.errors}/{c.stats.calls} recent calls failed")
    bits.append(
        f"quality {c.quality:g} (declared)" if c.quality is not None else "no quality_score"
    )
    if not c.healthy:
        bits.append("unhealthy: ranked last")
    if priority is Priority.BALANCED and math.isfinite(c.score):
        bits.append(f"balanced score {c.score:.2f} (1.00 = best on every axis)")
    return "; ".join(bits)


def dollars(amount: float) -> str:
    """$ with two significant digits below a cent: $0.000016, not $0.0000 or $1.6e-05."""
    if amount >= 0.01 or amount <= 0:
        return f"${amount:.4f}"
    return f"${amount:.{1 - math.floor(math.log10(amount))}f}"
