"""The JSONPath subset SageMaker batch transform accepts in InputFilter and OutputFilter.

Operators (AWS, "Associate Prediction Results with Input Records"): ``$`` (the record),
``.name``, ``['name']`` and ``['a','b']`` (an object of those keys), ``*`` (every child),
``[n]`` and ``[n,m,...]`` (negative indexes count from the end), ``[start:end]``. A CSV row
is taken as an array of its fields, so only index paths apply to it.

Two rules follow AWS's text rather than generic JSONPath: a slice includes its end
("``$[1:4]`` specifies the second through fifth columns"), and a union holds at most one
slice (``$[0,5:]`` is fine, ``$[0:2,5:]`` is refused, as SageMaker refuses it). A selection
of several elements must be the last step; an index outside the array is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["JsonPath", "JsonPathError", "parse"]

MAX_LENGTH = 63  # DataProcessing's length constraint
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INT = r"\s*(-?\d+)\s*"
_INDEX = re.compile(_INT)
_SLICE = re.compile(rf"(?:{_INT})?:(?:{_INT})?")
_QUOTED = re.compile(r"\s*(?:'([^']*)'|\"([^\"]*)\")\s*")


class JsonPathError(ValueError):
    """An expression outside the subset, or one that does not fit the record."""


@dataclass(frozen=True)
class _Step:
    kind: str  # "key", "keys", "index", "union", "all"
    keys: tuple[str, ...] = ()
    items: tuple[int | tuple[int | None, int | None], ...] = ()

    @property
    def several(self) -> bool:
        return self.kind in ("keys", "union", "all")


@dataclass(frozen=True)
class JsonPath:
    expression: str
    steps: tuple[_Step, ...]

    @property
    def identity(self) -> bool:
        return not self.steps

    @property
    def index_only(self) -> bool:
        """Whether it can apply to a CSV row (an array of fields)."""
        return all(step.kind in ("index", "union", "all") for step in self.steps)

    def select(self, value: Any) -> Any:
        for step in self.steps:
            value = _apply(step, value, self.expression)
        return value


def parse(expression: str) -> JsonPath:
    """Parse ``expression`` or raise :class:`JsonPathError` saying what is wrong with it."""
    if len(expression) > MAX_LENGTH:
        raise JsonPathError(f"{expression!r}: longer than {MAX_LENGTH} characters")
    if not expression.startswith("$"):
        raise JsonPathError(f"{expression!r}: a JSONPath starts with $")
    steps: list[_Step] = []
    rest = expression[1:]
    while rest:
        if steps and steps[-1].several:
            raise JsonPathError(f"{expression!r}: a selection of several elements must be last")
        if rest.startswith(".["):
            rest = rest[1:]
        if rest.startswith("."):
            name = "*" if rest.startswith(".*") else None
            match = None if name else _NAME.match(rest, 1)
            if name is None and match is None:
                raise JsonPathError(f"{expression!r}: expected a name after '.'")
            name = name or match.group(0)  # type: ignore[union-attr]
            rest = rest[1 + len(name) :]
            steps.append(_Step("all") if name == "*" else _Step("key", (name,)))
        elif rest.startswith("["):
            end = rest.find("]")
            if end < 0:
                raise JsonPathError(f"{expression!r}: '[' without ']'")
            steps.append(_bracket(rest[1:end], expression))
            rest = rest[end + 1 :]
        else:
            raise JsonPathError(f"{expression!r}: unexpected {rest[0]!r}")
    return JsonPath(expression, tuple(steps))


def _bracket(inside: str, expression: str) -> _Step:
    if inside.strip() == "*":
        return _Step("all")
    parts = inside.split(",")
    quoted = [_QUOTED.fullmatch(part) for part in parts]
    if all(quoted):
        keys = tuple(m.group(1) if m.group(1) is not None else m.group(2) for m in quoted if m)
        return _Step("key", keys) if len(keys) == 1 else _Step("keys", keys)
    items: list[int | tuple[int | None, int | None]] = []
    for part in parts:
        index, piece = _INDEX.fullmatch(part), _SLICE.fullmatch(part.strip())
        if index:
            items.append(int(index.group(1)))
        elif piece:
            start, stop = piece.groups()
            items.append(
                (None if start is None else int(start), None if stop is None else int(stop))
            )
        else:
            raise JsonPathError(f"{expression!r}: [{inside}] is not an index, slice or 'name'")
    if sum(isinstance(item, tuple) for item in items) > 1:
        raise JsonPathError(
            f"{expression!r}: only one range per filter is supported (e.g. [1:5] or [0,5:])"
        )
    if len(items) == 1 and isinstance(items[0], int):
        return _Step("index", items=tuple(items))
    return _Step("union", items=tuple(items))


def _apply(step: _Step, value: Any, expression: str) -> Any:
    if step.kind == "all":
        if isinstance(value, dict):
            return list(value.values())
        if isinstance(value, list):
            return list(value)
        raise JsonPathError(f"{expression}: '*' needs an array or an object, got {_kind(value)}")
    if step.kind in ("key", "keys"):
        if not isinstance(value, dict):
            raise JsonPathError(f"{expression}: a name needs an object, got {_kind(value)}")
        if step.kind == "key":
            if step.keys[0] not in value:
                raise JsonPathError(f"{expression}: no key {step.keys[0]!r} in the record")
            return value[step.keys[0]]
        picked = {key: value[key] for key in step.keys if key in value}
        if not picked:
            raise JsonPathError(f"{expression}: none of the keys is in the record")
        return picked
    if not isinstance(value, list):
        raise JsonPathError(f"{expression}: an index needs an array, got {_kind(value)}")
    selected: list[Any] = []
    for item in step.items:
        if isinstance(item, int):
            if not -len(value) <= item < len(value):
                raise JsonPathError(
                    f"{expression}: index {item} is outside the record's {len(value)} elements"
                )
            if step.kind == "index":
                return value[item]
            selected.append(value[item])
        else:
            selected.extend(value[_inclusive(item, len(value))])
    return selected


def _inclusive(bounds: tuple[int | None, int | None], size: int) -> slice:
    start, stop = bounds
    if stop is None:
        return slice(start, None)
    stop = stop + size if stop < 0 else stop
    return slice(start, stop + 1)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"the value {value!r}"
