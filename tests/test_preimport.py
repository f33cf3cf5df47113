"""The master imports the fork-safe libraries a model needs, found without running it."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import scipy.sparse

from byoc.errors import SettingsError
from byoc.preimport import candidates
from byoc.settings import Settings

from .conftest import write_handler
from .server import ServerProcess

HANDLER = """
import os
import pickle
import joblib
import tensorflow as tf          # never imported in the master: not fork-safe
from . import sibling            # relative: not a library

def model_fn(model_dir):
    import pandas as pd          # nested imports count too
    with open(os.path.join(model_dir, "model.pkl"), "rb") as f:
        return pickle.load(f)
"""

LOADER = """
import os, pickle

def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.pkl"), "rb") as f:
        return pickle.load(f)
"""


def pickled_model(ml_root: Path) -> None:
    """A model whose classes live in scipy.sparse: only its pickle names them."""
    matrix = scipy.sparse.csr_matrix([[0, 1], [1, 0]])
    (ml_root / "model" / "model.pkl").write_bytes(pickle.dumps({"weights": matrix}))


def settings(root: Path, **env: str) -> Settings:
    return Settings.from_env({"SAGEMAKER_BASE_DIR": str(root), **env})


def test_candidates_come_from_the_handlers_imports_and_the_pickled_model(ml_root: Path) -> None:
    write_handler(ml_root, HANDLER)
    pickled_model(ml_root)
    (ml_root / "model" / "extra.joblib").write_bytes(pickle.dumps({"k": frozenset()}))
    found = candidates(settings(ml_root))
    assert {"joblib", "pandas", "scipy.sparse._csr"} <= found
    assert not any(name.startswith(("tensorflow", "os", "builtins", "pickle")) for name in found)


def test_garbage_model_files_are_skipped(ml_root: Path) -> None:
    write_handler(ml_root, "def model_fn(model_dir):\n    return 1\n")
    (ml_root / "model" / "model.pkl").write_bytes(b"\x80\x05garbage" * 100)
    (ml_root / "model" / "weights.joblib").write_bytes(b"")
    assert candidates(settings(ml_root)) == set()


def test_the_setting_is_validated() -> None:
    assert Settings.from_env({}).preimport == "auto"
    assert Settings.from_env({"BYOC_PREIMPORT": "OFF"}).preimport == "off"
    assert Settings.from_env({"BYOC_PREIMPORT": "sklearn, scipy.sparse"}).preimport == (
        "sklearn,scipy.sparse"
    )
    with pytest.raises(SettingsError, match="BYOC_PREIMPORT"):
        Settings.from_env({"BYOC_PREIMPORT": "sklearn; rm -rf"})


@pytest.mark.process
def test_the_master_imports_what_the_pickled_model_needs_before_fork(ml_root: Path) -> None:
    write_handler(ml_root, LOADER)
    pickled_model(ml_root)
    with ServerProcess(ml_root, env={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}) as server:
        server.wait_healthy(60)
        assert "in the master before fork" in server.log, server.log
        assert "scipy.sparse._csr" in server.log
