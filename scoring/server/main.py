"""Start the server: pick the contract, load the model in the background, run uvicorn.

uvicorn (one process, one event loop) is the HTTP stack: a model lives in one process
per GPU, so there is nothing for extra workers to share; uvicorn gives a real listen
backlog, keep-alive handling, and a graceful drain on SIGTERM (stop accepting, let
requests in flight finish within ``GENAI_GRACEFUL_SHUTDOWN_S``, exit 0).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scoring.server.caps import mode_limit
from scoring.server.contracts import CONTRACTS, DESCRIPTORS, Contract, ContractError, detect
from scoring.server.privileges import settle as settle_user
from scoring.server.settings import ServerSettings, check_names

if TYPE_CHECKING:
    from scoring.server.startup import StartupPhases

log = logging.getLogger("scoring.server")


def load_scorer(
    contract: Contract,
    settings: ServerSettings,
    env: Mapping[str, str],
    stop: threading.Event | None = None,
):
    """Fetch (from gs://) and verify the weights, then load the engine. Runs in a thread;
    ``stop`` (set at shutdown) ends a fetch still running. The weights are read and hashed
    on threads while torch and diffusers import, and loaded from the bytes that were
    hashed (``scoring.server.weight_reads``); every phase is timed
    (``scoring.server.startup``). The settings models read the process environment;
    ``env`` (the contract's) is not consulted again here."""
    from scoring.server.caps import limits_for, roomier
    from scoring.server.startup import StartupPhases
    from scoring.settings import EngineSettings

    phases = StartupPhases()
    limits = limits_for(contract, settings.mode)
    engine_settings = EngineSettings(limits=limits)
    if engine_settings.device == "cuda":
        with phases.timed("import"):
            from scoring.engine import require_device

            require_device(engine_settings.device)  # before minutes of fetching and hashing
    model_dir, info, reads = load_package(contract, settings, stop, phases)
    try:
        with phases.timed("import"):  # while the weights are read and hashed
            import_engine(model_dir)
        if reads is not None:
            phases.add("verify", reads.wait())  # no weight is used before all pass
        scorer = build_scorer(engine_settings, model_dir, info, reads)
    finally:
        if reads is not None:
            reads.close()
    engine = scorer.engine
    phases.seconds.update(engine.phases)  # all of the engine's start is in a phase:
    phases.add("load", engine.load_s - sum(engine.phases.values()))
    scorer.roomier = roomier(contract, limits.max_response_bytes)
    from scoring.server.warmup import warm_up

    with phases.timed("warm-up"):
        warm_up(scorer)  # before readiness: the first request pays no lazy initialisation
    scorer.startup = phases.report()
    return scorer


def import_engine(model_dir: Path) -> None:
    """The heavy imports, on their own so that their time is the ``import`` phase and
    runs while the weights are hashed: torch, diffusers' pipeline machinery and the
    classes ``model_index.json`` names (diffusers and transformers import their modules
    lazily, on first use: left to the load, they were most of its time)."""
    import torch  # noqa: F401

    from scoring.engine import quiet_loading

    quiet_loading()  # before the classes import: transformers warns as they resolve
    from diffusers import AutoPipelineForImage2Image, DiffusionPipeline  # noqa: F401

    import scoring.service  # noqa: F401
    from scoring.checkpoint import module_class
    from scoring.families import components, read_model_index

    try:
        index = read_model_index(model_dir)
    except Exception:  # the engine's load says what is wrong with it
        return
    for name in components(index):
        module_class(*index[name])


def build_scorer(engine_settings, model_dir: Path, info, reads):
    """The engine over ``model_dir``, with the package's model id, revision and variant;
    loaded from the verified bytes where ``reads`` holds them."""
    from contextlib import nullcontext

    from scoring.engine import Engine
    from scoring.service import Scorer

    update = {"model_dir": model_dir}
    if info is not None:
        if engine_settings.model_id is None and info.model_id:
            update["model_id"] = info.model_id
        if engine_settings.model_revision == "unpinned" and info.revision:
            update["model_revision"] = info.revision
        if info.variant:
            update["variant"] = info.variant
    with reads.serving() if reads is not None else nullcontext():  # read once
        return Scorer(Engine(engine_settings.model_copy(update=update)))


def load_package(
    contract: Contract,
    settings: ServerSettings,
    stop: threading.Event | None = None,
    phases: StartupPhases | None = None,
):
    """The model folder, its package file list (fetched from gs://, checked against the
    digest the plan deployed, ``GENAI_WEIGHTS_DIGEST``) and the reads verifying its
    weights, already running (None where nothing is left to verify)."""
    from scoring.server.model import find_model_dir, read_package
    from scoring.server.weight_reads import VerifiedReads

    source = contract.model_source
    verify = settings.verify_weights
    if source.startswith("gs://"):
        from scoring.server.storage import fetch_gcs

        start = time.monotonic()
        root = fetch_gcs(source, settings.cache_dir, stop)
        if phases is not None:
            phases.add("fetch", time.monotonic() - start)
        verify = False  # every file was hashed while it downloaded
    else:
        root = Path(source.removeprefix("file://"))
    model_dir = find_model_dir(root)
    info = read_package(model_dir, verify=False, digest=settings.weights_digest)
    reads = VerifiedReads(model_dir, info.files) if verify and info is not None else None
    return model_dir, info, reads


class QuietProbes(logging.Filter):
    """Health probes arrive every few seconds on every cloud: log them only when they fail."""

    def __init__(self, contract: Contract) -> None:
        super().__init__()
        self.paths = {contract.liveness_route, contract.readiness_route}

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, _version, status = args
            return not (method == "GET" and path in self.paths and status == 200)
        return True


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    signs = ", ".join(f"{d.title} ({d.started_by})" for d in DESCRIPTORS)
    parser = argparse.ArgumentParser(
        prog="python -m scoring.server",
        description=(
            "Serve a packaged diffusers model under one cloud's custom-container contract, "
            f"chosen from the environment: {signs}, or "
            f"GENAI_CONTRACT={'|'.join(CONTRACTS)}. Settings: GENAI_* variables (README)."
        ),
    )
    passed = {arg: d.title for d in DESCRIPTORS for arg in d.args}
    parser.add_argument(
        "command",
        nargs="?",
        choices=list(passed),
        help=", ".join(f"{title} passes {arg!r}" for arg, title in passed.items()),
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    args = parse_args(argv)
    from scoring.determinism import apply_env

    apply_env()  # before torch loads: MKL reads its reproducibility mode once
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        check_names(env)
        contract = detect([args.command or ""], env)
        settings = ServerSettings()
        mode_limit(contract, settings.mode)
    except (ContractError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    settle_user(contract, settings)  # root only where the cloud requires it

    import uvicorn

    from scoring.server.app import ModelState, build_app

    state = ModelState()
    app = build_app(contract, settings, state)
    stopping = threading.Event()
    state.start(lambda: load_scorer(contract, settings, env, stopping))
    log.info(
        "%s contract on %s:%d (%s); model from %s",
        contract.name,
        settings.host,
        contract.port,
        ", ".join(f"{k} {v}" for k, v in contract.routes.items()),
        contract.model_source,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=contract.port,
        backlog=settings.backlog,
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
        lifespan="off",
        log_config=None,
        log_level=settings.log_level,
        access_log=settings.access_log,
        server_header=False,
        proxy_headers=False,
    )
    logging.getLogger("uvicorn.access").addFilter(QuietProbes(contract))
    # uvicorn drains on SIGTERM, then re-raises it under the handler it found: a no-op
    # handler makes a finished drain exit 0, which is what the clouds expect of a stop
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.Server(config).run()
    stopping.set()  # a weights fetch still running stops, rather than holding the exit
    if state.worker is not None:
        state.worker.shutdown()
    return 0
