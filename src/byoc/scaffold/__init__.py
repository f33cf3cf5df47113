"""``byoc init``: a small, complete SageMaker container project for one framework.

``project_files(framework, name)`` renders the project (``render``) and adds a wheel of
the running byoc under ``wheels/`` (``wheel``), which the project's Dockerfile installs:
byoc is not on PyPI yet, and the project must build without this repository.
``write(directory, files, force)`` puts them on disk, refusing to replace a file that
differs unless forced (``write``).
"""

from __future__ import annotations

from importlib import metadata

from .frameworks import FRAMEWORKS, Framework
from .render import NAME, File, ScaffoldError, render
from .wheel import WheelError, byoc_wheel
from .write import Plan, compare, write

__all__ = [
    "FRAMEWORKS",
    "NAME",
    "File",
    "Framework",
    "Plan",
    "ScaffoldError",
    "WheelError",
    "compare",
    "project_files",
    "render",
    "write",
]


def project_files(framework: str, name: str, with_wheel: bool = True) -> list[File]:
    """Every file of the project; ``with_wheel=False``: the image takes byoc from the index."""
    version = metadata.version("byoc")
    if not with_wheel:
        return render(framework, name, version, None)
    wheel_name, data = byoc_wheel()
    files = render(framework, name, version, wheel_name)
    return sorted([*files, File(f"wheels/{wheel_name}", data)], key=lambda file: file.path)
