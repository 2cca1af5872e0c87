"""Events: staff editor, registration and waiting list, mail links, iCalendar, retention, privacy."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import itsdangerous
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog import create_app
from kldialog.auth.models import Role, User
from kldialog.events import cron as event_cron
from kldialog.events import links as event_links
from kldialog.events import mailing as event_mail
from kldialog.events import registrations as event_registrations
from kldialog.events.models import Event, EventRegistration, EventState, RegistrationStatus
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import as_utc, utcnow

from .conftest import (
    PASSWORD,
    TEST_DATABASE_URL,
    base_config,
    count_queries,
    empty_postgres_database,
    login,
)
from .test_auth import all_text_in_database

BERLIN = ZoneInfo("Europe/Berlin")


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def local_input(moment: dt.datetime) -> str:
    """Return a UTC time as the datetime-local value a person in Berlin would type."""
    return moment.astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")


def soon(days: int = 10, hour: int = 18) -> dt.datetime:
    """Return a whole hour in Berlin some days ahead, as aware UTC."""
    day = dt.datetime.now(BERLIN).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=BERLIN).astimezone(dt.UTC)


@pytest.fixture
def make_event(app: Flask) -> Callable[..., int]:
    """Return a factory for events written directly (so past ones are possible too)."""

    def make(
        title: str = "Bürgerdialog",
        *,
        starts_at: dt.datetime | None = None,
        hours: float = 2,
        state: EventState = EventState.published,
        project_ids: tuple[int, ...] = (),
        **fields: Any,
    ) -> int:
        from kldialog.projects.models import Project

        start = starts_at or soon()
        fields.setdefault("place", "Stadtbibliothek, Saal 1")
        with app.test_request_context():
            event = Event(
                title=title,
                starts_at=start,
                ends_at=start + dt.timedelta(hours=hours),
                state=state,
                **fields,
            )
            event.projects = [db.session.get(Project, pid) for pid in project_ids]
            db.session.add(event)
            db.session.commit()
            return event.id

    return make


def event_row(app: Flask, event_id: int) -> Event:
    with app.test_request_context():
        event = db.session.get(Event, event_id)
        db.session.expunge(event)
        return event


def registrations(app: Flask, event_id: int) -> list[tuple[str, str | None, int | None]]:
    """Return (status, email, user_id) of an event's registrations, first come first."""
    with app.test_request_context():
        rows = db.session.execute(
            sa.select(EventRegistration.status, EventRegistration.email, EventRegistration.user_id)
            .where(EventRegistration.event_id == event_id)
            .order_by(EventRegistration.joined_at, EventRegistration.id)
        ).all()
        return [(status.value, email, user_id) for status, email, user_id in rows]


def link_in(message: Any, path: str) -> str:
    """Return the site-relative link to `path` in a mail body."""
    body = message.get_content()
    match = re.search(rf"http://localhost({re.escape(path)}\S+)", body)
    assert match, body
    return match.group(1)


def event_form(**overrides: Any) -> dict[str, Any]:
    start = soon()
    data = {
        "title": "Werkstatt Offene Daten",
        "description": "Zwei Stunden zum Ausprobieren.",
        "starts_at": local_input(start),
        "ends_at": local_input(start + dt.timedelta(hours=2)),
        "language": "de",
        "place": "Rathaus, Raum 1.12",
        "step_free": "y",
        "hearing_loop": "y",
        "accessibility_note": "Barrierefreies WC im Erdgeschoss.",
        "online_url": "",
        "capacity": "20",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def count(app: Flask, model: Any) -> int:
    with app.test_request_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


# --- staff: create, change, publish ---------------------------------------------------------------


def test_staff_create_publish_and_change_an_event_with_audit_and_sequence(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], make_project: Callable[..., Any]
) -> None:
    staff = make_user(Role.staff)
    project = make_project("Offene Daten")
    login(client, staff)
    response = client.post(
        "/staff/events/new", data={**event_form(), "project_ids": [str(project.id)]}
    )
    assert response.status_code == 303
    event_id = int(response.headers["Location"].rsplit("/", 1)[1])
    event = event_row(app, event_id)
    assert event.state is EventState.draft and event.capacity == 20
    assert event.step_free and event.hearing_loop and not event.sign_language
    # Entered 18:00 in Berlin, stored in UTC.
    assert as_utc(event.starts_at) == soon()
    assert client.get(f"/events/{event_id}").status_code == 200  # staff preview
    assert client.post(f"/staff/events/{event_id}/publish").status_code == 303
    assert event_row(app, event_id).state is EventState.published
    moved = {
        **event_form(starts_at=local_input(soon(11)), ends_at=local_input(soon(11, 20))),
        "project_ids": [str(project.id)],
    }
    assert client.post(f"/staff/events/{event_id}", data=moved).status_code == 303
    after = event_row(app, event_id)
    assert after.sequence == 1 and as_utc(after.starts_at) == soon(11)
    # The same data again changes nothing: no new audit entry, no new SEQUENCE.
    response = client.post(f"/staff/events/{event_id}", data=moved, follow_redirects=True)
    assert "Es wurde nichts geändert." in text(response)
    assert event_row(app, event_id).sequence == 1
    with app.test_request_context():
        actions = db.session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.target_type == "event")
        ).all()
        assert actions == ["event.create", "event.publish", "event.update"]
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "event.update"))
        assert entry.actor_id == staff.id and set(entry.details["changed"]) == {
            "starts_at",
            "ends_at",
        }


