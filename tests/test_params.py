"""Integers from request text: ASCII digits within bounds, and bounded ids in every route."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.exceptions import NotFound

from kldialog.kernel.params import MAX_ID, page_number, parse_int


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", 7),
        (" 7 ", 7),
        ("0", 0),
        ("²", None),
        ("٣", None),
        ("1²", None),
        ("", None),
        ("   ", None),
        ("-1", None),
        ("1.5", None),
        ("1e3", None),
        ("0x10", None),
        ("+3", None),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("9" * 5000, None),
        (None, None),
        (7, None),
    ],
)
def test_parse_int_reads_only_ascii_digits_in_range(text: object, expected: int | None) -> None:
    assert parse_int(text) == expected


def test_parse_int_checks_both_bounds() -> None:
    assert parse_int("-3", -5, 5) == -3
    assert parse_int("-6", -5, 5) is None
    assert parse_int("6", -5, 5) is None
    assert parse_int("5", 1, 5) == 5


@given(st.text(max_size=30))
def test_parse_int_never_raises_and_agrees_with_int(text: str) -> None:
    value = parse_int(text)
    if value is not None:
        assert 0 <= value <= MAX_ID
        assert int(text.strip()) == value


def test_page_number_falls_back_to_the_first_page() -> None:
    assert page_number("3") == 3
    assert page_number("0") == 1
    assert page_number("²") == 1
    assert page_number(str(10**20)) == 1
    assert page_number(None) == 1


@pytest.mark.parametrize("raw", ["2147483648", "99999999999", "0", "%C2%B2", "%D9%A3"])
def test_id_routes_answer_404_for_ids_out_of_range(client: FlaskClient, raw: str) -> None:
    for path in (f"/comments/{raw}", f"/events/{raw}", f"/priorities/{raw}", f"/surveys/{raw}"):
        assert client.get(path).status_code == 404, path


def test_the_int_converter_matches_exactly_the_ids_in_range(app: Flask) -> None:
    adapter = app.url_map.bind("localhost")
    assert adapter.match(f"/events/{MAX_ID}") == ("events.show", {"event_id": MAX_ID})
    assert adapter.match("/events/1") == ("events.show", {"event_id": 1})
    for raw in (str(MAX_ID + 1), "0", "²"):
        with pytest.raises(NotFound):
            adapter.match(f"/events/{raw}")
