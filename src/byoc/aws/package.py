"""A deterministic ``model.tar.gz``: model files at the root, the handler under ``code/``.

The same input gives the same bytes: entries sorted, mtimes 0, owner 0:0 with no names,
modes 0644/0755, and a gzip header with no name or time. Byte-code caches are left out
(they embed mtimes); symlinks are stored as the files they point to.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

__all__ = ["Archive", "package_model"]

_SKIPPED_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints"}
_SKIPPED_FILES = {".DS_Store"}


@dataclass(frozen=True)
class Archive:
    path: Path
    files: tuple[str, ...]
    size: int
    sha256: str
    skipped: tuple[str, ...]


def _walk(
    root: Path, prefix: str, skipped: list[str], exclude: set[Path], seen: set[tuple[int, int]]
) -> list[tuple[str, Path]]:
    entries: list[tuple[str, Path]] = []
    info = root.stat()
    if (info.st_dev, info.st_ino) in seen:
        raise InputError(f"{root} is a symlink loop (it leads back to a directory above it)")
    seen = {*seen, (info.st_dev, info.st_ino)}
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        name = f"{prefix}{path.name}"
        if path.is_symlink() and not path.exists():
            raise InputError(f"{path} is a broken symlink (to {os.readlink(path)})")
        if path.resolve() in exclude:
            continue
        if path.is_dir():
            if path.name in _SKIPPED_DIRS:
                skipped.append(name + "/")
                continue
            entries.append((name + "/", path))
            entries.extend(_walk(path, name + "/", skipped, exclude, seen))
        elif path.name in _SKIPPED_FILES or path.suffix == ".pyc":
            skipped.append(name)
        elif path.is_file():
            if not os.access(path, os.R_OK):
                raise InputError(f"{path} is not readable")
            entries.append((name, path))
        else:
            raise InputError(f"{path} is not a regular file or directory")
    return entries


def _info(name: str, path: Path) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.rstrip("/"))
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if name.endswith("/"):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        stat = path.stat()
        info.size = stat.st_size
        info.mode = 0o755 if stat.st_mode & 0o111 else 0o644  # the same for every user
    return info


def package_model(model_dir: Path, output: Path, code_dir: Path | None = None) -> Archive:
    """Write ``output`` from ``model_dir`` (and ``code_dir`` as ``code/``)."""
    if not model_dir.is_dir():
        raise InputError(f"model directory {model_dir} does not exist or is not a directory")
    skipped: list[str] = []
    partial = output.with_name(output.name + ".partial")
    exclude = {output.resolve(), partial.resolve()}  # `byoc package .` twice gives the same
    entries = _walk(model_dir, "", skipped, exclude, set())
    if code_dir is not None:
        if not code_dir.is_dir():
            raise InputError(f"code directory {code_dir} does not exist or is not a directory")
        if any(name == "code/" for name, _ in entries):
            raise InputError(f"{model_dir} already has a code/ directory; drop --code or remove it")
        entries.append(("code/", code_dir))
        entries.extend(_walk(code_dir, "code/", skipped, exclude, set()))
        entries.sort(key=lambda entry: entry[0])
    if not any(not name.endswith("/") for name, _ in entries):
        raise InputError(f"{model_dir} holds no files: nothing to package")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        _write(partial, entries)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(f"packaging {model_dir} failed: {exc}") from exc
    partial.replace(output)
    digest = hashlib.sha256()
    with output.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    files = tuple(name for name, _ in entries if not name.endswith("/"))
    return Archive(output, files, output.stat().st_size, digest.hexdigest(), tuple(skipped))


def _write(partial: Path, entries: list[tuple[str, Path]]) -> None:
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, path in entries:
            info = _info(name, path)
            if info.isdir():
                tar.addfile(info)
            else:
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
