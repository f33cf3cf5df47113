"""Shared fixtures: a temporary /opt/ml tree, handler files, in-process clients."""

from __future__ import annotations

import importlib
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from flask.testing import FlaskClient

from byoc.app import create_app
from byoc.core import Service
from byoc.settings import Settings

HANDLERS = Path(__file__).parent / "handlers"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(module: str, why: str) -> ModuleType:
    """Import ``module``; skip without it on a laptop, but fail under CI=true."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        message = f"{module} is needed {why}: {exc}"
        if IN_CI:
            pytest.fail(message + " (CI=true: this must not be skipped)")
        pytest.skip(message)


@pytest.fixture
def ml_root(tmp_path: Path) -> Path:
    (tmp_path / "model" / "code").mkdir(parents=True)
    return tmp_path


def write_handler(ml_root: Path, source: str, name: str = "inference.py") -> Path:
    target = ml_root / "model" / "code" / name
    target.write_text(textwrap.dedent(source))
    return target


ClientFactory = Callable[..., FlaskClient]


@pytest.fixture(params=[True, False], ids=["hot-path", "flask"])
def make_client(request: pytest.FixtureRequest, ml_root: Path) -> Iterator[ClientFactory]:
    """Build a loaded app over ``ml_root``; every in-process test runs on both adapters."""

    def factory(source: str | None = None, env: dict[str, str] | None = None) -> FlaskClient:
        if source is not None:
            write_handler(ml_root, source)
        settings = Settings.from_env(
            {"SAGEMAKER_BASE_DIR": str(ml_root), "BYOC_HOT_PATH": str(request.param), **(env or {})}
        )
        service = Service(settings)
        service.load()
        return create_app(settings, service).test_client()

    yield factory


# Fixtures for the AWS tests (moto's server, a Docker registry), shared by several modules.
from .aws_support import aws_env, moto_url, registry  # noqa: E402, F401
from .docker_support import image, serve_only_image, trained  # noqa: E402, F401
