"""``application/jsonlines``: one JSON value per line, in and out."""

from __future__ import annotations

import json as _json
from typing import Any

import numpy as np

from ..errors import BadRequest, ModelError
from ..media import MediaType
from ._text import decode_text
from .json import as_array_if_numeric, to_jsonable

__all__ = ["CODEC", "JsonLinesCodec"]


class JsonLinesCodec:
    media_type = "application/jsonlines"

    def decode(self, body: bytes, media_type: MediaType) -> Any:
        records = []
        for number, line in enumerate(decode_text(body, media_type).splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(_json.loads(line))
            except ValueError as exc:
                raise BadRequest(f"line {number}: invalid JSON: {exc}") from None
        if not records:
            raise BadRequest("empty JSON Lines body")
        return as_array_if_numeric(records)

    def encode(self, obj: Any) -> bytes:
        rows = obj.tolist() if isinstance(obj, np.ndarray) else obj
        if isinstance(rows, dict) or not hasattr(rows, "__iter__") or isinstance(rows, str):
            rows = [rows]
        try:
            lines = [_json.dumps(row, default=to_jsonable) for row in rows]
        except (TypeError, ValueError) as exc:
            raise ModelError(f"prediction cannot be encoded as JSON Lines: {exc}") from None
        return ("\n".join(lines) + "\n").encode()


CODEC = JsonLinesCodec()
