"""A resident's story: from reading the roadmap to having a say, then leaving no traces behind.

Kaiserslautern publishes its digital roadmap on KL.dialog. Anyone can read it without an
account: the start page leads to the list of projects, which can be filtered by category and
status, and every project has its own page with its history, the city's news, what residents
think of it and a public discussion.

To take part, a resident creates an account with an e-mail address, a display name and a
password, and confirms the address with the link the platform mails. Then she can follow a
project (she gets an e-mail when it changes), comment and reply, rate the project on the two
questions the city council measures every project by (benefit for the city, careful use of
data), put her priorities on the ballot of an open priority round (and change her mind until it
closes), and answer the city's surveys: her answers are stored without her name, and a
sensitive question is protected by a coin toss in her own browser.

Under "Meine Daten" she sees everything the platform keeps about her and why, and downloads it
as a file. She decides which e-mails she wants. When she logs out, the browser's back button
does not bring her account back.

The story runs in German; the first pages are also read in English. Every page passes axe
(WCAG 2.1 AA) at 1280 px, the project page also at 360 px.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import re
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.comments import services as comments
from kldialog.kernel.db import db
from kldialog.priorities import services as priorities
from kldialog.priorities.models import Method, PriorityRound
from kldialog.projects import reading, threads
from kldialog.surveys import builder
from kldialog.surveys.models import QuestionKind, Survey
from kldialog.windows.models import Eligibility

from ..conftest import PASSWORD
from .test_accounts import check_axe
from .test_pages import choose_language

PROJECT = "Intelligente Verkehrslenkung"
SLUG = "intelligente-verkehrslenkung"
ROUND = "Was ist Ihnen am wichtigsten? (Geschichte einer Einwohnerin)"
SURVEY = "Unterwegs in Kaiserslautern (Geschichte einer Einwohnerin)"
ADDRESS = "lena.lautern@example.org"
NAME = "Lena Lautern"
NEW_PASSWORD = "vier Wörter sind genug heute"
NEIGHBOUR = "Nachbar Norbert"
NEIGHBOUR_SAYS = "Werden an der Kreuzung Mainzer Straße auch Fußgänger gezählt?"


@pytest.fixture(scope="module")
def city(live_app: Flask) -> Iterator[dict[str, int]]:
    """What the city has opened for residents: a priority round, a survey, a neighbour's comment.

    Staff make these in their own story (test_story_staff); here they are simply there.
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with live_app.test_request_context():
        staff = accounts.find_user_by_email("story-resident-staff@example.org")
        staff = staff or accounts.create_confirmed_user(
            email="story-resident-staff@example.org",
            password=PASSWORD,
            display_name="Stadt Team Geschichte",
            roles=[Role.staff],
        )
        neighbour = accounts.find_user_by_email("norbert@example.org")
        neighbour = neighbour or accounts.create_confirmed_user(
            email="norbert@example.org", password=PASSWORD, display_name=NEIGHBOUR, roles=[]
        )
        project = reading.get_project_by_slug(SLUG)
        thread = threads.thread_of(project, create=True)
        db.session.commit()
        comments.post_comment(neighbour, thread, NEIGHBOUR_SAYS)
        round_ = priorities.create_round(
            staff,
            priorities.RoundFields(
                title=ROUND,
                explanation="Sagen Sie uns, welche Projekte die Stadt zuerst angehen soll.",
                method=Method.approval,
                max_choices=3,
                budget=10,
                max_per_project=3,
                eligibility=Eligibility.resident,
                show_running_totals=False,
                opens_at=now - dt.timedelta(days=1),
                closes_at=now + dt.timedelta(days=14),
                project_ids=priorities.default_project_ids(),
            ),
        )
        priorities.publish_round(staff, round_)
        survey = builder.create_survey(
            staff,
            title=SURVEY,
            intro="Wie sind Sie in der Stadt unterwegs? Die Umfrage dauert zwei Minuten.",
            opens_at=now - dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=14),
            eligibility=Eligibility.resident,
            project_ids=[project.id],
        )
        first = survey.sections[0]
        builder.save_question(
            staff, survey, None, section_id=first.id, kind=QuestionKind.single, is_required=True,
            text="Wie kommen Sie meistens in die Innenstadt?",
            options=["zu Fuß", "mit dem Rad", "mit Bus oder Bahn", "mit dem Auto"],
        )  # fmt: skip
        builder.save_question(
            staff, survey, None, section_id=first.id, kind=QuestionKind.scale, is_required=True,
            text="Wie zufrieden sind Sie mit den Ampelphasen?",
            scale_low_label="gar nicht zufrieden", scale_high_label="sehr zufrieden",
        )  # fmt: skip
        second = builder.add_section(staff, survey, "Eine heikle Frage")
        builder.save_question(
            staff, survey, None, section_id=second.id, kind=QuestionKind.yes_no,
            is_randomised=True, text="Sind Sie im letzten Jahr bei Rot über die Ampel gegangen?",
        )  # fmt: skip
        builder.save_question(
            staff, survey, None, section_id=second.id, kind=QuestionKind.long_text,
            text="Was sollte die Stadt bei der Verkehrslenkung noch bedenken?",
        )  # fmt: skip
        builder.publish_survey(staff, survey)
        made = {"round": round_.id, "survey": survey.id}
        db.session.remove()
    yield made
    # Afterwards the round and the survey end: other browser tests read project pages without
    # "this project is on an open ballot" notices.
    with live_app.app_context():
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.session.execute(
            sa.update(PriorityRound)
            .where(PriorityRound.id == made["round"])
            .values(opens_at=past - dt.timedelta(days=2), closes_at=past)
        )
        db.session.execute(
            sa.update(Survey).where(Survey.id == made["survey"]).values(closes_at=past)
        )
        db.session.commit()
        priorities.close_round(db.session.get(PriorityRound, made["round"]))
        db.session.remove()


