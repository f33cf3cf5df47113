"""Write rendered files into a directory: never over a different file unless forced.

``compare`` says, for every file, whether the directory already holds it as is
(``same``), holds something else there (``differs``) or not at all (``new``); ``write``
refuses when anything differs unless ``force`` is given, and then writes only what is
not already the same. Files in the directory that the project does not name are left
alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .render import File, ScaffoldError

__all__ = ["Plan", "compare", "write"]


@dataclass(frozen=True)
class Plan:
    new: tuple[str, ...]
    same: tuple[str, ...]
    differs: tuple[str, ...]


def _mode(file: File) -> int:
    return 0o755 if file.executable else 0o644


def compare(directory: Path, files: Iterable[File]) -> Plan:
    new, same, differs = [], [], []
    for file in files:
        target = directory / file.path
        if not target.exists() and not target.is_symlink():
            new.append(file.path)
        elif (
            target.is_file()
            and not target.is_symlink()
            and target.read_bytes() == file.data
            and (target.stat().st_mode & 0o111 != 0) == file.executable
        ):
            same.append(file.path)
        else:
            differs.append(file.path)
    return Plan(tuple(new), tuple(same), tuple(differs))


def write(directory: Path, files: list[File], force: bool = False) -> Plan:
    """Write ``files`` under ``directory``; ScaffoldError naming them if some differ."""
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(f"{directory} exists and is not a directory")
    plan = compare(directory, files)
    if plan.differs and not force:
        listed = "\n".join(f"  {path}" for path in plan.differs)
        raise ScaffoldError(
            f"{directory} already holds {len(plan.differs)} file(s) that differ from the "
            f"template (nothing was written; --force overwrites them):\n{listed}"
        )
    wanted = set(plan.new) | set(plan.differs)
    for file in files:
        if file.path not in wanted:
            continue
        target = directory / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_dir():
            raise ScaffoldError(f"{target} is a directory or a link: remove it first")
        partial = target.with_name(target.name + ".byoc-init")
        partial.write_bytes(file.data)
        os.chmod(partial, _mode(file))
        os.replace(partial, target)
    return plan
