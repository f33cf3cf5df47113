"""``text/csv``: header-less numeric rows in (a 2-D float array), one line per record out.

A one-row body decodes to shape ``(1, n)``, not ``(n,)`` as the sagemaker-inference
toolkit's ``genfromtxt`` gives; ``predict_fn``s written for the toolkit that reshape 1-D
input keep working. Empty fields become NaN. A quoted field longer than Python's
``csv.field_size_limit()`` (131,072 characters) is a 400: no number is that long.
"""

from __future__ import annotations

import csv as _csv
import io
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import BadRequest, ModelError
from ..media import MediaType
from ._text import decode_text

__all__ = ["CODEC", "CsvCodec"]

_NAN = float("nan")
# From this many lines on, numpy.loadtxt beats splitting in Python (measured: equal at 4).
_C_PARSER_MIN_ROWS = 4


def _number(field: str, row: int, column: int) -> float:
    try:
        return float(field) if field.strip() else _NAN
    except ValueError:
        raise BadRequest(
            f"row {row}, column {column}: {field[:40]!r} is not a number "
            "(the default CSV decoder reads numbers only; write an input_fn for text columns)"
        ) from None


def _parse_rows(rows: Iterable[list[str]]) -> np.ndarray:
    width = -1
    values: list[list[float]] = []
    for number, fields in enumerate(rows, 1):
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if width < 0:
            width = len(fields)
        elif len(fields) != width:
            raise BadRequest(f"row {number} has {len(fields)} columns, expected {width}")
        try:
            values.append([float(f) for f in fields])
        except ValueError:
            values.append([_number(f, number, c) for c, f in enumerate(fields, 1)])
    if not values:
        raise BadRequest("empty CSV body")
    return np.array(values, dtype=np.float64)


class CsvCodec:
    media_type = "text/csv"

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        text = decode_text(body, media_type)
        if '"' in text:
            try:
                return _parse_rows(_csv.reader(io.StringIO(text)))
            except _csv.Error as exc:  # a quoted field over csv.field_size_limit(), a NUL
                raise BadRequest(f"invalid CSV: {exc}") from None
        lines = text.splitlines()
        if len(lines) >= _C_PARSER_MIN_ROWS and not text.isspace():
            # numpy's C parser is ~4x faster on many rows; anything it refuses (empty
            # fields, ragged rows, blank lines) goes through the Python path below,
            # which gives the same values and the precise error message.
            try:
                return np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
            except ValueError:
                pass
        return _parse_rows(line.split(",") for line in lines)

    def encode(self, obj: Any) -> bytes:
        rows = obj.tolist() if isinstance(obj, (np.ndarray, np.generic)) else obj
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
            rows = [rows]
        out = io.StringIO()
        writer = _csv.writer(out, lineterminator="\n")
        try:
            for row in rows:
                if isinstance(row, np.ndarray):
                    row = row.tolist()
                if isinstance(row, dict):
                    raise TypeError("a mapping has no column order")
                writer.writerow(row if isinstance(row, (list, tuple)) else (row,))
        except (TypeError, _csv.Error) as exc:
            raise ModelError(f"prediction cannot be encoded as CSV: {exc}") from None
        return out.getvalue().encode()


CODEC = CsvCodec()
