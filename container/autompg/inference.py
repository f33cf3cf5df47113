"""Inference handler for the Auto MPG Keras model (sagemaker-inference handler API).

Input: header-less CSV rows in the order of ``features.FEATURES``, or JSON records by
feature name (a record, a list, or ``{"instances": [...]}``); a wrong column count or a
missing field is a 400 that names it. Output: predicted MPG, one per record.

Predictions go through ``predict_on_batch``, Keras's compiled predict step (~0.5 ms for
1 to 32 rows on one core), not an eager ``model(x)`` call (~4 ms: every layer dispatched
from Python) or ``model.predict`` (~0.1 s: it builds a dataset per call). It is traced
at load, for one row and for any number of rows, so no request pays for a trace.

The model is ``model.keras`` where TensorFlow is installed, else ``model.tflite`` on LiteRT
(the serving-only image, ``container/build.sh --serve-only``): same inputs, same 400s,
answers within 1e-3 mpg (training checks that). ``AUTOMPG_RUNTIME=keras`` or ``litert``
chooses; a model directory or an image without what that needs is a load failure that
says what is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from edge import LITE_FILE, LiteRTModel
from features import FEATURES, prepare

from byoc.example.handler import input_fn  # the same CSV / JSON record parsing
from byoc.settings import cpu_count

__all__ = ["input_fn", "model_fn", "predict_fn", "runtime"]

KERAS_FILE = "model.keras"
# runtime: (its model file, the package it imports), in the order of preference
RUNTIMES = {"keras": (KERAS_FILE, "tensorflow"), "litert": (LITE_FILE, "ai_edge_litert")}


class MpgModel:
    def __init__(self, model: Any, meta: dict[str, Any]) -> None:
        self.model = model
        self.meta = meta

    def predict(self, rows: np.ndarray) -> np.ndarray:
        inputs = prepare(rows, self.meta["fill"])
        return np.asarray(self.model.predict_on_batch(inputs)).reshape(-1)


def tf_threads() -> int:
    """Threads for one TensorFlow op: this worker's share of the CPUs it may run on
    (SageMaker instances get one worker per CPU, so 1), not TF's default of every CPU
    for every worker."""
    workers = os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS", "").strip()
    share = cpu_count() // int(workers) if workers.isdigit() and int(workers) > 0 else 1
    return max(1, share)


def runtime(directory: Path, chosen: str = "") -> str:
    """``keras`` or ``litert``: ``chosen`` if given, else Keras when both its file and
    TensorFlow are here, else LiteRT when its file and ``ai_edge_litert`` are."""
    chosen = chosen.strip().lower()
    if chosen and chosen not in RUNTIMES:
        raise ValueError(f"AUTOMPG_RUNTIME={chosen}: expected one of {', '.join(RUNTIMES)}")
    files = [name for name, (file, _) in RUNTIMES.items() if (directory / file).is_file()]
    packages = [
        name for name, (_, package) in RUNTIMES.items() if importlib.util.find_spec(package)
    ]
    for name in [chosen] if chosen else list(RUNTIMES):
        if name in files and name in packages:
            return name
    held = ", ".join(RUNTIMES[name][0] for name in files) or "no model file"
    installed = ", ".join(RUNTIMES[name][1] for name in packages) or "neither runtime"
    wanted = f" with AUTOMPG_RUNTIME={chosen}" if chosen else ""
    raise FileNotFoundError(
        f"no model this image can run{wanted}: {directory} holds {held}; installed: {installed} "
        f"(Keras needs {KERAS_FILE} and tensorflow, LiteRT {LITE_FILE} and ai_edge_litert)"
    )


def model_fn(model_dir: str) -> MpgModel:
    directory = Path(model_dir)
    meta = json.loads((directory / "metadata.json").read_text())
    chosen = runtime(directory, os.environ.get("AUTOMPG_RUNTIME", ""))
    if chosen == "litert":
        model = MpgModel(LiteRTModel(directory / LITE_FILE, tf_threads()), meta)
    else:
        model = MpgModel(_load_keras(directory / KERAS_FILE), meta)
    for rows in (1, 2):  # the trace for 1 row, then the one for any number of rows
        model.predict(np.ones((rows, len(FEATURES))))
    return model


def _load_keras(path: Path) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Read when TensorFlow starts its thread pools; a value set by the user wins.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(tf_threads()))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")  # one small graph: nothing to overlap
    import keras

    return keras.models.load_model(path)


def predict_fn(data: np.ndarray, model: MpgModel) -> np.ndarray:
    return model.predict(data)
