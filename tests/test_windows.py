"""The shared windowed item (kldialog.windows): window edges, naive times, eligibility, form."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask, session
from werkzeug.datastructures import MultiDict

from kldialog import permissions
from kldialog.priorities.forms import RoundForm
from kldialog.priorities.models import PriorityRound
from kldialog.surveys.forms import SurveyForm
from kldialog.surveys.models import Survey
from kldialog.windows.models import Eligibility, Publication, moment

OPENS = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
CLOSES = dt.datetime(2026, 12, 21, 17, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


def items(state: Publication = Publication.published) -> list[PriorityRound | Survey]:
    """Return a round and a survey with the same window (not stored)."""
    return [
        PriorityRound(opens_at=OPENS, closes_at=CLOSES, state=state),
        Survey(opens_at=OPENS, closes_at=CLOSES, state=state),
    ]


@pytest.mark.parametrize("item", items(), ids=["round", "survey"])
def test_the_window_includes_its_opening_and_excludes_its_closing_moment(
    item: PriorityRound | Survey,
) -> None:
    assert not item.is_open(OPENS - SECOND)
    assert not item.has_started(OPENS - SECOND)
    assert item.is_upcoming(OPENS - SECOND)
    assert item.is_open(OPENS)
    assert item.has_started(OPENS)
    assert not item.is_upcoming(OPENS)
    assert item.is_open(CLOSES - SECOND)
    assert not item.has_ended(CLOSES - SECOND)
    assert not item.is_closed(CLOSES - SECOND)
    assert not item.is_open(CLOSES)
    assert item.has_ended(CLOSES)
    assert item.is_closed(CLOSES)


@pytest.mark.parametrize("item", items(), ids=["round", "survey"])
def test_the_phase_staff_lists_show_follows_the_window(item: PriorityRound | Survey) -> None:
    assert item.phase(OPENS - SECOND) == "upcoming"
    assert item.phase(OPENS) == "open"
    assert item.phase(CLOSES) == "closed"
    item.state = Publication.draft
    assert item.phase(OPENS) == "draft"
    item.state = Publication.published


@pytest.mark.parametrize("item", items(Publication.draft), ids=["round", "survey"])
def test_a_draft_is_never_open_nor_closed_but_its_window_still_runs(
    item: PriorityRound | Survey,
) -> None:
    assert not item.is_open(OPENS)
    assert not item.is_closed(CLOSES)
    assert item.has_ended(CLOSES)
    assert item.is_upcoming(CLOSES)  # taking part lies ahead once it is published


@pytest.mark.parametrize("item", items(), ids=["round", "survey"])
def test_a_naive_time_is_refused_not_guessed(item: PriorityRound | Survey) -> None:
    naive = OPENS.replace(tzinfo=None)
    for check in (item.is_open, item.is_closed, item.has_started, item.has_ended):
        with pytest.raises(ValueError, match="aware"):
            check(naive)
    assert moment(None).tzinfo is not None
    other_zone = OPENS.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert item.is_open(other_zone)  # aware in any zone is the same moment


def test_eligibility_admits_by_verification() -> None:
    verified, unverified = SimpleNamespace(is_verified=True), SimpleNamespace(is_verified=False)
    assert Eligibility.resident.admits(unverified)
    assert Eligibility.resident.admits(verified)
    assert Eligibility.verified.admits(verified)
    assert not Eligibility.verified.admits(unverified)
    assert not Eligibility.verified.admits(None)
    # Stored values are those both tables had before: no data changed.
    assert [e.value for e in Eligibility] == ["resident", "verified"]
    assert [p.value for p in Publication] == ["draft", "published"]


@pytest.mark.parametrize("kind", ["round", "survey"])
def test_eligibility_per_role_and_verification_through_the_permissions(
    app: Flask, make_user: Callable[..., Any], kind: str
) -> None:
    from kldialog.auth.models import Role

    now = dt.datetime.now(dt.UTC)
    model = PriorityRound if kind == "round" else Survey
    may = permissions.can_vote if kind == "round" else permissions.can_answer_survey
    with app.app_context():
        resident = make_user(Role.resident)
        verified = make_user(Role.resident)
        verified.is_verified = True
        for eligibility, expected in (
            (Eligibility.resident, {"resident": True, "verified": True}),
            (Eligibility.verified, {"resident": False, "verified": True}),
        ):
            item = model(
                opens_at=now - dt.timedelta(hours=1),
                closes_at=now + dt.timedelta(hours=1),
                state=Publication.published,
                eligibility=eligibility,
            )
            people = {"resident": resident, "verified": verified}
            assert {name: may(person, item) for name, person in people.items()} == expected
            assert not may(None, item)  # a visitor without an account
            item.state = Publication.draft
            assert not may(verified, item)  # a draft takes nobody


@pytest.mark.parametrize("form_class", [RoundForm, SurveyForm], ids=["round", "survey"])
def test_the_window_form_part_turns_local_time_into_utc_and_refuses_a_backward_window(
    app: Flask, form_class: type[RoundForm] | type[SurveyForm]
) -> None:
    with app.test_request_context():
        session["lang"] = "en"
        form = form_class(
            MultiDict({"opens_at": "2026-12-01T09:00", "closes_at": "2026-12-21T18:00"}),
            meta={"csrf": False},
        )
        form.validate()
        assert "opens_at" not in form.errors
        assert "closes_at" not in form.errors
        # Kaiserslautern is UTC+1 in winter.
        assert form.window() == (OPENS, CLOSES)
        backward = form_class(
            MultiDict({"opens_at": "2026-12-21T18:00", "closes_at": "2026-12-21T18:00"}),
            meta={"csrf": False},
        )
        backward.validate()
        assert backward.errors["closes_at"] == [
            f"The {'round' if form_class is RoundForm else 'survey'} must close after it opens."
        ]
        gap = form_class(
            MultiDict({"opens_at": "2027-03-28T02:30", "closes_at": "2027-04-21T18:00"}),
            meta={"csrf": False},
        )
        gap.validate()
        assert gap.errors["opens_at"] == [
            "This time does not exist here: the clocks go forward that night."
        ]


def test_the_window_form_part_speaks_german(app: Flask) -> None:
    with app.test_request_context():
        session["lang"] = "de"
        form = SurveyForm(
            MultiDict({"opens_at": "2026-12-21T18:00", "closes_at": "2026-12-01T09:00"}),
            meta={"csrf": False},
        )
        form.validate()
        assert form.errors["closes_at"] == ["Die Umfrage muss nach ihrem Beginn enden."]
