"""A staff member's story: the city keeps its roadmap up to date and asks residents for priorities.

Staff of the city administration maintain the roadmap in the staff console ("Roadmap
verwalten"). They add categories and projects; a new project starts as a draft that only staff
can see, and is published after a confirmation. When a project moves on, staff change its
status and say why: the reason is shown to everyone in the project's status history, and
followers get an e-mail.

Staff open priority rounds: a title, an explanation, the voting window, the method (approval:
support up to a number of projects; or points to distribute) and the projects on the ballot. A
round is saved as a draft and published when it is ready. They build surveys page by page from
question types (single choice, scale, ranking, yes/no, text), look at them exactly as residents
will, and publish them. When a round's window has ended, its ballots are counted and the
results are published – by a regular job, or at once with a button.

The story runs in German; the first pages are also read in English. Every page passes axe
(WCAG 2.1 AA) at 1280 px, the staff project list also at 360 px.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.priorities import services as priorities
from kldialog.priorities.models import PriorityRound
from kldialog.projects import staff as project_changes
from kldialog.projects.models import Project, Visibility
from kldialog.surveys.models import Survey

from ..conftest import PASSWORD
from .test_accounts import check_axe
from .test_pages import choose_language
from .test_story_resident import flash, menu

STAFF = ("sabine.stadt@example.org", "Sabine Stadtverwaltung")
CATEGORY = "Digitale Teilhabe (Geschichte)"
PROJECT = "Digitale Sprechstunde im Stadtteilbüro"
SLUG = "digitale-sprechstunde-im-stadtteilbuero"
ROUND = "Prioritäten für 2027 (Geschichte der Verwaltung)"
SURVEY = "Sprechstunden im Stadtteil (Geschichte der Verwaltung)"
REASON = "Der Stadtrat hat die Mittel bewilligt; das erste Stadtteilbüro startet im Januar."


def log_in_as_staff(page: Page, address: str) -> None:
    """Log in as staff through the form (the one place a second factor would be entered)."""
    page.goto("/login")
    page.get_by_label(re.compile("^(E-Mail-Adresse|E-mail address)$")).fill(address)
    page.get_by_label(re.compile("^(Passwort|Password)$")).fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name=re.compile("^(Anmelden|Log in)$")).click()
    expect(page).to_have_url(re.compile("/account$"))


def local(moment: dt.datetime, app: Flask) -> str:
    """Return a moment as staff type it: a datetime-local value in the city's time zone."""
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def staff_member(live_app: Flask) -> Iterator[dict[str, str]]:
    """A staff account; afterwards the story's project, round and survey leave the public lists."""
    with live_app.app_context():
        if accounts.find_user_by_email(STAFF[0]) is None:
            accounts.create_confirmed_user(
                email=STAFF[0], password=PASSWORD, display_name=STAFF[1], roles=[Role.staff]
            )
    yield {"email": STAFF[0]}
    with live_app.test_request_context():
        # Other browser tests count projects, ballots and open surveys on the public pages.
        staff = accounts.find_user_by_email(STAFF[0])
        project = db.session.scalar(sa.select(Project).where(Project.slug == SLUG))
        if project is not None and project.state is not Visibility.archived:
            project_changes.set_project_visibility(staff, project, Visibility.archived)
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.execute(sa.update(Survey).where(Survey.title == SURVEY).values(closes_at=past))
        db.session.commit()
        db.session.remove()


