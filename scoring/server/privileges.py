"""Which user the server runs as: root where a cloud requires it, the image's unprivileged
user (``GENAI_RUN_AS``) everywhere else.

The image starts as root because one cloud requires it: a contract whose descriptor names
the cloud's page saying so (``Descriptor.requires_root``) keeps root, since that platform
writes the model folder with modes of its choosing. Every other contract gives root up
before it reads a weight or a request: the folder fetched weights go to is created and
handed to the user first (the one thing that may need root), then supplementary groups,
gid and uid go, for good (``setuid`` from root also drops the saved uid).

Nothing changes when ``GENAI_RUN_AS`` is unset (local runs, the tests) or the process did
not start as root (a cloud that already starts it unprivileged).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from scoring.server.contracts import CONTRACTS, Contract
from scoring.server.settings import ServerSettings

log = logging.getLogger("scoring.server")


class PrivilegeError(RuntimeError):
    """Root could not be given up; the message is one line saying what would work."""


@dataclass(frozen=True)
class Decision:
    drop_to: int | None  # the uid (and gid) to become; None: stay the user we started as
    reason: str


def decide(contract: str, run_as: int | None, euid: int) -> Decision:
    """Whether a server of ``contract``, started as ``euid``, gives root up to ``run_as``."""
    if run_as is None:
        return Decision(None, "GENAI_RUN_AS is unset")
    required_by = CONTRACTS[contract].requires_root
    if required_by:
        return Decision(None, f"the {contract} contract requires root ({required_by})")
    if euid != 0:
        return Decision(None, f"started as uid {euid}, not root: nothing to give up")
    return Decision(run_as, f"the {contract} contract allows an unprivileged user")


def drop(uid: int, gid: int, writable: Path) -> None:
    """Hand ``writable`` to ``uid``, then become ``uid``:``gid`` with no other groups."""
    step = f"preparing {writable}"
    try:
        writable.mkdir(parents=True, exist_ok=True)
        if writable.stat().st_uid != uid:
            os.chown(writable, uid, gid)
        step = "setgroups"
        os.setgroups([])
        step = "setgid"
        os.setgid(gid)
        step = "setuid"
        os.setuid(uid)
    except OSError as exc:
        raise PrivilegeError(
            f"cannot give up root for uid {uid} ({step}: {exc.strerror or exc}); allowed: "
            "start the container as root with CAP_SETUID and CAP_SETGID, start it as uid "
            f"{uid}, or unset GENAI_RUN_AS to keep root"
        ) from None
    if (os.getuid(), os.geteuid(), os.getgid(), os.getegid()) != (uid, uid, gid, gid):
        raise PrivilegeError(
            f"gave up root for uid {uid} but run as uid {os.geteuid()} gid {os.getegid()}; "
            "allowed: start the container as root, or unset GENAI_RUN_AS"
        )
    if not os.access(writable, os.W_OK | os.X_OK):  # a parent uid cannot pass, say
        raise PrivilegeError(
            f"uid {uid} cannot write {writable}; allowed: a GENAI_CACHE_DIR under a folder "
            "every user may enter (/tmp), or unset GENAI_RUN_AS to keep root"
        )


def settle(contract: Contract, settings: ServerSettings) -> None:
    """Called once by the server's main, before the weights or a request are read; a drop
    that fails stops the process (exit 2) with one line."""
    decision = decide(contract.name, settings.run_as, os.geteuid())
    if decision.drop_to is None:
        log.info("running as uid %d: %s", os.geteuid(), decision.reason)
        return
    try:
        drop(decision.drop_to, decision.drop_to, settings.cache_dir)
    except PrivilegeError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    log.info("running as uid %d: %s", decision.drop_to, decision.reason)
