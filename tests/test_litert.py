"""The Auto MPG example's LiteRT export: written by training beside ``model.keras``,
checked against it, and served by the same handler with the same contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from byoc.example import read_auto_mpg
from byoc.training import run_training

from .conftest import require
from .test_example import DATA, PROGRAM_DIR, check_predictions, client_for, keras_job

HANDLER = str(PROGRAM_DIR / "inference.py")
TOLERANCE = 1e-3


def csv_rows(rows: np.ndarray) -> str:
    """Header-less CSV of feature rows, an unknown value (NaN) as an empty field."""
    return "".join(
        ",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n" for row in rows
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("tensorflow", "to train the Keras example (pip install -e '.[tf]')")
    require("ai_edge_litert", "to check the LiteRT export (pip install -e '.[tf]')")
    paths, env = keras_job(tmp_path_factory.mktemp("litert"), epochs="3")
    assert run_training(paths, env) == 0, paths.failure_file.read_text()
    return paths.model_dir


@pytest.mark.slow
def test_training_writes_a_litert_model_that_matches_keras(model_dir: Path) -> None:
    meta = json.loads((model_dir / "metadata.json").read_text())
    assert (model_dir / "model.tflite").stat().st_size == meta["litert_bytes"] > 1000
    assert 0.0 <= meta["litert_max_abs_diff"] <= TOLERANCE
    assert not list(model_dir.glob("*.partial"))


@pytest.mark.slow
def test_both_runtimes_answer_every_row_alike(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, _ = read_auto_mpg(DATA)  # 398 rows, 6 with an unknown horsepower
    answers = {}
    for runtime in ("keras", "litert"):
        monkeypatch.setenv("AUTOMPG_RUNTIME", runtime)
        client = client_for(model_dir, HANDLER)
        check_predictions(client, trained=False)  # the same CSV / JSON contract and 400s
        response = client.post(
            "/invocations",
            data=csv_rows(rows),
            headers={"Content-Type": "text/csv", "Accept": "application/json"},
        )
        assert response.status_code == 200, response.data
        answers[runtime] = np.asarray(response.get_json())
    assert answers["keras"].shape == answers["litert"].shape == (398,)
    assert np.all(np.isfinite(answers["litert"]))
    assert float(np.max(np.abs(answers["keras"] - answers["litert"]))) <= TOLERANCE


@pytest.mark.slow
def test_a_directory_without_what_the_runtime_needs_fails_to_load_saying_so(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    only_keras = tmp_path / "keras-only" / "model"
    shutil.copytree(model_dir, only_keras)
    (only_keras / "model.tflite").unlink()
    monkeypatch.setenv("AUTOMPG_RUNTIME", "litert")
    with pytest.raises(AssertionError, match=r"holds model\.keras; installed: tensorflow"):
        client_for(only_keras, HANDLER)
    monkeypatch.setenv("AUTOMPG_RUNTIME", "onnx")
    with pytest.raises(AssertionError, match="AUTOMPG_RUNTIME=onnx: expected one of keras"):
        client_for(only_keras, HANDLER)
    monkeypatch.delenv("AUTOMPG_RUNTIME")
    empty = tmp_path / "empty" / "model"
    empty.mkdir(parents=True)
    (empty / "metadata.json").write_text((model_dir / "metadata.json").read_text())
    with pytest.raises(AssertionError, match="holds no model file"):
        client_for(empty, HANDLER)


@pytest.mark.slow
def test_an_export_further_than_the_tolerance_fails_the_job(tmp_path: Path) -> None:
    require("ai_edge_litert", "to check the LiteRT export (pip install -e '.[tf]')")
    # XNNPACK sums in another order than TensorFlow's kernels: float32 answers of ~20 mpg
    # differ by a few 1e-6, never by exactly 0, so a zero tolerance always trips.
    paths, env = keras_job(tmp_path, epochs="1", **{"litert-tolerance": "0"})
    assert run_training(paths, env) == 1
    first = paths.failure_file.read_text().splitlines()[0]
    assert "ExportMismatch: the LiteRT export predicts the 80 test rows up to" in first
    assert "(allowed: 0, hyperparameter litert-tolerance); model.tflite was not kept" in first
    assert not (paths.model_dir / "model.tflite").exists()


def test_a_negative_tolerance_is_a_hyperparameter_error(tmp_path: Path) -> None:
    paths, env = keras_job(tmp_path, **{"litert-tolerance": "-1"})
    assert run_training(paths, env) == 2
    first = paths.failure_file.read_text().splitlines()[0]
    assert "argument --litert-tolerance/--litert_tolerance: must be a number >= 0, got -1" in first
