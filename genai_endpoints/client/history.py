"""Measured calls, kept locally in SQLite: what the selector ranks targets by.

One row per live call (cache hits are not measurements). The file lives under the user's
state folder unless the targets file, ``--history`` or ``GENAI_CLIENT_HISTORY`` says where.
Rows hold timings, status and a one-line error (already redacted), never a request body.
"""

from __future__ import annotations

import math
import os
import sqlite3
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    target TEXT NOT NULL,
    identity TEXT NOT NULL,
    task TEXT,
    ok INTEGER NOT NULL,
    status TEXT,
    error TEXT,
    latency_s REAL,
    server_s REAL,
    images INTEGER
);
CREATE INDEX IF NOT EXISTS calls_target_at ON calls (target, at);
"""


def default_history_path() -> Path:
    env = os.environ.get("GENAI_CLIENT_HISTORY")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir("genai-endpoints")) / "history.sqlite3"


@dataclass(frozen=True)
class Stats:
    """A target's recent record: latency per call and busy seconds per image, p50/p95."""

    calls: int
    errors: int
    p50_s: float | None
    p95_s: float | None
    busy_per_image_s: float | None  # server-reported GPU time (else latency) per image

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0-100) of ``values``."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=10, check_same_thread=False)
        # WAL + NORMAL: a row per call costs no fsync; several processes may share the file
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def record(
        self,
        *,
        target: str,
        identity: str,
        task: str | None,
        ok: bool,
        status: str | None = None,
        error: str | None = None,
        latency_s: float | None = None,
        server_s: float | None = None,
        images: int = 0,
        at: float | None = None,
    ) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO calls (at, target, identity, task, ok, status, error, latency_s, "
                "server_s, images) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (at or time.time(), target, identity, task, int(ok), status, error,
                 latency_s, server_s, images),
            )  # fmt: skip

    def stats(
        self, target: str, *, task: str | None = None, last: int = 200, days: float = 30
    ) -> Stats | None:
        """The last ``last`` calls of ``target`` within ``days`` (optionally of one task)."""
        query = "SELECT ok, latency_s, server_s, images FROM calls WHERE target = ? AND at >= ?"
        args: list = [target, time.time() - days * 86400]
        if task:
            query += " AND (task = ? OR task IS NULL)"
            args.append(task)
        query += " ORDER BY at DESC LIMIT ?"
        args.append(last)
        rows = self.db.execute(query, args).fetchall()
        if not rows:
            return None
        ok_rows = [r for r in rows if r[0]]
        latencies = [r[1] for r in ok_rows if r[1] is not None]
        per_image = [
            (r[2] if r[2] is not None else r[1]) / max(1, r[3]) for r in ok_rows if r[1] is not None
        ]
        return Stats(
            calls=len(rows),
            errors=len(rows) - len(ok_rows),
            p50_s=percentile(latencies, 50),
            p95_s=percentile(latencies, 95),
            busy_per_image_s=statistics.median(per_image) if per_image else None,
        )

    def close(self) -> None:
        self.db.close()