BAD_EVENT_INPUT = [
    ({"starts_at": "2026-13-45T25:61"}, "starts_at", "Kein gültiges Datum mit Zeit."),
    ({"starts_at": "morgen"}, "starts_at", "Kein gültiges Datum mit Zeit."),
    ({"ends_at": ""}, "ends_at", "Bitte geben Sie Datum und Uhrzeit ein"),
    ({"starts_at": "0001-01-01T00:00"}, "starts_at", "zwischen den Jahren 2000 und 2099"),
    (
        {"starts_at": "2027-03-28T02:30"},
        "starts_at",
        "In dieser Nacht wird die Uhr vorgestellt",
    ),
    (
        {"ends_at": local_input(soon(10, 17))},
        "ends_at",
        "Die Veranstaltung muss nach ihrem Beginn enden.",
    ),
    (
        {"starts_at": "2020-01-01T10:00", "ends_at": "2020-01-01T12:00"},
        "starts_at",
        "Der Beginn muss in der Zukunft liegen.",
    ),
    ({"online_url": "http://meet.example.org/x"}, "online_url", "mit https:// beginnt"),
    ({"online_url": "javascript:alert(1)"}, "online_url", "mit https:// beginnt"),
    ({"online_url": "https://"}, "online_url", "mit https:// beginnt"),
    ({"place": ""}, "place", "einen Ort, einen Link für die Online-Teilnahme oder beides"),
    ({"capacity": "0"}, "capacity", "von 1 bis 100.000"),
    ({"capacity": "viele"}, "capacity", "Bitte geben Sie eine ganze Zahl ein."),
    ({"capacity": "٣"}, "capacity", "Bitte geben Sie eine ganze Zahl ein."),
    ({"capacity": "9" * 30}, "capacity", "Bitte geben Sie eine ganze Zahl ein."),
    ({"project_ids": ["99999999999"]}, "project_ids", "Bitte wählen Sie aus der Liste."),
    ({"title": "   "}, "title", "Bitte geben Sie der Veranstaltung einen Titel."),
    ({"language": "fr"}, "language", "Keine gültige Auswahl."),
    ({"description": "x" * 5001}, "description", "höchstens 5.000 Zeichen"),
]


