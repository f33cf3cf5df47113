"""The JSONPath subset of SageMaker's InputFilter / OutputFilter (pure functions)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from byoc.jsonpath import JsonPathError, parse

ROW = ["id7", "4", "140", "86", "2790"]
RECORD = {"id": 7, "features": [1, 2, 3], "a": {"b": {"c": 5}}, "SageMakerOutput": 0.5}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$", ROW),
        ("$[1:]", ROW[1:]),
        ("$[0,2]", ["id7", "140"]),
        ("$[-1]", "2790"),
        ("$[0]", "id7"),
        ("$[1:3]", ["4", "140", "86"]),  # the end is included, as AWS documents
        ("$[:1]", ["id7", "4"]),
        ("$[-2:]", ["86", "2790"]),
        ("$[0,-1]", ["id7", "2790"]),
        ("$[0,3:]", ["id7", "86", "2790"]),
        ("$[ 0 , 2 ]", ["id7", "140"]),
        ("$[*]", ROW),
        ("$[:]", ROW),
    ],
)
def test_index_paths_on_a_csv_row(expression: str, expected: Any) -> None:
    path = parse(expression)
    assert path.index_only
    assert path.select(ROW) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("$", RECORD),
        ("$.id", 7),
        ("$.features", [1, 2, 3]),
        ("$.a.b", {"c": 5}),
        ("$.a.b.c", 5),
        ("$['id']", 7),
        ('$["id"]', 7),
        ("$['id','SageMakerOutput']", {"id": 7, "SageMakerOutput": 0.5}),
        ("$.a.['b']", {"c": 5}),
        ("$.features[1:]", [2, 3]),
        ("$.features[-1]", 3),
        ("$.a.*", [{"c": 5}]),
        ("$['id','missing']", {"id": 7}),
    ],
)
def test_paths_on_a_json_record(expression: str, expected: Any) -> None:
    assert parse(expression).select(RECORD) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("id", "starts with $"),
        ("$.", "expected a name"),
        ("$[1", "'[' without ']'"),
        ("$[a]", "not an index, slice or 'name'"),
        ("$[0:2,5:]", "only one range"),
        ("$[0,1].x", "must be last"),
        ("$x", "unexpected 'x'"),
        ("$" + ".a" * 40, "longer than 63"),
        ("$[1:2:3]", "not an index, slice or 'name'"),
    ],
)
def test_expressions_outside_the_subset_are_refused(expression: str, message: str) -> None:
    with pytest.raises(JsonPathError, match=re.escape(message)):
        parse(expression)


@pytest.mark.parametrize(
    ("expression", "value", "message"),
    [
        ("$[7]", ROW, "index 7 is outside the record's 5 elements"),
        ("$[-6]", ROW, "index -6 is outside"),
        ("$.id", ROW, "a name needs an object, got an array"),
        ("$[0]", RECORD, "an index needs an array, got an object"),
        ("$.nope", RECORD, "no key 'nope'"),
        ("$['x','y']", RECORD, "none of the keys"),
        ("$.id.*", RECORD, "'*' needs an array or an object, got the value 7"),
    ],
)
def test_paths_that_do_not_fit_the_record(expression: str, value: Any, message: str) -> None:
    with pytest.raises(JsonPathError, match=re.escape(message)):
        parse(expression).select(value)


def test_name_paths_are_not_for_csv_rows() -> None:
    assert not parse("$.id").index_only
    assert not parse("$['id']").index_only
    assert parse("$").identity and not parse("$[0]").identity
