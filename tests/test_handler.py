from __future__ import annotations

import types
from pathlib import Path

import pytest

from byoc.handler import HandlerError, Handlers, load_handlers, locate_handler
from byoc.settings import Settings

from .conftest import write_handler


def settings_for(root: Path, **env: str) -> Settings:
    return Settings.from_env({"SAGEMAKER_BASE_DIR": str(root), **env})


def test_lookup_order(ml_root: Path) -> None:
    (ml_root / "code").mkdir()
    (ml_root / "code" / "inference.py").write_text("def model_fn(d): return 1\n")
    assert locate_handler(settings_for(ml_root)) == (str(ml_root / "code" / "inference.py"), True)
    write_handler(ml_root, "def model_fn(d): return 2\n")
    assert locate_handler(settings_for(ml_root))[0] == str(
        ml_root / "model" / "code" / "inference.py"
    )
    write_handler(ml_root, "def model_fn(d): return 3\n", name="serve_me.py")
    assert locate_handler(settings_for(ml_root, SAGEMAKER_PROGRAM="serve_me"))[0].endswith(
        "serve_me.py"
    )
    assert locate_handler(settings_for(ml_root, BYOC_HANDLER="byoc.example.handler")) == (
        "byoc.example.handler",
        False,
    )


def test_missing_handler_file_is_named(ml_root: Path) -> None:
    with pytest.raises(HandlerError, match="no such file"):
        locate_handler(settings_for(ml_root, BYOC_HANDLER=str(ml_root / "nope.py")))


def test_sibling_modules_import(ml_root: Path) -> None:
    (ml_root / "model" / "code" / "helpers_for_test.py").write_text("VALUE = 7\n")
    write_handler(ml_root, "from helpers_for_test import VALUE\ndef model_fn(d): return VALUE\n")
    handlers = load_handlers(settings_for(ml_root))
    assert handlers.model_fn(None, "x") == 7


def module(**functions: object) -> types.ModuleType:
    mod = types.ModuleType("handler_under_test")
    for name, fn in functions.items():
        setattr(mod, name, fn)
    return mod


def test_context_is_detected_by_arity() -> None:
    def input_fn(data, content_type, context):  # type: ignore[no-untyped-def]
        return context

    handlers = Handlers.from_module(module(model_fn=lambda d: None, input_fn=input_fn))
    assert handlers.input_fn is not None and handlers.input_fn.takes_context
    assert handlers.needs_context
    assert handlers.input_fn("ctx", b"", "text/csv") == "ctx"
    assert not Handlers.from_module(module(model_fn=lambda d: None)).needs_context


@pytest.mark.parametrize(
    ("functions", "message"),
    [
        ({}, "defines no model_fn"),
        ({"model_fn": lambda: None}, "model_fn takes 0 arguments"),
        ({"model_fn": 3}, "not callable"),
        (
            {
                "model_fn": lambda d: None,
                "transform_fn": lambda m, b, c, a: b,
                "input_fn": lambda b, c: b,
            },
            "transform_fn cannot be combined",
        ),
    ],
)
def test_invalid_handlers_are_explained(functions: dict[str, object], message: str) -> None:
    with pytest.raises(HandlerError, match=message):
        Handlers.from_module(module(**functions))