def test_bad_input_gets_a_message_next_to_the_field_and_nothing_is_saved(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    login(client, make_user(Role.staff))
    for overrides, field, message in BAD_EVENT_INPUT:
        response = client.post("/staff/events/new", data=event_form(**overrides))
        page = text(response)
        assert response.status_code == 200, overrides
        assert "<title>Fehler: " in page, overrides
        assert f'id="{field}-error-1"' in page, overrides
        assert message in page, overrides
        if field != "title":
            assert 'value="Werkstatt Offene Daten"' in page, overrides  # what was typed stays
    assert count(app, Event) == 0
    assert count(app, AuditEntry) == 1  # only the staff account's creation


def test_online_only_event_needs_no_place_and_keeps_the_https_link(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    login(client, make_user(Role.staff))
    data = event_form(place="", online_url="  https://meet.example.org/kl-dialog?x=1  ")
    assert client.post("/staff/events/new", data=data).status_code == 303
    with app.test_request_context():
        event = db.session.scalar(sa.select(Event))
        assert event.online_url == "https://meet.example.org/kl-dialog?x=1" and event.place == ""


def test_staff_pages_are_for_staff_only(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], make_event: Callable[..., int]
) -> None:
    event_id = make_event()
    for path in ("/staff/events", "/staff/events/new", f"/staff/events/{event_id}"):
        assert client.get(path).status_code == 302  # to the login
    login(client, make_user(Role.resident, Role.moderator, Role.council))
    for path in ("/staff/events", "/staff/events/new", f"/staff/events/{event_id}"):
        assert client.get(path).status_code == 403
    assert client.post(f"/staff/events/{event_id}/publish").status_code == 403
    assert client.post(f"/staff/events/{event_id}/cancel", data={}).status_code == 403
    assert client.post("/staff/events/new", data=event_form()).status_code == 403
    assert count(app, Event) == 1


def test_drafts_are_hidden_from_the_public_and_huge_ids_are_404(
    app: Flask, client: FlaskClient, make_event: Callable[..., int]
) -> None:
    draft = make_event("Geheimer Entwurf", state=EventState.draft)
    for path in (f"/events/{draft}", f"/events/{draft}.ics", "/events/99999999999999999999"):
        assert client.get(path).status_code == 404
    assert (
        client.post(f"/events/{draft}/register-by-email", data={"email": "a@b.de"}).status_code
        == 404
    )
    assert "Geheimer Entwurf" not in text(client.get("/events"))
    assert "Geheimer Entwurf" not in text(client.get("/events.ics"))
    assert client.get("/staff/events/99999999999999999999").status_code in (302, 404)


def test_capacity_cannot_drop_below_the_places_taken_and_a_rise_moves_people_up(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    make_event: Callable[..., int],
    outbox: Callable[[], list[Any]],
) -> None:
    staff = make_user(Role.staff)
    event_id = make_event(capacity=1, language="de")
    people = [make_user(Role.resident, name=f"Gast {n}") for n in range(3)]
    for person in people:
        with app.test_request_context():
            event_registrations.register_resident(
                db.session.get(User, person.id), db.session.get(Event, event_id)
            )
    assert [s for s, _e, _u in registrations(app, event_id)] == ["registered", "waiting", "waiting"]
    login(client, staff)
    start = event_row(app, event_id).starts_at
    data = event_form(
        title="Bürgerdialog",
        starts_at=local_input(as_utc(start)),
        ends_at=local_input(as_utc(start) + dt.timedelta(hours=2)),
        place="Stadtbibliothek, Saal 1",
        step_free=None,
        hearing_loop=None,
        accessibility_note="",
        description="",
    )
    before = len(outbox())
    grown = client.post(f"/staff/events/{event_id}", data={**data, "capacity": "2"})
    assert grown.status_code == 303
    statuses = registrations(app, event_id)
    assert [s for s, _e, _u in statuses] == ["registered", "registered", "waiting"]
    assert statuses[1][2] == people[1].id  # first come, first to move up
    moved_mail = outbox()[before:]
    assert len(moved_mail) == 1 and moved_mail[0]["To"] == people[1].email
    assert "Sie haben einen Platz" in moved_mail[0]["Subject"]
    # Fewer places than people with a place: refused next to the field, nothing changes.
    shrink = client.post(f"/staff/events/{event_id}", data={**data, "capacity": "1"})
    assert shrink.status_code == 200
    assert "2 Personen haben schon einen Platz" in text(shrink)
    assert event_row(app, event_id).capacity == 2


# --- residents: one click, duplicates, waiting list, cancelling -------------------------------------


def test_resident_registers_with_one_click_and_cannot_register_twice(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    make_event: Callable[..., int],
    outbox: Callable[[], list[Any]],
) -> None:
    event_id = make_event(capacity=10)
    resident = make_user(Role.resident, name="Rita Rad")
    page = text(client.get(f"/events/{event_id}"))
    assert "Mit meiner E-Mail-Adresse anmelden" in page  # visitors: the e-mail form
    assert client.post(f"/events/{event_id}/register").status_code == 303  # to the login
    assert registrations(app, event_id) == []
    login(client, resident)
    response = client.post(f"/events/{event_id}/register", follow_redirects=True)
    assert "Sie sind angemeldet." in text(response)
    assert registrations(app, event_id) == [("registered", None, resident.id)]
    assert event_row(app, event_id).registered_count == 1
    [mail] = outbox()
    assert mail["To"] == resident.email and mail["Subject"] == "Ihre Anmeldung: Bürgerdialog"
    assert "/events/registration/" in mail.get_content()  # the cancellation link
    again = client.post(f"/events/{event_id}/register", follow_redirects=True)
    assert "Sie sind für diese Veranstaltung schon angemeldet." in text(again)
    assert registrations(app, event_id) == [("registered", None, resident.id)]
    assert event_row(app, event_id).registered_count == 1
    assert len(outbox()) == 1


def test_the_unique_constraint_catches_a_double_click_that_raced(
    app: Flask, make_user: Callable[..., Any], make_event: Callable[..., int], monkeypatch: Any
) -> None:
    event_id = make_event()
    resident = make_user(Role.resident)
    with app.test_request_context():
        event_registrations.register_resident(
            db.session.get(User, resident.id), db.session.get(Event, event_id)
        )
    # The second request passed the "already registered?" check before the first committed.
    real_scalar = db.session.scalar

    def not_yet(statement: Any, *args: Any, **kwargs: Any) -> Any:
        if "event_registration" in str(statement) and "user_id" in str(statement):
            return None
        return real_scalar(statement, *args, **kwargs)

    with app.test_request_context():
        monkeypatch.setattr(db.session, "scalar", not_yet)
        with pytest.raises(RuleViolation, match="schon angemeldet"):
            event_registrations.register_resident(
                db.session.get(User, resident.id), db.session.get(Event, event_id)
            )
        monkeypatch.undo()
    assert len(registrations(app, event_id)) == 1
    assert event_row(app, event_id).registered_count == 1  # the counter rolled back too


def test_full_event_fills_the_waiting_list_and_a_cancellation_moves_the_first_up(
    app: Flask,
    make_user: Callable[..., Any],
    make_event: Callable[..., int],
    outbox: Callable[[], list[Any]],
) -> None:
    event_id = make_event(capacity=2)
    people = [make_user(Role.resident, name=f"Person {n}") for n in range(5)]
    clients = []
    for person in people:
        client = app.test_client()
        login(client, person)
        client.post(f"/events/{event_id}/register")
        clients.append(client)
    assert [s for s, _e, _u in registrations(app, event_id)] == [
        "registered",
        "registered",
        "waiting",
        "waiting",
        "waiting",
    ]
    event = event_row(app, event_id)
    assert (event.registered_count, event.waiting_count) == (2, 3)
    assert "Platz 2 der Warteliste" in text(clients[3].get(f"/events/{event_id}"))
    assert "Auf die Warteliste setzen" in text(app.test_client().get(f"/events/{event_id}"))
    sent = len(outbox())
    response = clients[0].post(f"/events/{event_id}/unregister", follow_redirects=True)
    assert "Ihre Anmeldung ist zurückgezogen." in text(response)
    rows = registrations(app, event_id)
    assert [(s, u) for s, _e, u in rows] == [
        ("registered", people[1].id),
        ("registered", people[2].id),
        ("waiting", people[3].id),
        ("waiting", people[4].id),
    ]
    event = event_row(app, event_id)
    assert (event.registered_count, event.waiting_count) == (2, 2)
    [moved] = outbox()[sent:]
    assert moved["To"] == people[2].email and "Platz ist frei geworden" in moved.get_content()
    assert "Platz 1 der Warteliste" in text(clients[3].get(f"/events/{event_id}"))
    # A waiting person who leaves frees no place: nobody moves up.
    clients[4].post(f"/events/{event_id}/unregister")
    assert len(outbox()) == sent + 1
    assert (event_row(app, event_id).registered_count, event_row(app, event_id).waiting_count) == (
        2,
        1,
    )


def test_registration_after_the_start_or_for_a_cancelled_event_changes_nothing(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], make_event: Callable[..., int]
) -> None:
    running = make_event(starts_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    cancelled = make_event(state=EventState.cancelled)
    login(client, make_user(Role.resident))
    response = client.post(f"/events/{running}/register", follow_redirects=True)
    assert "Die Anmeldung ist geschlossen: Die Veranstaltung hat schon begonnen." in text(response)
    response = client.post(f"/events/{cancelled}/register", follow_redirects=True)
    assert "Diese Veranstaltung wurde abgesagt. Es wurde nichts gespeichert." in text(response)
    visitor = app.test_client()
    response = visitor.post(
        f"/events/{running}/register-by-email",
        data={"email": "x@example.org"},
        follow_redirects=True,
    )
    assert "hat schon begonnen" in text(response)
    assert count(app, EventRegistration) == 0
    with app.test_request_context():
        # The service refuses as well, whatever the view checked before.
        with pytest.raises(RuleViolation, match="hat schon begonnen"):
            event_registrations.register_resident(
                db.session.scalar(sa.select(User)), db.session.get(Event, running)
            )
    assert event_row(app, running).registered_count == 0


def test_residents_who_cannot_take_part_get_no_button_and_a_403(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any], make_event: Callable[..., int]
) -> None:
    event_id = make_event()
    blocked = make_user(Role.resident, blocked_until=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    login(client, blocked)
    page = text(client.get(f"/events/{event_id}"))
    assert "Für diese Veranstaltung anmelden" not in page
    assert "muss Ihr Konto bereit zum Mitmachen sein" in page
    assert client.post(f"/events/{event_id}/register").status_code == 403
    assert count(app, EventRegistration) == 0


# --- visitors: e-mail only, confirmed by a button ---------------------------------------------------


def test_visitor_registers_with_an_address_confirmed_by_a_button_and_cancels_without_login(
    app: Flask, client: FlaskClient, make_event: Callable[..., int], outbox: Callable[[], list[Any]]
) -> None:
    event_id = make_event(capacity=5)
    response = client.post(
        f"/events/{event_id}/register-by-email", data={"email": " Gast@Example.org "}
    )
    assert response.headers["Location"] == f"/events/{event_id}/check-mail"
    assert "Gast@Example.org" not in text(client.get(response.headers["Location"]))
    assert registrations(app, event_id) == [("pending", "gast@example.org", None)]
    assert event_row(app, event_id).registered_count == 0  # pending holds no place
    [mail] = outbox()
    confirm = link_in(mail, "/events/confirm/")
    assert "gast" not in confirm.lower()  # the address is not in the URL
    # Opening the link (a mail scanner does) confirms nothing.
    page = client.get(confirm)
    assert page.status_code == 200 and "Anmeldung bestätigen" in text(page)
    assert registrations(app, event_id) == [("pending", "gast@example.org", None)]
    response = client.post(confirm)
    assert response.status_code == 303 and "/events/registration/" in response.headers["Location"]
    assert registrations(app, event_id) == [("registered", "gast@example.org", None)]
    assert event_row(app, event_id).registered_count == 1
    again = client.post(confirm, follow_redirects=True)
    assert "Ihre Anmeldung war schon bestätigt." in text(again)
    assert event_row(app, event_id).registered_count == 1
    registered_mail = outbox()[-1]
    assert registered_mail["Subject"] == "Ihre Anmeldung: Bürgerdialog"
    cancel = link_in(registered_mail, "/events/registration/")
    other = app.test_client()  # another browser, no login, no session
    assert "Sie sind angemeldet." in text(other.get(cancel))
    done = other.post(cancel, follow_redirects=True)
    assert "Ihre Anmeldung ist zurückgezogen und gelöscht." in text(done)
    assert registrations(app, event_id) == []
    assert event_row(app, event_id).registered_count == 0
    used = other.get(cancel)
    assert used.status_code == 400 and "Dieser Link funktioniert nicht mehr" in text(used)
    # Someone else's registration under the same id (SQLite reuses the highest id) is safe.
    with app.test_request_context():
        registration_id = int(event_links.serializer("cancel").loads(cancel.rsplit("/", 1)[1])[0])
        db.session.add(
            EventRegistration(
                id=registration_id,
                event_id=event_id,
                email="andere@example.org",
                status=RegistrationStatus.registered,
                joined_at=utcnow(),
            )
        )
        db.session.commit()
    assert other.post(cancel).status_code == 400
    assert registrations(app, event_id) == [("registered", "andere@example.org", None)]
    with app.test_request_context():
        db.session.execute(sa.delete(EventRegistration))
        db.session.commit()
    assert other.post(confirm).status_code == 400
    with app.test_request_context():
        assert "gast@example.org" not in all_text_in_database()


def test_an_address_already_registered_gets_a_mail_and_the_page_says_the_same(
    app: Flask, make_event: Callable[..., int], outbox: Callable[[], list[Any]]
) -> None:
    event_id = make_event()
    first, second = app.test_client(), app.test_client()
    one = first.post(f"/events/{event_id}/register-by-email", data={"email": "ida@example.org"})
    app.test_client().post(link_in(outbox()[0], "/events/confirm/"))
    two = second.post(f"/events/{event_id}/register-by-email", data={"email": "ida@example.org"})
    assert one.headers["Location"] == two.headers["Location"]  # nothing tells them apart

    def page(client: FlaskClient, path: str) -> str:
        return re.sub(r'value="[^"]{40,}"', "", text(client.get(path)))  # without the CSRF token

    assert page(first, one.headers["Location"]) == page(second, two.headers["Location"])
    last = outbox()[-1]
    assert last["Subject"] == "Sie sind schon angemeldet: Bürgerdialog"
    assert "/events/registration/" in last.get_content()
    assert registrations(app, event_id) == [("registered", "ida@example.org", None)]
    # A pending address asked again gets the same confirmation link again, no second row.
    second.post(f"/events/{event_id}/register-by-email", data={"email": "neu@example.org"})
    second.post(f"/events/{event_id}/register-by-email", data={"email": "NEU@example.org"})
    assert [e for _s, e, _u in registrations(app, event_id)].count("neu@example.org") == 1
    assert outbox()[-1]["Subject"].startswith("Bitte bestätigen Sie Ihre Anmeldung")


@pytest.mark.parametrize("address", ["", "kein-at-zeichen", "a@b", "x" * 250 + "@example.org"])
def test_a_bad_address_is_named_next_to_the_field_and_kept(
    app: Flask, client: FlaskClient, make_event: Callable[..., int], address: str
) -> None:
    event_id = make_event()
    response = client.post(f"/events/{event_id}/register-by-email", data={"email": address})
    page = text(response)
    assert response.status_code == 422
    assert "<title>Fehler: " in page and 'id="email-error-1"' in page
    assert 'aria-invalid="true"' in page
    if address:
        assert f'value="{address}"' in page
    assert count(app, EventRegistration) == 0


def test_forged_expired_or_foreign_links_change_nothing(
    app: Flask, make_event: Callable[..., int], outbox: Callable[[], list[Any]]
) -> None:
    event_id = make_event()
    client = app.test_client()
    client.post(f"/events/{event_id}/register-by-email", data={"email": "eva@example.org"})
    confirm = link_in(outbox()[0], "/events/confirm/")
    token = confirm.rsplit("/", 1)[1]
    tampered = ("A" if token[3] != "A" else "B").join((token[:3], token[4:]))
    for bad in (tampered, "WzEsIngiXQ", "x" * 400, token.replace(".", "", 1)):
        response = client.post(f"/events/confirm/{bad}")
        assert response.status_code == 400, (bad, token)
        assert client.get(f"/events/registration/{bad}").status_code == 400
    with app.test_request_context():
        # The confirmation token cannot cancel, and a cancel token for another row fails.
        with pytest.raises(RuleViolation):
            event_links.registration_for_cancel_token(token)
    # A link signed 49 hours ago has expired.
    with app.test_request_context():
        registration = db.session.scalar(sa.select(EventRegistration))

        class SignedLongAgo(itsdangerous.TimestampSigner):
            def get_timestamp(self) -> int:
                return int(time.time()) - 49 * 3600

        signer = itsdangerous.URLSafeTimedSerializer(
            app.config["SECRET_KEY"], salt="kldialog-event-confirm", signer=SignedLongAgo
        )
        old = signer.dumps(
            [registration.id, event_links.fingerprint(event_id, registration.created_at)]
        )
    expired = client.post(f"/events/confirm/{old}")
    assert expired.status_code == 400 and "abgelaufen" in text(expired)
    assert client.get(confirm).status_code == 200  # the fresh link still works
    with app.test_request_context():
        assert db.session.scalar(sa.select(EventRegistration.status)) is RegistrationStatus.pending


def test_mail_goes_out_in_the_registrants_language(
    app: Flask,
    make_user: Callable[..., Any],
    make_event: Callable[..., int],
    outbox: Callable[[], list[Any]],
) -> None:
    event_id = make_event(capacity=1)
    english = make_user(Role.resident, language="en")
    with app.test_request_context():
        event_registrations.register_resident(
            db.session.get(User, english.id), db.session.get(Event, event_id)
        )
    assert outbox()[-1]["Subject"] == "Your registration: Bürgerdialog"
    assert "you are registered for this event" in outbox()[-1].get_content()
    visitor = app.test_client()
    visitor.post("/language", data={"lang": "en", "next": "/"})
    visitor.post(f"/events/{event_id}/register-by-email", data={"email": "tom@example.org"})
    assert outbox()[-1]["Subject"] == "Please confirm your registration: Bürgerdialog"
    visitor.post("/language", data={"lang": "de", "next": "/"})
    visitor.post(link_in(outbox()[-1], "/events/confirm/"))
    waiting = outbox()[-1]
    assert waiting["Subject"] == "Your registration: Bürgerdialog"  # still English
    assert "waiting list (number 1)" in waiting.get_content()


# --- cancelling an event, summary, project pages ------------------------------------------------------


def test_cancelling_an_event_tells_everyone_deletes_registrations_and_marks_the_feed(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    make_event: Callable[..., int],
    outbox: Callable[[], list[Any]],
) -> None:
    event_id = make_event(capacity=1)
    staff = make_user(Role.staff)
    resident = make_user(Role.resident, language="en")
    with app.test_request_context():
        event_registrations.register_resident(
            db.session.get(User, resident.id), db.session.get(Event, event_id)
        )
    visitor = app.test_client()
    visitor.post(f"/events/{event_id}/register-by-email", data={"email": "wait@example.org"})
    visitor.post(link_in(outbox()[-1], "/events/confirm/"))
    visitor.post(f"/events/{event_id}/register-by-email", data={"email": "pending@example.org"})
    before = len(outbox())
    login(client, staff)
    page = text(client.get(f"/staff/events/{event_id}/cancel"))
    assert "2 Personen haben einen Platz oder warten." in page
    response = client.post(
        f"/staff/events/{event_id}/cancel", data={"reason": "Der Saal ist nicht nutzbar."}
    )
    assert response.status_code == 303
    told = outbox()[before:]
    assert sorted(mail["To"] for mail in told) == sorted([resident.email, "wait@example.org"])
    english = next(mail for mail in told if mail["To"] == resident.email)
    assert english["Subject"] == "Cancelled: Bürgerdialog"
    assert "Der Saal ist nicht nutzbar." in english.get_content()
    assert registrations(app, event_id) == []
    event = event_row(app, event_id)
    assert event.state is EventState.cancelled and event.sequence == 1
    assert "Diese Veranstaltung wurde abgesagt." in text(
        app.test_client().get(f"/events/{event_id}")
    )
    calendar = icalendar.Calendar.from_ical(app.test_client().get(f"/events/{event_id}.ics").data)
    [item] = calendar.walk("VEVENT")
    assert str(item["STATUS"]) == "CANCELLED" and int(item["SEQUENCE"]) == 1
    with app.test_request_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "event.cancel"))
        assert entry.reason == "Der Saal ist nicht nutzbar." and entry.details["told"] == 2
    # Cancelled once: a second cancel, an edit or a registration is refused and changes nothing.
    again = client.post(f"/staff/events/{event_id}/cancel", data={"reason": "x"})
    assert "Nur eine veröffentlichte Veranstaltung kann abgesagt werden." in text(again)
    assert event_row(app, event_id).sequence == 1


