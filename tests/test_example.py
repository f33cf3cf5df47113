"""The worked examples: the embedded linear model and the Keras Auto MPG container program."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient

from byoc.app import create_app
from byoc.cli import SAMPLE_JSON as CAR_JSON
from byoc.core import Service
from byoc.example import MODEL_FILE, LinearMpgModel, bundled_model, fit, read_auto_mpg
from byoc.paths import MLPaths
from byoc.settings import Settings
from byoc.training import run_training

from .conftest import require
from .server import REPO

DATA = REPO / "local_test" / "test_dir" / "input" / "data" / "training" / "auto-mpg.csv"
PROGRAM_DIR = REPO / "container" / "autompg"
CARS_CSV = "4,140,86,2790,15.6,82,1\n8,350,165,3693,11.5,70,1\n4,97,,2130,14.5,71,3\n"


def client_for(model_dir: Path, handler: str) -> FlaskClient:
    settings = Settings.from_env(
        {"SAGEMAKER_BASE_DIR": str(model_dir.parent), "BYOC_HANDLER": handler}
    )
    service = Service(settings)
    service.load()
    assert service.failure is None, service.failure
    return create_app(settings, service).test_client()


def check_predictions(client: FlaskClient, trained: bool = True) -> None:
    response = client.post(
        "/invocations",
        data=CARS_CSV,
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
    )
    assert response.status_code == 200, response.data
    mpg = response.get_json()
    assert len(mpg) == 3 and all(isinstance(v, float) and math.isfinite(v) for v in mpg)
    if trained:
        assert all(5 < v < 60 for v in mpg)
        assert mpg[0] > mpg[1]  # a light 4-cylinder beats a heavy V8
    response = client.post("/invocations", json={"instances": [CAR_JSON, CAR_JSON]})
    assert response.status_code == 200
    assert len(response.get_json()) == 2
    response = client.post("/invocations", data="4,140,86\n", content_type="text/csv")
    assert response.status_code == 400
    assert (
        "row 1 has 3 columns; expected 7: cylinders,displacement" in response.get_json()["message"]
    )
    response = client.post(
        "/invocations", json={k: v for k, v in CAR_JSON.items() if k != "weight"}
    )
    assert response.status_code == 400
    assert "missing field 'weight'" in response.get_json()["message"]


def test_shipped_linear_model_is_the_fit_of_the_shipped_data() -> None:
    x, y = read_auto_mpg(DATA)
    assert x.shape == (398, 7)
    assert int(np.isnan(x[:, 2]).sum()) == 6  # unknown horsepower
    shipped = LinearMpgModel.load(bundled_model())
    fresh = fit(x, y)
    assert np.allclose(shipped.weights, fresh.weights)
    assert float(np.mean(np.abs(shipped.predict(x) - y))) < 3.0


def test_linear_example_serves(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    shutil.copy(bundled_model() / MODEL_FILE, tmp_path / "model" / MODEL_FILE)
    check_predictions(client_for(tmp_path / "model", "byoc.example.handler"))


def keras_job(root: Path, **hyperparameters: str) -> tuple[MLPaths, dict[str, str]]:
    paths = MLPaths(root)
    shutil.copytree(REPO / "local_test" / "test_dir" / "input", paths.input_dir)
    paths.hyperparameters_file.write_text(json.dumps(hyperparameters))
    env = {
        **os.environ,
        "BYOC_TRAINING_PROGRAM": str(PROGRAM_DIR / "train.py"),
        "SAGEMAKER_BASE_DIR": str(root),
    }
    return paths, env


@pytest.mark.slow
def test_keras_example_trains_then_serves(tmp_path: Path) -> None:
    require("tensorflow", "to train the Keras example (pip install -e '.[tf]')")
    paths, env = keras_job(tmp_path, epochs="2", **{"batch-size": "64"})
    assert run_training(paths, env) == 0, paths.failure_file.read_text()
    meta = json.loads((paths.model_dir / "metadata.json").read_text())
    assert meta["epochs_run"] == 2 and meta["features"][0] == "cylinders"
    assert math.isfinite(meta["test_mae"])
    assert sorted(p.name for p in paths.checkpoints_dir.iterdir()) == [
        "epoch-0001.keras",
        "epoch-0002.keras",
    ]
    # two epochs: predictions are finite and one per record, not yet good
    check_predictions(client_for(paths.model_dir, str(PROGRAM_DIR / "inference.py")), trained=False)


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"epochs": "-3"}, "argument --epochs: must be a positive integer, got -3"),
        (
            {"hidden-units": "[64, 0]"},
            "argument --hidden-units/--hidden_units: must be positive sizes",
        ),
        ({"learning-rate": "-0.1"}, "argument --learning-rate: must be positive, got -0.1"),
    ],
)
def test_keras_example_rejects_bad_hyperparameters(
    tmp_path: Path, hyperparameters: dict[str, str], message: str
) -> None:
    paths, env = keras_job(tmp_path, **hyperparameters)
    assert run_training(paths, env) == 2
    first = paths.failure_file.read_text().splitlines()[0]
    assert first.startswith("AlgorithmError: training program") and message in first


def test_keras_example_without_a_training_channel(tmp_path: Path) -> None:
    paths, env = keras_job(tmp_path, epochs="2")
    shutil.rmtree(paths.channel_dir("training"))
    paths.inputdataconfig_file.write_text("{}")
    assert run_training(paths, env) == 1
    first = paths.failure_file.read_text().splitlines()[0]
    assert first.endswith(
        "FileNotFoundError: no training channel: SM_CHANNEL_TRAINING is not set "
        "(declare a 'training' channel)"
    )


@pytest.mark.slow
def test_keras_example_checkpoints_on_sigterm_and_resumes(tmp_path: Path) -> None:
    require("tensorflow", "to train the Keras example (pip install -e '.[tf]')")
    paths, env = keras_job(tmp_path, epochs="5000", patience="5000", **{"batch-size": "8"})
    process = subprocess.Popen(
        [str(REPO / "train")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if any(paths.checkpoints_dir.glob("epoch-*.keras")):
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "SIGTERM: stopping after this batch" in output
    meta = json.loads((paths.model_dir / "metadata.json").read_text())
    assert meta["stopped_early"] is True
    checkpoints = sorted(paths.checkpoints_dir.glob("epoch-*.keras"))
    assert checkpoints
    last_epoch = int(checkpoints[-1].stem.split("-")[1])
    assert last_epoch == meta["epochs_run"]

    paths.hyperparameters_file.write_text(json.dumps({"epochs": str(last_epoch + 2)}))
    result = subprocess.run(
        [str(REPO / "train")], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    assert f"resuming from {checkpoints[-1]} (epoch {last_epoch})" in result.stdout
    assert (
        json.loads((paths.model_dir / "metadata.json").read_text())["epochs_run"] == last_epoch + 2
    )
