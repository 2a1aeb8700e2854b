"""The one runtime image (docs/architecture.md) as the program sees it: built here, or given.

Either ``pulumi up`` builds ``runtime/Dockerfile`` from the project folder with BuildKit
(``pulumi-docker-build``) and pushes it, by digest, to each enabled cloud's own registry —
or the stack names an image the team built and pushed in its own pipeline::

    genai-endpoints:runtime:
      image: REGISTRY/REPO@sha256:<64 hex>          # every enabled cloud, or per cloud:
      aws: 123456789012.dkr.ecr.us-east-1.amazonaws.com/genai-runtime@sha256:<64 hex>
      gcp: us-central1-docker.pkg.dev/PROJECT/REPO/genai-runtime@sha256:<64 hex>
      azure: REGISTRY.azurecr.io/genai-runtime@sha256:<64 hex>

A given image must be pinned by digest (a tag alone is refused: tags move). Either way every
model resource names the image as ``repo@sha256:…``, so a new image is a new model version
and a blue/green rollout on every cloud.

Built images are pushed *by digest only* (no tag): tags in the repositories stay immutable
and a rebuild never collides with a tag that is already there. A package records the
sha256 of the serving lock it was built and tested against; building from a checkout whose
``runtime/serve.lock`` differs is refused (rebuild the package, or check out its commit).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from infra.common import NAMESPACE, ConfigError, Section

if TYPE_CHECKING:
    import pulumi

    from infra.manifest import PackageManifest

PLATFORM = "linux/amd64"  # every GPU instance type in the catalog is x86_64
IMAGE_NAME = "genai-runtime"  # the repository name in each cloud's registry
_PINNED = re.compile(
    r"^(?P<repo>[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+)"
    r"(:[\w][\w.-]{0,127})?@(?P<digest>sha256:[0-9a-f]{64})$"
)
PINNED_FORM = "REGISTRY/REPO@sha256:<64 hex> (the digest `docker buildx build --push` prints)"


def check_pinned(value: str) -> str:
    """``value`` if it is a registry image pinned by digest, else a one-line ValueError."""
    if "@" not in value:
        raise ValueError(f"not pinned by a digest (a tag can move); allowed: {PINNED_FORM}")
    if not _PINNED.fullmatch(value):
        raise ValueError(f"not a registry image reference; allowed: {PINNED_FORM}")
    return value


def split_pinned(value: str) -> tuple[str, str]:
    """``(repository without tag, sha256:…)`` of a pinned reference."""
    m = _PINNED.fullmatch(value)
    assert m is not None, value
    return m["repo"], m["digest"]


class RuntimeSection(Section):
    """``genai-endpoints:runtime``: images built elsewhere; unset: ``pulumi up`` builds."""

    image: str | None = None
    aws: str | None = None
    gcp: str | None = None
    azure: str | None = None

    @field_validator("image", "aws", "gcp", "azure")
    @classmethod
    def _pinned(cls, v: str | None) -> str | None:
        return None if v is None else check_pinned(v)

    def given(self, cloud: str) -> str | None:
        return getattr(self, cloud) or self.image


@dataclass(frozen=True)
class ImageSource:
    """Where a cloud's serving image comes from: ``pinned`` (given) or a build here."""

    pinned: str | None
    context: Path | None = None
    dockerfile: Path | None = None
    lock_sha256: str | None = None

    @property
    def built(self) -> bool:
        return self.pinned is None


def image_source(
    runtime: RuntimeSection, cloud: str, manifest: PackageManifest, project_dir: Path
) -> ImageSource:
    """The image plan for ``cloud`` (the config key ``aws``/``gcp``/``azure``)."""
    given = runtime.given(cloud)
    if given:
        return ImageSource(pinned=given)
    rt = manifest.runtime
    dockerfile = project_dir / rt.dockerfile
    lock = project_dir / rt.lock
    if not dockerfile.is_file():
        raise ConfigError(
            f"{NAMESPACE}:runtime.{cloud} is unset, so `pulumi up` builds the runtime image, but "
            f"{dockerfile} does not exist; allowed: run from a checkout holding "
            f"{rt.dockerfile}, or set {NAMESPACE}:runtime.{cloud} (or runtime.image) to "
            f"{PINNED_FORM}"
        )
    have = hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else "missing"
    if have != rt.lock_sha256:
        raise ConfigError(
            f"{NAMESPACE}:package: the {manifest.cloud} package was built against {rt.lock} "
            f"sha256 {rt.lock_sha256[:12]}…, this checkout's is {have[:12]}…; the image built "
            "here would not serve what the package was tested with; allowed: rebuild the "
            "package from this checkout, or check out the commit it was built from"
        )
    return ImageSource(
        pinned=None, context=project_dir, dockerfile=dockerfile, lock_sha256=rt.lock_sha256
    )


def _local(path: Path) -> str:
    """A path as the provider should see it: relative to the working folder when inside it
    (``pulumi up`` runs in the project folder, so state does not depend on the machine)."""
    try:
        rel = path.resolve().relative_to(Path(os.getcwd()).resolve())
    except ValueError:
        return str(path.resolve())
    return rel.as_posix() or "."


def pushed_image(
    name: str,
    source: ImageSource,
    repository: pulumi.Input[str],
    registry: Any,
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> pulumi.Output[str]:
    """``repository@sha256:…``: the given image, or one built from the project folder and
    pushed by digest to ``repository`` with ``registry`` (a ``RegistryArgs``; secret password).

    The build does not run on previews (``buildOnPreview: false``): a preview needs neither
    Docker nor registry access, and shows the digest as unknown.
    """
    import pulumi
    import pulumi_docker_build as docker_build

    if source.pinned:
        return pulumi.Output.from_input(source.pinned)
    assert source.context is not None and source.dockerfile is not None
    image = docker_build.Image(
        name,
        push=False,  # the registry export below pushes, by digest and without a tag
        exports=[
            docker_build.ExportArgs(
                registry=docker_build.ExportRegistryArgs(
                    names=[repository], push=True, push_by_digest=True
                )
            )
        ],
        context=docker_build.BuildContextArgs(location=_local(source.context)),
        dockerfile=docker_build.DockerfileArgs(location=_local(source.dockerfile)),
        platforms=[docker_build.Platform.LINUX_AMD64],
        registries=[registry],
        labels={
            "org.opencontainers.image.title": IMAGE_NAME,
            "genai-endpoints.serve-lock-sha256": source.lock_sha256 or "",
            **labels,
        },
        build_on_preview=False,
        opts=opts,
    )
    return pulumi.Output.all(repository, image.digest).apply(lambda v: f"{v[0]}@{v[1]}")