def test_summary_after_the_event_appears_in_the_projects_updates(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    make_event: Callable[..., int],
    make_project: Callable[..., Any],
) -> None:
    project = make_project("Handyparken")
    upcoming = make_event("Fragestunde Handyparken", project_ids=(project.id,))
    past = make_event(
        "Werkstatt Handyparken",
        starts_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3),
        project_ids=(project.id,),
    )
    login(client, make_user(Role.staff))
    early = client.post(f"/staff/events/{upcoming}/summary", data={"summary": "Zu früh."})
    assert "sobald die Veranstaltung vorbei ist" in text(early)
    assert event_row(app, upcoming).summary == ""
    empty = client.post(f"/staff/events/{past}/summary", data={"summary": "  "})
    assert 'id="summary-error-1"' in text(empty)
    response = client.post(
        f"/staff/events/{past}/summary",
        data={"summary": "30 Teilnehmende.\n\nDie Stadt prüft Parkhäuser."},
    )
    assert response.status_code == 303
    page = text(app.test_client().get(f"/projects/{project.slug}"))
    assert "Veranstaltungen zu diesem Projekt" in page and "Fragestunde Handyparken" in page
    updates = page[page.index('id="updates-title"') :]
    assert "Werkstatt Handyparken" in updates and "Die Stadt prüft Parkhäuser." in updates
    assert f'href="/events/{past}"' in updates
    assert "Werkstatt Handyparken" not in page[: page.index('id="updates-title"')]  # not "coming"
    event_page = text(app.test_client().get(f"/events/{past}"))
    assert "Zusammenfassung der Veranstaltung" in event_page and "30 Teilnehmende." in event_page
    with app.test_request_context():
        assert db.session.scalar(
            sa.select(AuditEntry.action).where(AuditEntry.action == "event.summary")
        )


