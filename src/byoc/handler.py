"""Find and load the user's handler module (the sagemaker-inference handler API).

Where the handler comes from, first match wins:

1. ``BYOC_HANDLER``: a file path (``/srv/handler.py``) or an importable module
   (``mypackage.inference``);
2. ``<model_dir>/code/<SAGEMAKER_PROGRAM>`` — ``/opt/ml/model/code/inference.py`` by
   default, where the SageMaker SDK puts ``source_dir`` in ``model.tar.gz``;
3. ``<ml_root>/code/<SAGEMAKER_PROGRAM>`` — ``/opt/ml/code/inference.py``, code baked
   into the image.

The module may define ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn`` or
``transform_fn`` (not both kinds), plus the toolkit's ``pre_model_fn`` and
``model_warmup_fn``; each with or without a trailing ``context`` argument.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .settings import Settings

__all__ = [
    "HandlerError",
    "HandlerFn",
    "Handlers",
    "forget_model_modules",
    "load_handlers",
    "load_model_handlers",
    "locate_handler",
]


class HandlerError(Exception):
    """The handler cannot be found or does not fit the handler API."""


@dataclass(frozen=True)
class HandlerFn:
    """A user function and whether it wants ``context`` appended to its arguments."""

    fn: Callable[..., Any]
    takes_context: bool

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))

    def __call__(self, context: Any, *args: Any) -> Any:
        if self.takes_context:
            return self.fn(*args, context)
        return self.fn(*args)


def _wrap(module: ModuleType, name: str, arity: int) -> HandlerFn | None:
    fn = getattr(module, name, None)
    if fn is None:
        return None
    if not callable(fn):
        raise HandlerError(f"{name} in {module.__name__} is not callable")
    try:
        count = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return HandlerFn(fn, False)
    if count == arity:
        return HandlerFn(fn, False)
    if count == arity + 1:
        return HandlerFn(fn, True)
    raise HandlerError(
        f"{name} takes {count} arguments; the handler API gives it {arity} "
        f"(or {arity + 1} with context)"
    )


@dataclass(frozen=True)
class Handlers:
    """The resolved handler functions of one module."""

    source: str
    model_fn: HandlerFn
    input_fn: HandlerFn | None = None
    predict_fn: HandlerFn | None = None
    output_fn: HandlerFn | None = None
    transform_fn: HandlerFn | None = None
    pre_model_fn: HandlerFn | None = None
    model_warmup_fn: HandlerFn | None = None

    needs_context: bool = field(init=False)
    """Whether any per-request function takes ``context`` (else none is built)."""

    def __post_init__(self) -> None:
        needs = any(
            f is not None and f.takes_context
            for f in (self.input_fn, self.predict_fn, self.output_fn, self.transform_fn)
        )
        object.__setattr__(self, "needs_context", needs)

    @classmethod
    def from_module(cls, module: ModuleType, source: str | None = None) -> Handlers:
        model_fn = _wrap(module, "model_fn", 1)
        if model_fn is None:
            raise HandlerError(f"{source or module.__name__} defines no model_fn(model_dir)")
        transform_fn = _wrap(module, "transform_fn", 4)
        input_fn = _wrap(module, "input_fn", 2)
        predict_fn = _wrap(module, "predict_fn", 2)
        output_fn = _wrap(module, "output_fn", 2)
        if transform_fn and (input_fn or predict_fn or output_fn):
            raise HandlerError(
                "transform_fn cannot be combined with input_fn, predict_fn or output_fn"
            )
        return cls(
            source=source or module.__name__,
            model_fn=model_fn,
            input_fn=input_fn,
            predict_fn=predict_fn,
            output_fn=output_fn,
            transform_fn=transform_fn,
            pre_model_fn=_wrap(module, "pre_model_fn", 1),
            model_warmup_fn=_wrap(module, "model_warmup_fn", 2),
        )


def _program_file(program: str) -> str:
    return program if program.endswith(".py") else program + ".py"


def locate_handler(settings: Settings) -> tuple[str, bool]:
    """``(where, is_file)`` of the handler, following the documented order."""
    if settings.handler:
        spec = settings.handler
        is_file = spec.endswith(".py") or "/" in spec
        if is_file and not Path(spec).is_file():
            raise HandlerError(f"BYOC_HANDLER={spec!r}: no such file")
        return spec, is_file
    program = _program_file(settings.program)
    candidates = (settings.paths.model_code_dir / program, settings.paths.code_dir / program)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate), True
    looked = ", ".join(str(c) for c in candidates)
    raise HandlerError(
        f"no inference handler found: looked for BYOC_HANDLER, then {looked} "
        "(set SAGEMAKER_PROGRAM to change the file name)"
    )


def _import_file(path: Path, name: str | None = None) -> ModuleType:
    directory = str(path.parent.resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)  # sibling modules import as they do in the toolkit
    name = name or path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HandlerError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_model_handlers(
    model_dir: Path, settings: Settings, fallback: Callable[[], Handlers]
) -> Handlers:
    """A multi-model endpoint's model: its own ``code/<SAGEMAKER_PROGRAM>``, else the image's
    (``fallback()``, loaded once).

    Each model's code is imported under a module name of its own (two models that both
    ship an ``inference.py`` never replace each other's); its ``requirements.txt`` is
    refused, since endpoints may have no network to install it.
    """
    code = model_dir / "code"
    program = code / _program_file(settings.program)
    if (code / "requirements.txt").is_file():
        raise HandlerError(
            f"{code / 'requirements.txt'}: byoc installs nothing at load time (endpoints with "
            "network isolation have no network); bake the dependencies into the image"
        )
    if program.is_file():
        with _IMPORT_LOCK:  # sys.path is the process's: one model's import at a time
            module = _import_isolated(program, _module_name(model_dir))
        return Handlers.from_module(module, str(program))
    return fallback()


_IMPORT_LOCK = threading.Lock()


def _module_name(model_dir: Path) -> str:
    return "byoc_model_" + hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:16]


def forget_model_modules(model_dir: Path) -> None:
    """Drop a model's handler module and its siblings from ``sys.modules`` (unload)."""
    name = _module_name(model_dir)
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def _import_isolated(path: Path, name: str) -> ModuleType:
    """Import a model's handler and its sibling modules without them colliding with another
    model's: the siblings it imported (``features`` …) are renamed ``NAME.features`` in
    ``sys.modules`` afterwards, and its directory leaves ``sys.path`` again, so the next
    model's ``import features`` finds its own file."""
    directory = path.parent.resolve()
    before = set(sys.modules)
    sys.path.insert(0, str(directory))
    try:
        module = _import_file(path, name)
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(directory))
    for added in set(sys.modules) - before - {name}:
        sibling = sys.modules[added]
        origin = getattr(sibling, "__file__", None)
        if origin and Path(origin).resolve().is_relative_to(directory):
            sys.modules[f"{name}.{added}"] = sys.modules.pop(added)
    return module


def load_handlers(settings: Settings) -> Handlers:
    """Import the handler module and resolve its functions (runs the user's import code)."""
    where, is_file = locate_handler(settings)
    module = _import_file(Path(where)) if is_file else importlib.import_module(where)
    return Handlers.from_module(module, where)
