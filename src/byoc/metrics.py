"""Metric lines that SageMaker's metric definitions (regexes over the log) can read.

``log_metrics(epoch=3, loss=0.12)`` prints ``epoch=3; loss=0.12;`` and
``metric_definitions(["loss"])`` gives ``[{"Name": "loss", "Regex": "loss=(...);"}]`` for
``Estimator(metric_definitions=...)``. The format never changes: the regexes depend on it.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable
from typing import TextIO

__all__ = ["NUMBER", "format_metrics", "log_metrics", "metric_definitions"]

NUMBER = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf)"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/-]*$")


def _format_value(value: float) -> str:
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.6g}"


def format_metrics(**metrics: float) -> str:
    parts = []
    for name, value in metrics.items():
        if not _NAME.match(name):
            raise ValueError(f"metric name {name!r} must match {_NAME.pattern}")
        parts.append(f"{name}={_format_value(value)};")
    return " ".join(parts)


def log_metrics(stream: TextIO | None = None, **metrics: float) -> None:
    """Print one line of ``name=value;`` pairs (to stdout by default) and flush it."""
    out = stream or sys.stdout
    out.write(format_metrics(**metrics) + "\n")
    out.flush()


def metric_definitions(names: Iterable[str]) -> list[dict[str, str]]:
    """SageMaker ``MetricDefinitions`` matching :func:`log_metrics` lines."""
    return [{"Name": name, "Regex": rf"\b{re.escape(name)}={NUMBER};"} for name in names]