# --- iCalendar ----------------------------------------------------------------------------------------


def test_ics_feed_and_file_parse_with_berlin_times_uid_dtstamp_and_vtimezone(
    app: Flask, client: FlaskClient, make_event: Callable[..., int]
) -> None:
    winter = dt.datetime(2027, 1, 15, 17, 0, tzinfo=dt.UTC)  # 18:00 in Berlin (CET)
    summer = dt.datetime(2027, 7, 1, 16, 30, tzinfo=dt.UTC)  # 18:30 in Berlin (CEST)
    first = make_event("Winterdialog", starts_at=winter, step_free=True)
    second = make_event(
        "Sommerdialog", starts_at=summer, place="", online_url="https://meet.example.org/x"
    )
    response = client.get("/events.ics")
    assert response.mimetype == "text/calendar"
    calendar = icalendar.Calendar.from_ical(response.data)
    assert str(calendar["VERSION"]) == "2.0" and calendar["PRODID"]
    [zone] = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/Berlin"
    offsets = {part.decoded("TZOFFSETTO") for part in zone.subcomponents}
    assert offsets == {dt.timedelta(hours=1), dt.timedelta(hours=2)}
    items = {str(item["SUMMARY"]): item for item in calendar.walk("VEVENT")}
    assert set(items) == {"Winterdialog", "Sommerdialog"}
    winter_item = items["Winterdialog"]
    start = winter_item.decoded("DTSTART")
    assert start.tzinfo is not None and str(start.tzinfo) == "Europe/Berlin"
    assert start.replace(tzinfo=None) == dt.datetime(2027, 1, 15, 18, 0)
    assert start.astimezone(dt.UTC) == winter
    assert winter_item.decoded("DTEND").astimezone(dt.UTC) == winter + dt.timedelta(hours=2)
    assert items["Sommerdialog"].decoded("DTSTART").replace(tzinfo=None) == dt.datetime(
        2027, 7, 1, 18, 30
    )
    assert "TZID=Europe/Berlin:20270115T180000" in response.get_data(as_text=True)
    with app.test_request_context():
        event = db.session.get(Event, first)
        assert str(winter_item["UID"]) == str(event.uid)
        assert winter_item.decoded("DTSTAMP") == as_utc(event.updated_at).replace(microsecond=0)
    assert int(winter_item["SEQUENCE"]) == 0 and str(winter_item["STATUS"]) == "CONFIRMED"
    assert "Stufenloser Zugang" in str(winter_item["DESCRIPTION"])
    assert str(items["Sommerdialog"]["LOCATION"]) == "https://meet.example.org/x"
    assert str(winter_item["URL"]).endswith(f"/events/{first}")
    single = client.get(f"/events/{second}.ics")
    assert single.headers["Content-Disposition"] == f'attachment; filename="event-{second}.ics"'
    [only] = icalendar.Calendar.from_ical(single.data).walk("VEVENT")
    assert str(only["SUMMARY"]) == "Sommerdialog"


