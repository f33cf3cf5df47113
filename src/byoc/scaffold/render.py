"""Render a project's files from the package's templates (Jinja2), without touching disk.

``templates/common/`` holds what every project has, ``templates/<framework>/`` the code
for one framework (it wins over ``common`` for the same path). A file whose name ends in
``.j2`` is rendered (the suffix dropped); any other is copied as it is. Rendering depends
only on its inputs (no dates, no paths of this machine), so the same inputs give the same
bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import jinja2

from .frameworks import FRAMEWORKS, Framework

if TYPE_CHECKING:
    from importlib.abc import Traversable  # importlib.resources.abc from Python 3.11

__all__ = ["NAME", "File", "ScaffoldError", "render"]

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")  # a Docker repository name component


class ScaffoldError(ValueError):
    """A project cannot be written as asked (the message says why)."""


@dataclass(frozen=True)
class File:
    path: str  # relative, with "/"
    data: bytes
    executable: bool = False


def _walk(root: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in root.iterdir():
        if entry.name == "__pycache__":
            continue
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(_walk(entry, relative + "/"))
        else:
            found[relative] = entry
    return found


def _environment() -> jinja2.Environment:
    # Shell and Dockerfile syntax use "{#" (${#x}); comments are "<#- ... #>" instead.
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        comment_start_string="<#",
        comment_end_string="#>",
        autoescape=False,
    )


def render(framework: str, name: str, byoc_version: str, wheel: str | None) -> list[File]:
    """The files of a project for ``framework`` named ``name``, sorted by path.

    ``wheel`` is the file name of the byoc wheel the project carries in ``wheels/`` (the
    Dockerfile installs it), or None when the image takes ``byoc==byoc_version`` from the
    package index.
    """
    if framework not in FRAMEWORKS:
        raise ScaffoldError(f"unknown framework {framework!r} (one of {', '.join(FRAMEWORKS)})")
    if not NAME.match(name):
        raise ScaffoldError(
            f"name {name!r}: lower-case letters, digits, '.', '_' and '-' (an image name)"
        )
    spec: Framework = FRAMEWORKS[framework]
    templates = resources.files("byoc.scaffold") / "templates"
    sources = _walk(templates / "common")
    sources.update(_walk(templates / framework))
    environment = _environment()
    context = {
        "name": name,
        "fw": spec,
        "wheel": wheel,
        "byoc_version": byoc_version,
        "byoc_install": "wheels/byoc-*.whl" if wheel else f"byoc=={byoc_version}",
        "byoc_spec": f"/tmp/wheels/{wheel}" if wheel else f"byoc=={byoc_version}",
    }
    files = []
    for relative, source in sorted(sources.items()):
        raw = source.read_bytes()
        if relative.endswith(".j2"):
            relative = relative.removesuffix(".j2")
            try:
                text = environment.from_string(raw.decode()).render(context)
            except jinja2.TemplateError as exc:
                raise ScaffoldError(f"template {relative} ({framework}): {exc}") from exc
            raw = text.encode()
        executable = relative.endswith(".sh") or relative.startswith("bin/")
        files.append(File(relative, raw, executable))
    return files
