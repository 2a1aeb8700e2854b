"""The Pulumi program: read config once → one component per enabled cloud → outputs.

``pulumi up`` runs this file as a script (``main: infra/`` in ``Pulumi.yaml``);
``infra.synth`` imports it and calls :func:`main` under the mock runtime. A config mistake
stops the program with one message and no traceback (``pulumi.RunError``).
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script by the Pulumi language host
    sys.path.insert(0, str(PROJECT_DIR))

import pulumi  # noqa: E402

from infra.clouds import CLOUDS  # noqa: E402
from infra.config import ConfigError, load  # noqa: E402


def main(project_dir: Path | None = None, package_dir: Path | None = None) -> None:
    """Compose the stack. ``package_dir`` overrides ``genai-endpoints:package``."""
    try:
        cfg = load(project_dir or PROJECT_DIR, package_dir)
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    pulumi.export("environment", cfg.environment)
    pulumi.export("task", cfg.settings.task)
    for name, plan in cfg.plans.items():
        CLOUDS[name].deploy(cfg, plan)


if __name__ == "__main__":
    main()