def test_feed_of_no_events_is_still_a_valid_calendar(client: FlaskClient) -> None:
    calendar = icalendar.Calendar.from_ical(client.get("/events.ics").data)
    assert calendar.walk("VEVENT") == [] and str(calendar["VERSION"]) == "2.0"


# --- cron: reminders and retention --------------------------------------------------------------------


def test_reminders_go_to_people_with_a_place_once_the_day_before(
    monkeypatch: Any,
    app: Flask,
    make_user: Callable[..., Any],
    make_event: Callable[..., int],
    outbox: Callable[[], list[Any]],
) -> None:
    tomorrow = make_event("Morgen", starts_at=soon(1, 18), capacity=1)
    later = make_event("Später", starts_at=soon(5, 18))
    a, b = make_user(Role.resident), make_user(Role.resident)
    with app.test_request_context():
        for person in (a, b):
            user = db.session.get(User, person.id)
            event_registrations.register_resident(user, db.session.get(Event, tomorrow))
            event_registrations.register_resident(user, db.session.get(Event, later))
    sent_before = len(outbox())
    runner = app.test_cli_runner()
    result = runner.invoke(args=["events", "send-reminders"])
    assert "Sent 1 event reminder(s)." in result.output, result.output
    [reminder] = outbox()[sent_before:]
    assert reminder["To"] == a.email and reminder["Subject"] == "Erinnerung: Morgen"
    assert "/events/registration/" in reminder.get_content()
    assert "Sent 0 event reminder(s)." in runner.invoke(args=["events", "send-reminders"]).output
    assert len(outbox()) == sent_before + 1
    # A run that listed the registration before another run claimed it sends nothing either.
    with app.test_request_context():
        stale = list(
            db.session.scalars(
                sa.select(EventRegistration.id).where(EventRegistration.reminded_at.is_not(None))
            )
        )
    assert len(stale) == 1
    monkeypatch.setattr(event_cron, "_reminder_candidates", lambda now: stale)
    assert "Sent 0 event reminder(s)." in runner.invoke(args=["events", "send-reminders"]).output
    assert len(outbox()) == sent_before + 1


def test_a_failed_reminder_is_tried_again_next_time(
    app: Flask, make_user: Callable[..., Any], make_event: Callable[..., int], monkeypatch: Any
) -> None:
    event_id = make_event(starts_at=soon(1, 10))
    person = make_user(Role.resident)
    with app.test_request_context():
        event_registrations.register_resident(
            db.session.get(User, person.id), db.session.get(Event, event_id)
        )

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("mail server down")

    with app.test_request_context():
        monkeypatch.setattr(event_mail, "send_mail", broken)
        assert event_cron.send_reminders() == 0
        monkeypatch.undo()
        assert db.session.scalar(sa.select(EventRegistration.reminded_at)) is None
        assert event_cron.send_reminders() == 1


