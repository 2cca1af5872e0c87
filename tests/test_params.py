"""Integers from request text: ASCII digits within bounds, and bounded ids in every route."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import NotFound
from wtforms import Form, SelectChoice
from wtforms.validators import Optional

from kldialog.kernel.params import (
    MAX_ID,
    BoundedIntegerField,
    ChoiceField,
    IdsField,
    as_id,
    choice,
    page_number,
    parse_int,
)


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


def test_choice_strips_and_refuses_blank_and_unknown_values() -> None:
    allowed = ("newest", "oldest")
    assert choice(" oldest ", allowed, "newest") == "oldest"
    assert choice(" ", allowed, "newest") == "newest"
    assert choice("", ("", "x"), "x") == "x"
    assert choice("random()", allowed, "newest") == "newest"
    assert choice(None, allowed, None) is None
    assert choice(["oldest"], allowed, "newest") == "newest"


def test_as_id_coerces_only_ids_in_range() -> None:
    assert as_id("12") == 12
    assert as_id(12) == 12
    for bad in ("0", "²", "٣", str(MAX_ID + 1), "99999999999", "", True, 0):
        with pytest.raises(ValueError):
            as_id(bad)


class _Form(Form):
    sort = ChoiceField(
        choices=[SelectChoice("", "all"), SelectChoice("title", "Title")], validators=[Optional()]
    )
    number = BoundedIntegerField(validators=[Optional()])
    ids = IdsField(choices=[SelectChoice(1, "one"), SelectChoice(2, "two")])
    loose = IdsField(choices=[SelectChoice(1, "one")], validate_choice=False)


def _form(**data: Any) -> _Form:
    return _Form(MultiDict([(k, v) for k, values in data.items() for v in values]))


@pytest.mark.parametrize("raw", [" ", "\t", "²", "x", " x "])
def test_choice_field_refuses_whitespace_and_unknown_values_despite_optional(raw: str) -> None:
    form = _form(sort=[raw])
    assert not form.validate()
    assert "sort" in form.errors


@pytest.mark.parametrize(("raw", "data"), [("", ""), ("title", "title"), (" title ", "title")])
def test_choice_field_accepts_its_choices(raw: str, data: str) -> None:
    form = _form(sort=[raw])
    assert form.validate(), form.errors
    assert form.sort.data == data


@pytest.mark.parametrize("raw", ["²", "٣", "1.5", "9" * 5000, str(MAX_ID + 1), "x"])
def test_bounded_integer_field_refuses_what_parse_int_refuses(raw: str) -> None:
    form = _form(number=[raw])
    assert not form.validate()
    assert form.number.data is None


def test_bounded_integer_field_reads_negative_and_empty() -> None:
    assert _form(number=["-3"]).number.data == -3
    form = _form(number=[""])
    assert form.validate()
    assert form.number.data is None


@pytest.mark.parametrize("raw", ["99999999999", "²", "0", "3"])
def test_ids_field_refuses_ids_out_of_range_or_not_offered(raw: str) -> None:
    form = _form(ids=["1", raw])
    assert not form.validate()
    assert "ids" in form.errors


def test_ids_field_without_choice_check_still_refuses_ids_out_of_range() -> None:
    assert _form(ids=["2"], loose=["7"]).validate()
    form = _form(ids=["2"], loose=["99999999999"])
    assert not form.validate()
    assert list(form.errors) == ["loose"]