def test_staff_keep_the_roadmap_and_run_a_round_and_a_survey(
    browser: Browser, base_url: str, live_app: Flask, staff_member: dict[str, str]
) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # First in English: the staff console's project list and its categories.
    choose_language(page, "en")
    log_in_as_staff(page, staff_member["email"])
    menu_en = page.get_by_role("navigation", name="Main navigation")
    menu_en.get_by_role("link", name="Manage roadmap").click()
    check_axe(page, "staff projects (en)")
    page.get_by_role("navigation", name="Roadmap management").get_by_role(
        "link", name="Categories"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Categories")
    check_axe(page, "categories (en)")

    # In German, she adds a category.
    page.get_by_role("button", name="Deutsch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kategorien")
    page.get_by_label("Name", exact=True).fill(CATEGORY)
    page.get_by_role("button", name="Kategorie hinzufügen").click()
    expect(flash(page)).to_contain_text(f"Die Kategorie „{CATEGORY}“ wurde hinzugefügt.")
    check_axe(page, "Kategorien")

    # A new project in it; it starts as a draft.
    console = page.get_by_role("navigation", name="Roadmap-Verwaltung")
    console.get_by_role("link", name="Neues Projekt").click()
    check_axe(page, "Neues Projekt")
    page.get_by_label("Titel", exact=True).fill(PROJECT)
    page.get_by_label(re.compile("^Kurzbeschreibung –")).fill(
        "Hilfe bei Online-Anträgen, jede Woche im Stadtteilbüro."
    )
    page.get_by_label("Kategorie").select_option(label=CATEGORY)
    page.get_by_label(re.compile("^Zuständige Stelle")).fill("Referat Digitalisierung")
    page.get_by_label("Status").select_option(label="in Planung")
    expect(page.get_by_label("Sichtbarkeit")).to_have_value("draft")
    page.get_by_role("button", name="Projekt anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"„{PROJECT}“ bearbeiten")
    edit_url = page.url
    check_axe(page, "Projekt bearbeiten (Entwurf)")

    # The public does not see the draft yet.
    anonymous = browser.new_context(base_url=base_url)
    response = anonymous.new_page().goto(f"/projects/{SLUG}")
    assert response is not None and response.status == 404

    # She publishes it after a confirmation page.
    page.get_by_role("link", name="Veröffentlichen").click()
    check_axe(page, "Veröffentlichen bestätigen")
    page.get_by_role("main").get_by_role("button").click()
    expect(page).to_have_url(edit_url)
    response = anonymous.new_page().goto(f"/projects/{SLUG}")
    assert response is not None and response.status == 200
    anonymous.close()

    # The project starts: the new status and the reason, which everyone can read.
    page.get_by_role("link", name="Status ändern (mit Begründung)").click()
    check_axe(page, "Status ändern")
    page.get_by_label("Neuer Status").select_option(label="in Umsetzung")
    page.get_by_label("Grund", exact=True).fill(REASON)
    page.get_by_role("button", name="Status ändern").click()
    expect(page).to_have_url(edit_url)
    expect(flash(page)).to_contain_text("in Umsetzung")
    page.get_by_role("link", name="Öffentliche Projektseite öffnen").click()
    expect(page.get_by_role("region", name="Statusverlauf")).to_contain_text(REASON)
    check_axe(page, "öffentliche Projektseite")

    # A priority round over her project and two others, open from now for two weeks.
    menu(page, "Roadmap verwalten")
    check_axe(page, "Projekte verwalten")
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    check_axe(page, "Projekte verwalten, 360 px")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("navigation", name="Roadmap-Verwaltung").get_by_role(
        "link", name="Prioritätenrunden"
    ).click()
    check_axe(page, "Prioritätenrunden")
    page.get_by_role("link", name="Neue Runde").click()
    check_axe(page, "Neue Runde")
    now = dt.datetime.now(dt.UTC)
    page.get_by_label("Titel", exact=True).fill(ROUND)
    page.get_by_label(re.compile("^Erläuterung –")).fill(
        "Welche drei Projekte soll die Stadt 2027 zuerst angehen?"
    )
    page.get_by_label("Beginnt (Ortszeit)").fill(local(now - dt.timedelta(minutes=5), live_app))
    page.get_by_label("Endet (Ortszeit)").fill(local(now + dt.timedelta(days=14), live_app))
    page.get_by_role("radio", name=re.compile("^Zustimmung")).check()
    page.get_by_role("spinbutton", name=re.compile("^Zustimmung: Projekte")).fill("2")
    ballot = page.get_by_role("group", name="Projekte auf dem Stimmzettel")
    for title in (PROJECT, "Digitalisierung in Schulen", "5G Modellregion"):
        ballot.get_by_role("checkbox", name=title).check()
    page.get_by_role("button", name="Runde speichern").click()
    expect(flash(page)).to_contain_text("Die Runde wurde als Entwurf gespeichert.")
    round_id = int(re.search(r"/staff/rounds/(\d+)", page.url).group(1))
    check_axe(page, "Runde (Entwurf)")
    page.get_by_role("button", name="Runde veröffentlichen").click()
    expect(flash(page)).to_contain_text("Die Runde ist veröffentlicht.")
    check_axe(page, "Runde veröffentlicht")

    # Residents vote in the meantime (their own story shows how).
    with live_app.app_context():
        round_ = priorities.get_round(round_id)
        entries = {e.project.title: e.project_id for e in priorities.round_entries(round_)}
        for number in range(6):
            address = f"story-staff-voter-{number}@example.org"
            voter = accounts.find_user_by_email(address) or accounts.create_confirmed_user(
                email=address, password=PASSWORD, display_name=f"Wählerin {number}", roles=[]
            )
            picks = [PROJECT] if number % 3 else [PROJECT, "5G Modellregion"]
            priorities.cast_ballot(voter, round_, {entries[t]: 1 for t in picks})
        db.session.remove()

    # A small survey: two questions of different types, looked at first, then published.
    menu(page, "Umfragen verwalten")
    check_axe(page, "Umfragen verwalten")
    page.get_by_role("link", name="Neue Umfrage").click()
    check_axe(page, "Neue Umfrage")
    page.get_by_label("Titel", exact=True).fill(SURVEY)
    page.get_by_label(re.compile("^Einleitung –")).fill("Wann passt Ihnen eine Sprechstunde?")
    page.get_by_label("Beginnt (Ortszeit)").fill(local(now - dt.timedelta(minutes=5), live_app))
    page.get_by_label("Endet (Ortszeit)").fill(local(now + dt.timedelta(days=14), live_app))
    page.get_by_role("group", name=re.compile("^Zugehörige Projekte")).get_by_label(PROJECT).check()
    page.get_by_role("button", name="Umfrage anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"„{SURVEY}“ bearbeiten")
    builder_url = page.url
    check_axe(page, "Umfrage bearbeiten")
    for text, kind, options in [
        (
            "An welchem Tag passt Ihnen eine Sprechstunde?",
            "Einfachauswahl",
            "Montag\nMittwoch\nSamstag",
        ),
        ("Wie wichtig ist Ihnen Hilfe vor Ort?", "Skala von 1 bis 5", ""),
    ]:
        page.get_by_role("link", name="Frage zu Seite 1 hinzufügen").click()
        page.get_by_label("Frage", exact=True).fill(text)
        page.get_by_role("group", name="Fragetyp").get_by_label(kind, exact=True).check()
        if options:
            page.get_by_label(re.compile("^Antwortmöglichkeiten –")).fill(options)
        page.get_by_label("Antwort erforderlich").check()
        check_axe(page, f"Neue Frage: {kind}")
        page.get_by_role("button", name="Frage speichern").click()
        expect(page.get_by_role("region", name="Seiten und Fragen")).to_contain_text(text)
    check_axe(page, "Umfrage mit zwei Fragen")
    page.get_by_role("link", name="Vorschau aus Sicht der Einwohnerinnen und Einwohner").click()
    expect(page.get_by_role("group", name="Wie wichtig ist Ihnen Hilfe vor Ort?")).to_be_visible()
    check_axe(page, "Vorschau")
    page.goto(builder_url)
    page.get_by_role("button", name="Umfrage veröffentlichen").click()
    expect(page.get_by_role("region", name="Stand")).to_contain_text("Veröffentlicht")
    check_axe(page, "Umfrage veröffentlicht")

    # Two weeks later the round's window has ended (the test moves its clock on).
    with live_app.app_context():
        ended = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        db.session.execute(
            sa.update(PriorityRound)
            .where(PriorityRound.id == round_id)
            .values(opens_at=ended - dt.timedelta(days=14), closes_at=ended)
        )
        db.session.commit()
        db.session.remove()

    # She closes it without waiting for the regular job and lands on the results.
    page.goto(f"/staff/rounds/{round_id}")
    check_axe(page, "Runde beendet")
    page.get_by_role("button", name="Runde schließen und Ergebnisse veröffentlichen").click()
    expect(flash(page)).to_contain_text(
        "Die Runde ist geschlossen, ihre Ergebnisse sind veröffentlicht."
    )
    expect(page).to_have_url(re.compile(rf"/priorities/{round_id}/results$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(ROUND)
    expect(page.get_by_role("main")).to_contain_text(PROJECT)
    check_axe(page, "Ergebnisse")
    assert dialogs == []
    context.close()