def test_registrations_are_deleted_the_day_after_the_event_and_unconfirmed_ones_after_48_hours(
    app: Flask, make_user: Callable[..., Any], make_event: Callable[..., int]
) -> None:
    today_start = dt.datetime.now(BERLIN).replace(hour=0, minute=30).astimezone(dt.UTC)
    ended_yesterday = make_event("Gestern", starts_at=today_start - dt.timedelta(days=1), hours=1)
    ended_today = make_event("Heute früh", starts_at=today_start, hours=0.5)
    coming = make_event("Bald")
    person = make_user(Role.resident)
    with app.test_request_context():
        now = utcnow()
        for event_id in (ended_yesterday, ended_today, coming):
            db.session.add(
                EventRegistration(
                    event_id=event_id,
                    user_id=person.id,
                    status=RegistrationStatus.registered,
                    joined_at=now,
                )
            )
            db.session.add(
                EventRegistration(
                    event_id=event_id,
                    email=f"gast{event_id}@example.org",
                    status=RegistrationStatus.registered,
                    joined_at=now,
                )
            )
        db.session.add(
            EventRegistration(
                event_id=coming,
                email="alt@example.org",
                status=RegistrationStatus.pending,
                created_at=now - dt.timedelta(hours=49),
            )
        )
        db.session.add(
            EventRegistration(
                event_id=coming, email="frisch@example.org", status=RegistrationStatus.pending
            )
        )
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["maintenance", "purge"])
    assert "Deleted 3 event registration(s)" in result.output, result.output
    assert {e for _s, e, _u in registrations(app, ended_yesterday)} == set()
    assert len(registrations(app, ended_today)) == 2  # deleted from tomorrow on
    assert {e for _s, e, _u in registrations(app, coming)} == {
        None,
        f"gast{coming}@example.org",
        "frisch@example.org",
    }
    assert "Deleted 0" in app.test_cli_runner().invoke(args=["events", "purge"]).output


# --- personal data --------------------------------------------------------------------------------------


def test_export_lists_registrations_and_deletion_frees_the_place_for_the_next(
    app: Flask,
    make_user: Callable[..., Any],
    make_event: Callable[..., int],
    outbox: Callable[[], list[Any]],
) -> None:
    event_id = make_event("Datenwerkstatt", capacity=1)
    leaving = make_user(Role.resident, name="Lena Geht", email="lena@example.org")
    waiting = make_user(Role.resident)
    with app.test_request_context():
        for person in (leaving, waiting):
            event_registrations.register_resident(
                db.session.get(User, person.id), db.session.get(Event, event_id)
            )
    client = app.test_client()
    login(client, leaving)
    data = client.get("/account/data.json").get_json()
    [entry] = data["events"]
    assert entry["title"] == "Datenwerkstatt" and entry["registration"] == "registered"
    assert "Ihre Anmeldungen zu Veranstaltungen" in text(client.get("/account/data"))
    sent = len(outbox())
    response = client.post("/account/delete", data={"password": PASSWORD, "confirm": "y"})
    assert response.status_code == 303
    assert registrations(app, event_id) == [("registered", None, waiting.id)]
    assert (event_row(app, event_id).registered_count, event_row(app, event_id).waiting_count) == (
        1,
        0,
    )
    assert [mail["To"] for mail in outbox()[sent:]] == [waiting.email]
    with app.test_request_context():
        everything = all_text_in_database().lower()
        assert "lena@example.org" not in everything and "lena geht" not in everything


def test_the_database_refuses_more_places_than_the_capacity(
    app: Flask, make_event: Callable[..., int]
) -> None:
    event_id = make_event(capacity=2)
    with app.test_request_context():
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(
                sa.update(Event).where(Event.id == event_id).values(registered_count=3)
            )
            db.session.commit()
        db.session.rollback()
        with pytest.raises(sa.exc.IntegrityError):
            db.session.add(
                EventRegistration(
                    event_id=event_id,
                    status=RegistrationStatus.registered,
                    joined_at=utcnow(),
                )
            )
            db.session.commit()  # neither an account nor an address
        db.session.rollback()