def mailed_link(outbox: Path, to: str, path: str) -> str:
    """Wait for the mail to `to` (it leaves in the background) and return its link to `path`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for file in sorted(outbox.glob("*.eml"), key=lambda f: f.stat().st_mtime_ns, reverse=True):
            message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
            if message["To"] == to:
                found = re.search(rf"http://[^/\s]+({re.escape(path)}\S*)", message.get_content())
                if found:
                    return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no mail to {to} with a link to {path}")


def flash(page: Page) -> Any:
    """Return the messages the platform shows on top of the page after an action."""
    return page.locator(".flash-messages")


def menu(page: Page, name: str) -> None:
    """Follow a link of the main navigation in the header."""
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role("link", name=name).click()


def test_a_resident_reads_takes_part_and_leaves(
    browser: Browser, base_url: str, live_outbox: Path, city: dict[str, int]
) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # First a look in English: the start page, the project list and a project page.
    choose_language(page, "en")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Kaiserslautern")
    check_axe(page, "start (en)")
    page.get_by_role("link", name="Browse all projects").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Projects of the digital roadmap")
    check_axe(page, "projects (en)")
    page.get_by_role("link", name=PROJECT).click()
    expect(page.get_by_role("heading", name="Status history")).to_be_visible()
    check_axe(page, "project (en)")

    # She reads on in German. The start page leads to the roadmap.
    page.get_by_role("button", name="Deutsch").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    menu(page, "Start")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Die digitale Stadt Kaiserslautern: sehen, was passiert, und mitreden"
    )
    check_axe(page, "Start")
    page.get_by_role("link", name="Alle Projekte ansehen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Projekte der digitalen Roadmap")
    check_axe(page, "Projekte")

    # She narrows the list to traffic projects that are still being planned (by keyboard).
    page.get_by_label("Kategorie").select_option(label="Verkehr & Mobilität")
    page.get_by_label("Status").select_option(label="in Planung")
    page.get_by_role("button", name="Projekte anzeigen").press("Enter")  # by keyboard
    expect(page.get_by_role("status").filter(has_text="Projekt")).to_contain_text("in Planung")
    expect(page.get_by_role("link", name=PROJECT)).to_be_visible()
    expect(page.get_by_role("link", name="Handyparken")).to_have_count(0)  # completed long ago
    check_axe(page, "Projekte gefiltert")

    # The project page: history, news, ratings, discussion – and a note on the open ballot.
    page.get_by_role("link", name=PROJECT).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PROJECT)
    for section in ("Eckdaten", "Statusverlauf", "Neuigkeiten der Stadt"):
        expect(page.get_by_role("heading", name=section)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text=ROUND)).to_be_visible()
    expect(page.get_by_text(NEIGHBOUR_SAYS)).to_be_visible()
    check_axe(page, "Projektseite")
    project_url = page.url

    # On a phone the same page fits the screen and stays accessible.
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    check_axe(page, "Projektseite 360 px")
    page.set_viewport_size({"width": 1280, "height": 800})

    # To follow the project she needs an account: the link asks her to log in or register.
    page.get_by_role("link", name=re.compile("Anmelden")).filter(has_text="folgen").first.click()
    expect(page).to_have_url(re.compile(r"/login\?next="))
    check_axe(page, "Anmelden")
    page.get_by_role("link", name="Konto anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Konto anlegen")
    check_axe(page, "Konto anlegen")
    page.get_by_label("E-Mail-Adresse").fill(ADDRESS)
    page.get_by_label("Anzeigename").fill(NAME)
    page.get_by_label("Passwort").fill(NEW_PASSWORD)
    page.get_by_role("checkbox", name=re.compile("Nutzungsbedingungen")).check()
    page.get_by_role("button", name="Konto anlegen").click()
    expect(page).to_have_url(re.compile("/register/check-mail$"))
    expect(page.get_by_role("main")).to_contain_text(ADDRESS)
    check_axe(page, "E-Mail prüfen")

    # The mail has a link; the link's page asks her to press a button (mail scanners don't).
    page.goto(mailed_link(live_outbox, ADDRESS, "/confirm/"))
    check_axe(page, "E-Mail bestätigen")
    page.get_by_role("main").get_by_role("button").click()
    expect(page).to_have_url(re.compile("/account$"))
    expect(flash(page)).to_contain_text("Vielen Dank: Ihre E-Mail-Adresse ist bestätigt.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mein Konto")
    check_axe(page, "Mein Konto nach der Bestätigung")

    # Confirming logged her in; she goes back to the project and follows it.
    page.goto(project_url)
    page.get_by_role("button", name="Diesem Projekt folgen").click()
    expect(flash(page)).to_contain_text(f"Sie folgen jetzt „{PROJECT}“.")
    expect(page.get_by_role("button", name="Nicht mehr folgen")).to_be_visible()
    check_axe(page, "Projektseite, folgt")

    # She writes a comment, then replies to her neighbour's question.
    mine = "Ich wünsche mir längere Grünphasen für Fußgänger am Rathaus."
    page.get_by_label("Ihr Kommentar").fill(mine)
    page.get_by_role("button", name="Kommentar veröffentlichen").click()
    expect(flash(page)).to_contain_text("Vielen Dank. Ihr Kommentar ist veröffentlicht.")
    expect(page.get_by_role("article", name=re.compile(NAME))).to_contain_text(mine)
    page.get_by_role("link", name=f"Antworten – Kommentar von {NEIGHBOUR}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Auf einen Kommentar antworten")
    check_axe(page, "Antworten")
    reply = "Das habe ich auch gefragt: laut Stadt ja, mit Wärmesensoren."
    page.get_by_label(re.compile("Ihre Antwort|Ihr Kommentar")).fill(reply)
    page.get_by_role("button", name="Antwort veröffentlichen").click()
    expect(page.get_by_text(reply)).to_be_visible()
    check_axe(page, "nach der Antwort")

    # She rates the project on both questions the council asks of every project.
    page.goto(project_url)
    page.get_by_role("group", name="Mehrwert für Kaiserslautern und seine Bürger").get_by_label(
        "4 – hoch"
    ).check()
    page.get_by_role("group", name="Sparsamer und verantwortlicher Umgang mit Daten").get_by_label(
        "2 – gering"
    ).check()
    page.get_by_role("button", name="Bewertung speichern").click()
    expect(flash(page)).to_contain_text("Danke, Ihre Bewertung ist gespeichert.")
    expect(
        page.get_by_role("group", name="Mehrwert für Kaiserslautern und seine Bürger").get_by_label(
            "4 – hoch"
        )
    ).to_be_checked()
    check_axe(page, "Projektseite, bewertet")

    # The notice on the project page leads to the ballot of the open round.
    page.get_by_role("link", name="Zum Stimmzettel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(ROUND)
    check_axe(page, "Stimmzettel")
    page.get_by_role("checkbox", name=PROJECT).check()
    page.get_by_role("checkbox", name="5G Modellregion").check()
    expect(page.get_by_text("2 von 3 Projekten ausgewählt.")).to_be_visible()
    page.get_by_role("button", name="Stimmzettel speichern").click()
    expect(flash(page)).to_contain_text("Ihr Stimmzettel ist gespeichert.")
    expect(page.get_by_role("region", name="Ihr Stimmzettel zählt")).to_be_visible()
    # She changes her mind: the last ballot counts.
    page.get_by_role("checkbox", name="5G Modellregion").uncheck()
    page.get_by_role("checkbox", name="Digitalisierung in Schulen").press("Space")
    page.get_by_role("button", name="Meinen Stimmzettel ändern").click()
    expect(flash(page)).to_contain_text("Ihr Stimmzettel ist geändert. Es zählt der letzte.")
    expect(page.get_by_role("checkbox", name="Digitalisierung in Schulen")).to_be_checked()
    expect(page.get_by_role("checkbox", name="5G Modellregion")).not_to_be_checked()
    check_axe(page, "Stimmzettel geändert")

    # The survey about the project: two pages, the second with a coin-tossed question.
    menu(page, "Umfragen")
    check_axe(page, "Umfragen")
    page.get_by_role("link", name=SURVEY).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SURVEY)
    check_axe(page, "Umfrage Seite 1")
    page.get_by_role("group", name="Wie kommen Sie meistens in die Innenstadt?").get_by_label(
        "mit dem Rad"
    ).check()
    page.get_by_role("group", name="Wie zufrieden sind Sie mit den Ampelphasen?").get_by_label(
        "2", exact=True
    ).check()
    page.get_by_role("button", name="Weiter zu Seite 2").click()
    expect(page.get_by_text("Seite 2 von 2: Eine heikle Frage").first).to_be_visible()
    heikel = page.get_by_role(
        "group", name=re.compile("Sind Sie im letzten Jahr bei Rot über die Ampel gegangen?")
    )
    expect(heikel).to_contain_text("Münzwurf")
    heikel.get_by_label("Nein").check()
    page.get_by_label("Was sollte die Stadt bei der Verkehrslenkung noch bedenken?").fill(
        "Ältere Menschen brauchen mehr Zeit über die Straße."
    )
    check_axe(page, "Umfrage Seite 2")
    page.get_by_role("button", name=re.compile("Absenden|Antworten senden")).click()
    expect(page).to_have_url(re.compile(rf"/surveys/{city['survey']}/thanks$"))
    check_axe(page, "Umfrage Danke")

    # "Meine Daten": what the platform keeps about her, in sentences, and as a file.
    page.get_by_role("link", name=re.compile(f"{NAME}.*Mein Konto")).click()
    page.get_by_role("link", name="Meine Daten anzeigen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Meine Daten")
    main = page.get_by_role("main")
    expect(main).to_contain_text(ADDRESS)
    expect(main).to_contain_text(PROJECT)  # followed and rated
    expect(main).to_contain_text(mine)
    # Her survey answers are not hers any more: only that she took part is kept.
    expect(
        main.get_by_role("region", name="Umfragen, an denen Sie teilgenommen haben")
    ).to_contain_text(SURVEY)
    # Each section has a plain German heading (this one was the export's English key).
    expect(main.get_by_role("heading", name="Angemeldet bleiben", exact=True)).to_be_visible()
    check_axe(page, "Meine Daten")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Meine Daten herunterladen")).click()
    exported = json.loads(Path(download.value.path()).read_text("utf-8"))
    assert ADDRESS in json.dumps(exported, ensure_ascii=False)
    assert "Ältere Menschen brauchen mehr Zeit" not in json.dumps(exported, ensure_ascii=False)

    # She asks to be told when a new round or survey starts.
    page.get_by_role("link", name=re.compile(f"{NAME}.*Mein Konto")).click()
    page.get_by_label(
        "Schreiben Sie mir, wenn eine neue Priorisierungsrunde oder Umfrage beginnt"
    ).check()
    page.get_by_role("button", name="Hinweis-Einstellungen speichern").click()
    expect(flash(page)).to_contain_text("Ihre E-Mail-Einstellungen für Hinweise sind gespeichert.")
    expect(
        page.get_by_label(
            "Schreiben Sie mir, wenn eine neue Priorisierungsrunde oder Umfrage beginnt"
        )
    ).to_be_checked()
    check_axe(page, "Mein Konto, Hinweise an")

    # She logs out; the back button does not show her account again.
    page.get_by_role("button", name="Abmelden", exact=True).click()
    expect(flash(page)).to_contain_text("Sie sind abgemeldet.")
    check_axe(page, "abgemeldet")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount(#.*)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    expect(page.get_by_role("main")).not_to_contain_text(ADDRESS)

    # Logging in again from the header brings her back to the page she was on.
    page.goto(project_url)
    page.get_by_role("banner").get_by_role("link", name="Anmelden").click()
    page.get_by_label("E-Mail-Adresse").fill(ADDRESS)
    page.get_by_label("Passwort").fill(NEW_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(project_url)
    expect(page.get_by_role("button", name="Nicht mehr folgen")).to_be_visible()
    assert dialogs == []
    context.close()
