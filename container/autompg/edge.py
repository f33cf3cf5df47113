"""The Auto MPG model as LiteRT (formerly TensorFlow Lite): written by training, served
by the serving-only image, which has ``ai-edge-litert`` and numpy but no TensorFlow.

``model.tflite`` holds the whole Keras graph, the ``Normalization`` layer included, with a
free batch dimension; the feature preparation (unknown values filled, origin one-hot)
stays in ``features.prepare``, shared by every runtime.
"""

from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path
from typing import Any

import numpy as np

from byoc.settings import cpu_count

__all__ = ["LITE_FILE", "LiteRTModel", "export", "max_difference"]

LITE_FILE = "model.tflite"


def export(keras_model: Any, path: Path) -> int:
    """Convert ``keras_model`` to LiteRT at ``path`` (float32, no quantisation: the served
    answers must match Keras's); returns its size in bytes."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    # The converter prints the SavedModel it goes through (every tensor's spec) to stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        blob = converter.convert()
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(blob)
    temporary.replace(path)  # a reader never sees half a model
    return len(blob)


class LiteRTModel:
    """One LiteRT interpreter for prepared rows (n x 9 float32 in, n predictions out).

    An interpreter is not thread-safe and a gthread worker runs requests on several
    threads: calls take a lock (a call costs microseconds, so threads hardly wait). The
    input is resized only when the number of rows changes.
    """

    def __init__(self, path: Path, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{path}: expected one input and one output tensor")
        self._input = inputs[0]["index"]
        self._output = outputs[0]["index"]
        self._width = int(inputs[0]["shape"][-1])
        self._rows = -1
        self._lock = threading.Lock()

    def predict_on_batch(self, inputs: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(inputs, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self._width:
            raise ValueError(f"expected rows of {self._width} model inputs, got {rows.shape}")
        with self._lock:
            if rows.shape[0] != self._rows:
                self._interpreter.resize_tensor_input(self._input, list(rows.shape))
                self._interpreter.allocate_tensors()
                self._rows = rows.shape[0]
            self._interpreter.set_tensor(self._input, rows)
            self._interpreter.invoke()
            return np.array(self._interpreter.get_tensor(self._output)).reshape(-1)


def max_difference(keras_model: Any, path: Path, inputs: np.ndarray) -> float:
    """The largest absolute difference between Keras's and LiteRT's predictions of
    ``inputs`` (prepared rows), in the target's unit (mpg)."""
    expected = np.asarray(keras_model.predict_on_batch(inputs)).reshape(-1)
    actual = LiteRTModel(path, cpu_count()).predict_on_batch(inputs)
    return float(np.max(np.abs(expected - actual))) if len(inputs) else 0.0
