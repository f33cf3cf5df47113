"""Import, in the gunicorn master before it forks, the fork-safe libraries the model needs.

Each worker loads the model itself after fork (TensorFlow and PyTorch cannot be forked once
initialised), so by default every worker also imports scikit-learn and SciPy itself: about
90 MiB of private memory per worker and a second of CPU each, on a core the workers share.
Importing a library only runs its module code; when the master has done it, the workers
inherit those pages copy-on-write and their own ``import`` is a dictionary lookup.

``BYOC_PREIMPORT=auto`` (the default) finds the candidates without running user code: the
``import`` statements of the handler file, and the classes a pickled model file refers to
(``joblib``/``pickle`` files in the model directory, read with :mod:`pickletools`, never
unpickled). Only modules under :data:`FORK_SAFE` are imported. ``off`` imports nothing; a
comma-separated list imports exactly those modules.
"""

from __future__ import annotations

import ast
import importlib
import logging
import pickletools
import time
from collections.abc import Iterable
from pathlib import Path

from .handler import HandlerError, locate_handler
from .settings import Settings

__all__ = ["FORK_SAFE", "candidates", "preimport"]

log = logging.getLogger("byoc.server")

# Libraries whose import starts no thread and opens nothing a fork would break.
FORK_SAFE = frozenset({"joblib", "numpy", "pandas", "scipy", "sklearn", "xgboost"})
_PICKLES = (".joblib", ".pkl", ".pickle", ".sav")
_SCAN_BYTES = 16 * 1024 * 1024  # of each model file
_SCAN_FILES = 20


def _handler_imports(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _pickle_modules(path: Path) -> set[str]:
    """Module names a pickle stream refers to (GLOBAL and STACK_GLOBAL), read, not run."""
    found: set[str] = set()
    strings: list[str] = []
    try:
        with path.open("rb") as handle:
            data = handle.read(_SCAN_BYTES)
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name == "GLOBAL" and isinstance(arg, str):
                found.add(arg.split(" ", 1)[0])
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.add(strings[-2])
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:
        pass
    return found


def candidates(settings: Settings) -> set[str]:
    """The fork-safe modules the handler and the model files name."""
    names: set[str] = set()
    try:
        where, is_file = locate_handler(settings)
    except HandlerError:
        where, is_file = "", False
    if is_file:
        names |= _handler_imports(Path(where))
    model_dir = settings.paths.model_dir
    files = sorted(p for p in model_dir.glob("*") if p.suffix in _PICKLES and p.is_file())
    for path in files[:_SCAN_FILES]:
        names |= _pickle_modules(path)
    return {name for name in names if name.split(".", 1)[0] in FORK_SAFE}


def preimport(settings: Settings) -> list[str]:
    """Import what ``settings.preimport`` asks for; returns the modules imported."""
    mode = settings.preimport
    if mode == "off" or settings.preload:  # preload imports everything in the master anyway
        return []
    wanted: Iterable[str] = (
        candidates(settings) if mode == "auto" else [m.strip() for m in mode.split(",")]
    )
    started, imported = time.perf_counter(), []
    for name in sorted(set(wanted) - {""}):
        try:
            importlib.import_module(name)
        except Exception as exc:
            log.debug("pre-import of %s failed: %s", name, exc)
            continue
        imported.append(name)
    if imported:
        log.info(
            "imported %s in the master before fork (%.2fs), shared by the workers",
            ", ".join(imported),
            time.perf_counter() - started,
        )
    return imported
