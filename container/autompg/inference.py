"""Inference handler for the Auto MPG Keras model (sagemaker-inference handler API).

Input: header-less CSV rows in the order of ``features.FEATURES``, or JSON records by
feature name (a record, a list, or ``{"instances": [...]}``); a wrong column count or a
missing field is a 400 that names it. Output: predicted MPG, one per record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from features import prepare

from byoc.example.handler import input_fn  # the same CSV / JSON record parsing

__all__ = ["input_fn", "model_fn", "predict_fn"]


class MpgModel:
    def __init__(self, model: Any, meta: dict[str, Any]) -> None:
        self.model = model
        self.meta = meta

    def predict(self, rows: np.ndarray) -> np.ndarray:
        inputs = prepare(rows, self.meta["fill"])
        return np.asarray(self.model(inputs, training=False)).reshape(-1)


def model_fn(model_dir: str) -> MpgModel:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    directory = Path(model_dir)
    meta = json.loads((directory / "metadata.json").read_text())
    return MpgModel(keras.models.load_model(directory / "model.keras"), meta)


def predict_fn(data: np.ndarray, model: MpgModel) -> np.ndarray:
    return model.predict(data)
