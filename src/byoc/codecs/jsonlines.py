"""``application/jsonlines``: one JSON value per line, in and out (the JSON codec's bounds)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BadRequest
from ..media import MediaType
from ._text import decode_text
from .json import as_array_if_numeric, dumps, loads

__all__ = ["CODEC", "JsonLinesCodec"]


class JsonLinesCodec:
    media_type = "application/jsonlines"

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        records = []
        # "\n" only: str.splitlines() would also split inside a string holding U+2028
        for number, line in enumerate(decode_text(body, media_type).split("\n"), 1):
            if line.strip():
                records.append(loads(line, f"line {number}: "))
        if not records:
            raise BadRequest("empty JSON Lines body")
        return as_array_if_numeric(records)

    def encode(self, obj: Any) -> bytes:
        rows = obj.tolist() if isinstance(obj, np.ndarray) else obj
        if isinstance(rows, dict) or not hasattr(rows, "__iter__") or isinstance(rows, str):
            rows = [rows]
        lines = [dumps(row, "JSON Lines") for row in rows]
        if not lines:  # no record: no line (a lone "\n" would be an empty, invalid line)
            return b""
        return ("\n".join(lines) + "\n").encode()


CODEC = JsonLinesCodec()
