"""What the batch transform platform does to the data around the container.

InputFilter selects part of each record before it is sent; the answer of a MultiRecord
request is split back into one result per record (its lines, or the elements of a JSON
array); JoinSource=Input joins each result with its whole input record (CSV: the input's
columns, then the output's; JSON: ``SageMakerOutput`` added to an input object, else
``{"SageMakerInput": ..., "SageMakerOutput": ...}``); OutputFilter selects part of the
joined record (or of the result alone); AssembleWith=Line puts one result per line.
A CSV record is an array of its fields (RFC 4180); a JSON record is one JSON value.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from ..jsonpath import JsonPath, JsonPathError

__all__ = [
    "DataProcessing",
    "ProcessingError",
    "assemble",
    "media_kind",
    "single_result",
    "split_answer",
]

_JSON_TYPES = (
    "application/json",
    "application/jsonlines",
    "application/x-jsonlines",
    "application/json-lines",
)


class ProcessingError(ValueError):
    """A record, or an answer, that the data processing cannot handle; says why."""


def media_kind(content_type: str | None) -> str | None:
    """``"csv"``, ``"json"`` (JSON and JSON Lines) or ``None`` (anything else)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "text/csv":
        return "csv"
    if media in _JSON_TYPES:
        return "json"
    return None


def split_answer(body: bytes, content_type: str | None, count: int) -> list[bytes]:
    """One result per record of a MultiRecord request, or :class:`ProcessingError`."""
    value: Any = None
    if media_kind(content_type) != "csv":
        try:
            value = json.loads(body)
        except ValueError:
            value = None
        if isinstance(value, list) and len(value) == count:
            return [json.dumps(item).encode() for item in value]
    lines = [line[:-1] if line.endswith(b"\r") else line for line in body.split(b"\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) == count:
        return lines
    got = f"a JSON array of {len(value)}" if isinstance(value, list) else f"{len(lines)} lines"
    raise ProcessingError(
        f"the container answered {got} for {count} records; with MultiRecord the answer "
        "must hold one result per record (one line each, or a JSON array)"
    )


def single_result(body: bytes) -> bytes:
    """A SingleRecord answer as one result (its final end of line dropped)."""
    if body.endswith(b"\n"):
        body = body[:-1]
    return body[:-1] if body.endswith(b"\r") else body


def assemble(results: list[bytes], assemble_with: str) -> bytes:
    if assemble_with == "Line":
        return b"".join(result + b"\n" for result in results)
    return b"".join(results)


@dataclass(frozen=True)
class DataProcessing:
    """InputFilter, JoinSource and OutputFilter for records of ``input_kind``."""

    input_kind: str | None  # media_kind of the input's ContentType
    input_filter: JsonPath | None = None
    join_input: bool = False
    output_filter: JsonPath | None = None

    @property
    def per_record(self) -> bool:
        """Whether each result is processed (joined or filtered) on its own."""
        return self.join_input or self.output_filter is not None

    def filter_input(self, data: bytes) -> bytes:
        if self.input_filter is None:
            return data
        value = self.input_filter.select(self._read(data, self.input_kind))
        return self._write(value, self.input_kind)

    def finish(self, data: bytes, result: bytes, output_type: str | None) -> bytes:
        """The output record for input record ``data`` and the container's ``result``."""
        if not self.per_record:
            return result
        output_kind = media_kind(output_type)
        if self.join_input:
            kind = self.input_kind
            record = self._joined(self._read(data, kind), result, output_kind)
        else:
            kind = output_kind
            record = self._read(result, kind)
        if self.output_filter is not None:
            record = self.output_filter.select(record)
        return self._write(record, kind)

    def _joined(self, record: Any, result: bytes, output_kind: str | None) -> Any:
        if self.input_kind == "csv":
            output = _json_or_text(result) if output_kind != "csv" else None
            if output_kind == "csv" or (output_kind is None and isinstance(output, str)):
                output = self._read(result, "csv")
            return [*record, *(output if isinstance(output, list) else [output])]
        output = _json_or_text(result)
        if isinstance(record, dict):
            return {**record, "SageMakerOutput": output}
        return {"SageMakerInput": record, "SageMakerOutput": output}

    @staticmethod
    def _read(data: bytes, kind: str | None) -> Any:
        text = data.decode("utf-8")
        if kind == "csv":
            return next(csv.reader([text]), [])
        if kind == "json":
            try:
                return json.loads(text)
            except ValueError as exc:
                raise ProcessingError(f"not a JSON record: {exc}") from None
        return _json_or_text(data)

    @staticmethod
    def _write(value: Any, kind: str | None) -> bytes:
        if kind != "csv":
            return json.dumps(value).encode()
        if isinstance(value, dict):
            raise JsonPathError("an object cannot be written as a CSV row: use index paths")
        out = io.StringIO()
        row = value if isinstance(value, list) else [value]
        csv.writer(out, lineterminator="").writerow([_field(item) for item in row])
        return out.getvalue().encode()


def _field(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _json_or_text(data: bytes) -> Any:
    text = data.decode("utf-8")
    try:
        return json.loads(text)
    except ValueError:
        return text
