"""Auto MPG features shared by training and inference (one place, so they cannot drift)."""

from __future__ import annotations

from typing import Any

import numpy as np

from byoc.example import FEATURES

__all__ = ["FEATURES", "INPUTS", "prepare"]

_NUMERIC = len(FEATURES) - 1  # origin (1 USA, 2 Europe, 3 Japan) is one-hot encoded
INPUTS = _NUMERIC + 3


def prepare(x: np.ndarray, fill: list[float] | np.ndarray) -> np.ndarray:
    """Raw feature rows (n x 7, NaN where unknown) into model inputs (n x 9, float32)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(FEATURES):
        raise ValueError(f"expected rows of {len(FEATURES)} features ({', '.join(FEATURES)})")
    numeric = x[:, :_NUMERIC]
    numeric = np.where(np.isnan(numeric), np.asarray(fill, dtype=np.float64), numeric)
    origin = x[:, _NUMERIC]
    one_hot = np.stack([origin == value for value in (1.0, 2.0, 3.0)], axis=1)
    return np.hstack([numeric, one_hot]).astype(np.float32)


def metadata(fill: np.ndarray, **extra: Any) -> dict[str, Any]:
    return {"features": list(FEATURES), "fill": [float(v) for v in fill], **extra}