def test_csrf_token_is_required_for_registration(
    app_factory: Callable[..., Flask], make_user: Callable[..., Any]
) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.test_request_context():
        start = soon()
        event = Event(
            title="T",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=1),
            place="X",
            state=EventState.published,
        )
        db.session.add(event)
        db.session.commit()
        event_id = event.id
    client = app.test_client()
    response = client.post(f"/events/{event_id}/register-by-email", data={"email": "c@example.org"})
    assert response.status_code == 400
    html = text(client.get(f"/events/{event_id}"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert token
    ok = client.post(
        f"/events/{event_id}/register-by-email",
        data={"email": "c@example.org", "csrf_token": token.group(1)},
    )
    assert ok.status_code == 303
    assert count(app, EventRegistration) == 1


# --- pages: lists, query counts -------------------------------------------------------------------------


def test_lists_show_upcoming_and_past_paginated(
    app: Flask, client: FlaskClient, make_event: Callable[..., int]
) -> None:
    for number in range(12):
        make_event(f"Kommend {number:02d}", starts_at=soon(2 + number))
    make_event("Vorbei", starts_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
    make_event("Abgesagt", state=EventState.cancelled)
    first = text(client.get("/events"))
    assert "13 Veranstaltungen" in first and "Kommend 00" in first and "Vorbei" not in first
    assert "abgesagt" in first and 'rel="next"' in first
    assert "Kommend 11" in text(client.get("/events?page=2"))
    assert "Kommend 11" in text(client.get("/events?page=999"))  # clamped to the last page
    assert client.get("/events?page=abc").status_code == 200
    for page in ("%C2%B2", "%D9%A3", str(10**20), str(2**63)):  # the first page, never a 500
        assert "Kommend 00" in text(client.get(f"/events?page={page}")), page
    past = text(client.get("/events?when=past"))
    assert "Vorbei" in past and "Kommend 0" not in past


def _fill(app: Flask, events: int, registrations_each: int) -> None:
    with app.test_request_context():
        start = soon()
        db.session.execute(
            sa.insert(Event),
            [
                {
                    "title": f"E{n}",
                    "starts_at": start + dt.timedelta(hours=n),
                    "ends_at": start + dt.timedelta(hours=n + 1),
                    "place": "Ort",
                    "state": EventState.published,
                    "capacity": 1000,
                    "registered_count": registrations_each,
                }
                for n in range(events)
            ],
        )
        ids = db.session.scalars(sa.select(Event.id)).all()
        db.session.execute(
            sa.insert(EventRegistration),
            [
                {
                    "event_id": event_id,
                    "email": f"p{n}@example.org",
                    "status": RegistrationStatus.registered,
                    "joined_at": start,
                    "language": "de",
                }
                for event_id in ids
                for n in range(registrations_each)
            ],
        )
        db.session.commit()


@pytest.mark.parametrize("logged_in", [False, True])
def test_list_and_event_pages_run_a_fixed_number_of_queries(
    app_factory: Callable[..., Flask], logged_in: bool
) -> None:
    measured = []
    for events, each in ((3, 1), (40, 30)):
        app = app_factory()
        _fill(app, events, each)
        with app.test_request_context():
            from kldialog.auth import services as accounts

            person = accounts.create_confirmed_user(
                email="q@example.org", password=PASSWORD, display_name="Quentin", roles=[]
            )
            first = db.session.scalar(sa.select(Event.id).order_by(Event.id))
            event_registrations.register_resident(person, db.session.get(Event, first))
        client = app.test_client()
        if logged_in:
            client.post("/login", data={"email": "q@example.org", "password": PASSWORD})
        counts = []
        for path in ("/events", "/events?page=2", f"/events/{first}", "/events.ics"):
            client.get(path)
            with app.app_context(), count_queries() as statements:
                assert client.get(path).status_code == 200
            counts.append(len(statements))
        measured.append(counts)
        with app.test_request_context():
            db.session.remove()
            if db.engine.dialect.name != "postgresql":
                db.drop_all()
    small, large = measured
    assert small == large, f"queries with 3 events {small}, with 40 events {large}"
    assert max(large) <= 6, large


# --- concurrency (real connections) ---------------------------------------------------------------------


@pytest.fixture
def shared_app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    """Return an app whose database several threads share (file SQLite or PostgreSQL)."""
    url = database_url if TEST_DATABASE_URL else f"sqlite:///{tmp_path / 'race.sqlite'}"
    options = {"pool_size": 20, "max_overflow": 10} if TEST_DATABASE_URL else {}
    app = create_app(
        base_config(
            SQLALCHEMY_DATABASE_URI=url,
            SQLALCHEMY_ENGINE_OPTIONS=options,
            MAIL_OUTBOX=str(tmp_path / "outbox"),
        )
    )
    with app.test_request_context():
        if TEST_DATABASE_URL:
            empty_postgres_database()
        else:
            db.create_all()
    yield app
    with app.test_request_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="parallel transactions need PostgreSQL")
def test_parallel_registrations_never_exceed_the_capacity(shared_app: Flask) -> None:
    app = shared_app
    with app.test_request_context():
        start = soon()
        event = Event(
            title="Ansturm",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=1),
            place="X",
            state=EventState.published,
            capacity=5,
        )
        db.session.add(event)
        db.session.execute(
            sa.insert(User),
            [
                {
                    "email": f"crowd{n}@example.org",
                    "password_hash": "x",
                    "display_name": f"Crowd {n}",
                    "display_name_key": f"crowd {n}",
                    "roles": int(Role.resident),
                    "email_confirmed_at": start,
                    "accepted_terms_version": app.config["TERMS_VERSION"],
                }
                for n in range(30)
            ],
        )
        db.session.commit()
        event_id = event.id
        people = db.session.scalars(sa.select(User.id)).all()
    barrier = threading.Barrier(len(people))
    outcomes: list[str] = []

    def attempt(user_id: int) -> None:
        with app.app_context(), app.test_request_context():
            user = db.session.get(User, user_id)
            target = db.session.get(Event, event_id)
            db.session.rollback()  # start the race with no transaction open
            barrier.wait(timeout=60)
            try:
                registration = event_registrations.register_resident(user, target)
                outcomes.append(registration.status.value)
            except Exception as error:
                outcomes.append(repr(error))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(uid,)) for uid in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["registered"] * 5 + ["waiting"] * 25, outcomes
    rows = registrations(app, event_id)
    assert [s for s, _e, _u in rows].count("registered") == 5
    event = event_row(app, event_id)
    assert (event.registered_count, event.waiting_count) == (5, 25)

    # Places given up in parallel go to exactly as many people waiting, first come first.
    with app.test_request_context():
        leaving = db.session.scalars(
            sa.select(EventRegistration.id).where(
                EventRegistration.status == RegistrationStatus.registered
            )
        ).all()
        waiting_order = db.session.scalars(
            sa.select(EventRegistration.user_id)
            .where(EventRegistration.status == RegistrationStatus.waiting)
            .order_by(EventRegistration.joined_at, EventRegistration.id)
        ).all()
    barrier = threading.Barrier(len(leaving))

    def leave(registration_id: int) -> None:
        with app.app_context(), app.test_request_context():
            registration = db.session.get(EventRegistration, registration_id)
            db.session.rollback()
            barrier.wait(timeout=60)
            try:
                event_registrations.cancel_registration(registration)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=leave, args=(rid,)) for rid in leaving]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    rows = registrations(app, event_id)
    now_registered = {u for s, _e, u in rows if s == "registered"}
    assert now_registered == set(waiting_order[:5])
    event = event_row(app, event_id)
    assert (event.registered_count, event.waiting_count) == (5, 20)


def test_demo_data_has_an_upcoming_event_about_a_project_and_a_past_one_with_its_summary(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(DEMO=True)
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert "an upcoming event with one registration" in result.output, result.output
    with app.test_request_context():
        upcoming, past = db.session.scalars(sa.select(Event).order_by(Event.starts_at.desc()))
        assert upcoming.state is EventState.published and not upcoming.has_started()
        assert upcoming.projects and upcoming.registered_count == 1
        assert past.has_ended() and past.summary and past.projects
        slug = past.projects[0].slug
    page = text(app.test_client().get(f"/projects/{slug}"))
    assert "Werkstatt Offene Daten" in page[page.index('id="updates-title"') :]
    assert (
        "Demo: the roadmap is already loaded."
        in app.test_cli_runner().invoke(args=["demo", "load"]).output
    )
    assert count(app, Event) == 2  # loaded once
