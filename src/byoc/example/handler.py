"""Inference handler of the embedded example, written in the sagemaker-inference style.

Input: header-less CSV rows in the order of ``FEATURES``, or JSON records by feature
name (one object, a list of objects, or ``{"instances": [...]}``); ``origin`` may be
1/2/3 or USA/Europe/Japan. Output: predicted MPG, one per record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from byoc.errors import BadRequest, UnsupportedMediaType
from byoc.example import FEATURES, ORIGINS, LinearMpgModel


def model_fn(model_dir: str) -> LinearMpgModel:
    return LinearMpgModel.load(Path(model_dir))


def _value(record: dict[str, Any], name: str, index: int) -> float:
    if name not in record:
        raise BadRequest(f"record {index}: missing field {name!r} (need {', '.join(FEATURES)})")
    value = record[name]
    if name == "origin" and isinstance(value, str) and value.strip().lower() in ORIGINS:
        return ORIGINS[value.strip().lower()]
    if value is None and name == "horsepower":
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"record {index}: field {name!r} is not a number: {value!r}") from None


def input_fn(input_data: str | bytes, content_type: str) -> np.ndarray:
    text = input_data.decode() if isinstance(input_data, bytes) else input_data
    if content_type == "text/csv":
        rows = []
        for number, line in enumerate(text.strip().splitlines(), 1):
            fields = line.split(",")
            if len(fields) != len(FEATURES):
                raise BadRequest(
                    f"row {number} has {len(fields)} columns; expected {len(FEATURES)}: "
                    + ",".join(FEATURES)
                )
            try:
                rows.append([float(f) if f.strip() else float("nan") for f in fields])
            except ValueError:
                raise BadRequest(f"row {number}: every column must be a number") from None
        if not rows:
            raise BadRequest("empty CSV body")
        return np.array(rows)
    if content_type == "application/json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BadRequest(f"invalid JSON: {exc}") from None
        if isinstance(data, dict):
            data = data.get("instances", [data])
        if not isinstance(data, list) or not data or not all(isinstance(r, dict) for r in data):
            raise BadRequest('JSON must be a record, a list of records or {"instances": [...]}')
        return np.array(
            [[_value(record, name, i) for name in FEATURES] for i, record in enumerate(data)]
        )
    raise UnsupportedMediaType(f"{content_type!r}: send text/csv or application/json")
