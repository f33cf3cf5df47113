"""The embedded example: a linear regression of miles-per-gallon on the Auto MPG data.

It needs nothing but numpy, so ``byoc demo`` can serve a real model on any machine.
(The TensorFlow Keras version of the same task is the container's worked example.)
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FEATURES", "MODEL_FILE", "LinearMpgModel", "bundled_model", "fit", "read_auto_mpg"]

FEATURES = (
    "cylinders",
    "displacement",
    "horsepower",
    "weight",
    "acceleration",
    "model_year",
    "origin",
)
ORIGINS = {"usa": 1.0, "europe": 2.0, "japan": 3.0}
MODEL_FILE = "linear-model.json"
_NUMERIC = len(FEATURES) - 1  # origin is one-hot encoded


def read_auto_mpg(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features (n x 7, NaN where unknown) and MPG from the shipped CSV (with header)."""
    features: list[list[float]] = []
    target: list[float] = []
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle):
            features.append([float(record[name]) if record[name] else np.nan for name in FEATURES])
            target.append(float(record["mpg"]))
    return np.array(features), np.array(target)


def _design(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    numeric = x[:, :_NUMERIC]
    numeric = np.where(np.isnan(numeric), mean, numeric)
    origin = x[:, _NUMERIC]
    one_hot = np.stack([origin == value for value in (1.0, 2.0, 3.0)], axis=1).astype(float)
    return np.hstack([(numeric - mean) / scale, one_hot])


@dataclass(frozen=True)
class LinearMpgModel:
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    version: int = 1

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.shape[1] != len(FEATURES):
            raise ValueError(f"expected {len(FEATURES)} features, got {x.shape[1]}")
        result: np.ndarray = _design(x, self.mean, self.scale) @ self.weights
        return result

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "byoc-linear-mpg",
            "version": self.version,
            "features": list(FEATURES),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "weights": self.weights.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearMpgModel:
        if data.get("features") != list(FEATURES):
            raise ValueError(f"model features {data.get('features')} differ from {FEATURES}")
        return cls(
            np.array(data["mean"]),
            np.array(data["scale"]),
            np.array(data["weights"]),
            int(data.get("version", 1)),
        )

    def save(self, model_dir: Path) -> Path:
        model_dir.mkdir(parents=True, exist_ok=True)
        target = model_dir / MODEL_FILE
        target.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return target

    @classmethod
    def load(cls, model_dir: Path) -> LinearMpgModel:
        return cls.from_json(json.loads((model_dir / MODEL_FILE).read_text()))


def fit(x: np.ndarray, y: np.ndarray) -> LinearMpgModel:
    """Least squares on standardised features (NaN filled with the column mean)."""
    numeric = x[:, :_NUMERIC]
    mean = np.nanmean(numeric, axis=0)
    scale = np.nanstd(numeric, axis=0)
    scale[scale == 0] = 1.0
    design = _design(x, mean, scale)
    weights, *_ = np.linalg.lstsq(design, y, rcond=None)
    return LinearMpgModel(mean, scale, weights)


def bundled_model() -> Path:
    """The directory holding the fitted model that ships inside the package."""
    return Path(__file__).parent
