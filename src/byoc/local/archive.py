"""``model.tar.gz`` both ways: unpacked for an endpoint, packed after a training job."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

__all__ = ["pack", "unpack_model"]


def unpack_model(archive: Path) -> Path:
    """Unpack ``model.tar.gz`` into a temporary directory (refusing paths that escape it)."""
    target = Path(tempfile.mkdtemp(prefix="byoc-model-"))
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    target.chmod(0o755)
    return target


def pack(directory: Path, archive: Path) -> Path:
    """``directory``'s contents into ``archive`` (``model.tar.gz`` layout: no top folder)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(directory.iterdir()):
            tar.add(item, arcname=item.name)
    return archive
