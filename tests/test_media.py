from __future__ import annotations

import pytest

from byoc.media import negotiate, parse_accept, parse_media_type


def test_media_type_parameters_and_case() -> None:
    media_type = parse_media_type('Text/CSV; Charset="UTF-8"; header=absent')
    assert media_type is not None
    assert media_type.essence == "text/csv"
    assert media_type.charset == "utf-8"
    assert media_type.param("header") == "absent"
    assert parse_media_type("application/json").charset == "utf-8"  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["", "csv", "text/", "/csv", "*/*", "text/*", "te xt/csv"])
def test_malformed_media_types_are_rejected(bad: str) -> None:
    assert parse_media_type(bad) is None


def test_accept_orders_by_q_then_specificity() -> None:
    ranges = parse_accept("*/*;q=0.1, text/*;q=0.5, text/csv;q=0.5, application/json")
    assert [r.essence for r in ranges] == ["application/json", "text/csv", "text/*", "*/*"]
    assert [r.q for r in ranges] == [1.0, 0.5, 0.5, 0.1]


def test_accept_ignores_garbage_and_clamps_q() -> None:
    ranges = parse_accept("garbage, text/csv;q=7, */json, application/json;q=abc")
    assert [(r.essence, r.q) for r in ranges] == [("text/csv", 1.0), ("application/json", 0.0)]


def test_negotiate_honours_q_values_and_exclusions() -> None:
    offered = ("application/json", "text/csv", "application/x-npy")
    assert negotiate(parse_accept("text/csv"), offered) == "text/csv"
    assert (
        negotiate(parse_accept("text/csv;q=0.4, application/json;q=0.8"), offered)
        == "application/json"
    )
    assert negotiate(parse_accept("*/*"), offered) == "application/json"
    assert negotiate(parse_accept("*/*, application/json;q=0"), offered) == "text/csv"
    assert (
        negotiate(parse_accept("application/*"), ("text/csv", "application/x-npy"))
        == "application/x-npy"
    )
    assert negotiate(parse_accept("image/png"), offered) is None
    assert negotiate(parse_accept("text/csv;q=0"), offered) is None


def test_negotiate_breaks_ties_by_the_clients_order() -> None:
    offered = ("application/json", "text/csv")
    assert negotiate(parse_accept("text/csv, application/json"), offered) == "text/csv"
