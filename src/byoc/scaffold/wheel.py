"""A wheel of the running byoc, for a generated project's ``wheels/`` (until byoc is on PyPI).

From a source checkout (an editable install, ``pip install -e``) the wheel is built with
``pip wheel --no-deps`` from a copy of the source tree — the checkout itself gets no
``build/`` or ``*.egg-info``. From a regular install the installed files listed in the
distribution's ``RECORD`` are packed back into a wheel. Either way the zip's timestamps
are fixed (``SOURCE_DATE_EPOCH``), so the same byoc gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

__all__ = ["WheelError", "byoc_wheel"]

# 1980-01-01, the earliest time a zip entry can carry.
EPOCH = 315532800
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class WheelError(RuntimeError):
    """byoc's wheel could not be built (the message says why and what to do)."""


def _source_tree(dist: metadata.Distribution) -> Path | None:
    """The checkout of an editable install (``pyproject.toml`` and ``src/byoc``), if any."""
    raw = dist.read_text("direct_url.json")
    if not raw:
        return None
    info = json.loads(raw)
    url = str(info.get("url", ""))
    if not info.get("dir_info", {}).get("editable") or not url.startswith("file://"):
        return None
    root = Path(url.removeprefix("file://"))
    return (
        root if (root / "pyproject.toml").is_file() and (root / "src" / "byoc").is_dir() else None
    )


def _build_from_source(root: Path, work: Path) -> Path:
    tree = work / "byoc"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, tree / name)
    shutil.copytree(
        root / "src",
        tree / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    out = work / "dist"
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH), PIP_DISABLE_PIP_VERSION_CHECK="1")
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out)]
    result = subprocess.run(
        [*command, str(tree)], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    wheels = sorted(out.glob("byoc-*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        raise WheelError(f"pip wheel {root} failed:\n{result.stderr.strip()[-2000:]}")
    return wheels[0]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _repack_installed(dist: metadata.Distribution, work: Path) -> Path:
    """The installed files of ``dist`` (its ``RECORD``) packed back into a wheel."""
    files = dist.files or []
    info_dir = f"byoc-{dist.version}.dist-info"
    skip = {f"{info_dir}/{name}" for name in ("RECORD", "INSTALLER", "REQUESTED")}
    skip.add(f"{info_dir}/direct_url.json")
    entries: list[tuple[str, bytes]] = []
    for file in files:
        name = file.as_posix()
        if name.startswith("..") or name.endswith(".pyc") or name in skip:
            continue  # console scripts (bin/) are made again by pip from entry_points.txt
        entries.append((name, Path(str(file.locate())).read_bytes()))
    if not any(name.startswith("byoc/") for name, _ in entries):
        raise WheelError("the installed byoc lists no files of its own in RECORD")
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d in sorted(entries))
    entries.append((f"{info_dir}/RECORD", (record + f"{info_dir}/RECORD,,\n").encode()))
    path = work / f"byoc-{dist.version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(entries, key=lambda item: item[0].endswith("/RECORD")):
            entry = zipfile.ZipInfo(name, _ZIP_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return path


def byoc_wheel() -> tuple[str, bytes]:
    """``(file name, bytes)`` of a wheel of the byoc that is running."""
    try:
        dist = metadata.distribution("byoc")
    except metadata.PackageNotFoundError:
        raise WheelError(
            "byoc is importable but not installed (no byoc.dist-info): install it with pip"
        ) from None
    with tempfile.TemporaryDirectory(prefix="byoc-wheel-") as temp:
        work = Path(temp)
        root = _source_tree(dist)
        path = _build_from_source(root, work) if root else _repack_installed(dist, work)
        return path.name, path.read_bytes()
