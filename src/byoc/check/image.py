"""Rules read from the image itself (``docker image inspect``): platform and labels.

Version labels: a version (``org.opencontainers.image.version`` or the older
``org.label-schema.version``) and a revision (``org.opencontainers.image.revision`` or
``org.label-schema.vcs-ref``), neither empty nor ``unknown``, so that a running endpoint
can be traced to the commit it was built from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..local import DockerError, docker
from .rules import RULES, Outcome, Status

__all__ = ["ImageInfo", "check_image", "inspect_image"]

VERSION_KEYS = ("org.opencontainers.image.version", "org.label-schema.version")
REVISION_KEYS = ("org.opencontainers.image.revision", "org.label-schema.vcs-ref")
BIND_LABEL = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"
MME_LABEL = "com.amazonaws.sagemaker.capabilities.multi-models"


@dataclass(frozen=True)
class ImageInfo:
    name: str
    os: str
    architecture: str
    labels: dict[str, str]

    def flag(self, label: str) -> bool:
        return self.labels.get(label, "").strip().lower() == "true"


def inspect_image(image: str) -> ImageInfo:
    """Raises ``DockerError`` when the image is not in the local Docker."""
    result = docker("image", "inspect", image, check=False)
    if result.returncode != 0:
        raise DockerError(f"image {image} is not in the local Docker (docker pull or build it)")
    data = json.loads(result.stdout)[0]
    labels = (data.get("Config") or {}).get("Labels") or {}
    return ImageInfo(image, data.get("Os", ""), data.get("Architecture", ""), dict(labels))


def _first(labels: dict[str, str], keys: tuple[str, ...]) -> tuple[str, str] | None:
    for key in keys:
        value = labels.get(key, "").strip()
        if value and value.lower() != "unknown":
            return key, value
    return None


def check_image(info: ImageInfo, wanted: set[str]) -> list[Outcome]:
    outcomes = []
    if "platform" in wanted:
        platform = f"{info.os}/{info.architecture}"
        ok = platform == "linux/amd64"
        outcomes.append(
            Outcome(
                RULES["platform"],
                Status.PASS if ok else Status.FAIL,
                platform,
                "SageMaker runs linux/amd64 (x86_64) images"
                + ("" if ok else ": this one fails there with 'exec format error'"),
            )
        )
    if "version-labels" in wanted:
        version = _first(info.labels, VERSION_KEYS)
        revision = _first(info.labels, REVISION_KEYS)
        found = [
            f"{key.rsplit('.', 1)[-1]}={value}" for key, value in filter(None, (version, revision))
        ]
        missing = [
            " or ".join(keys)
            for keys, got in ((VERSION_KEYS, version), (REVISION_KEYS, revision))
            if got is None
        ]
        outcomes.append(
            Outcome(
                RULES["version-labels"],
                Status.FAIL if missing else Status.PASS,
                ", ".join(found) or "none",
                f"missing (or 'unknown'): {'; '.join(missing)}"
                if missing
                else "a version and the revision it was built from",
            )
        )
    return outcomes
