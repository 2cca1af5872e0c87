"""A moderator's story: a reported comment, a decision with a reason, an appeal, public numbers.

Every comment on KL.dialog is public. When a resident thinks a comment breaks the rules, she
reports it with a reason and, if she likes, a few words; the author never learns who reported.
Reported comments wait in the moderators' queue. A moderator reads the comment in its context
(the project, the reports, the author's earlier comments) and decides: publish it, or hide it
with a reason. The common reasons are one choice away and stay editable. Everyone then sees
"hidden by moderation" with that reason in place of the comment.

The author is told by e-mail and on "Moderation meiner Kommentare", and may appeal once. The
appeal comes back to the queue; a moderator upholds it (the comment is shown again) or rejects
it. Each month the public moderation report counts, without names or texts, how many comments
were reported, hidden, restored and appealed.

The story runs in German; the first pages are also read in English. Every page passes axe
(WCAG 2.1 AA) at 1280 px, the decision page also at 360 px.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.comments import services as comments
from kldialog.kernel.db import db
from kldialog.kernel.time import utcnow
from kldialog.projects import reading, threads

from ..conftest import PASSWORD
from .test_accounts import check_axe
from .test_pages import choose_language
from .test_story_resident import flash, mailed_link, menu

PROJECT = "Digitalisierung in Schulen"
SLUG = "digitalisierung-in-schulen"
AUTHOR = ("karla.kritik@example.org", "Karla Kritik")
REPORTER = ("rudi.regel@example.org", "Rudi Regel")
MODERATOR = ("mona.moderation@example.org", "Mona Moderation")
SAYS = "Wer an dieser Schule das WLAN geplant hat, ist ein kompletter Idiot."
PRESET = "Beleidigung oder persönlicher Angriff"


@pytest.fixture(scope="module")
def people(live_app: Flask) -> dict[str, Any]:
    """Three accounts, and Karla's angry comment on a project (written before the story)."""
    with live_app.test_request_context():
        users = {}
        for (address, name), roles in [(AUTHOR, []), (REPORTER, []), (MODERATOR, [Role.moderator])]:
            users[address] = accounts.find_user_by_email(address) or (
                accounts.create_confirmed_user(
                    email=address, password=PASSWORD, display_name=name, roles=roles
                )
            )
        project = reading.get_project_by_slug(SLUG)
        thread = threads.thread_of(project, create=True)
        db.session.commit()
        comment = comments.post_comment(users[AUTHOR[0]], thread, SAYS)
        made = {"comment": comment.id}
        db.session.remove()
    return made


def log_in(page: Page, address: str) -> None:
    """Log in with the header's link; it comes back to the page the person was on."""
    here = page.url if urlsplit(page.url).path != "/" else re.compile("/account$")
    page.get_by_role("banner").get_by_role("link", name=re.compile("^(Anmelden|Log in)$")).click()
    page.get_by_label(re.compile("^(E-Mail-Adresse|E-mail address)$")).fill(address)
    page.get_by_label(re.compile("^(Passwort|Password)$")).fill(PASSWORD)
    page.get_by_role("main").get_by_role("button", name=re.compile("^(Anmelden|Log in)$")).click()
    expect(page).to_have_url(here)


def month_counts(page: Page) -> dict[str, int]:
    """Read this month's row of the public moderation report as {column heading: number}."""
    month = utcnow().strftime("%Y-%m")
    table = page.get_by_role("table")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    row = table.locator(f"tbody tr:has(time[datetime='{month}'])")
    if row.count() == 0:
        return dict.fromkeys(headers[1:], 0)
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    return {
        header: int(cell) if cell.isdigit() else 0
        for header, cell in zip(headers[1:], cells, strict=True)
    }


def new_person(browser: Browser, base_url: str) -> Page:
    """Open a fresh browser window for one person."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    return context.new_page()


def test_a_report_a_decision_an_appeal_and_the_public_count(
    browser: Browser, base_url: str, live_outbox: Path, people: dict[str, Any]
) -> None:
    cid = people["comment"]
    public = new_person(browser, base_url)

    # First in English: the public moderation report, linked from every page's footer.
    choose_language(public, "en")
    public.get_by_role("contentinfo").get_by_role("link", name="Moderation report").click()
    expect(public.get_by_role("heading", level=1)).to_have_text("Moderation report")
    check_axe(public, "moderation report (en)")

    # The same report in German, before anything happens: this month's numbers.
    public.get_by_role("button", name="Deutsch").click()
    expect(public.get_by_role("heading", level=1)).to_have_text("Moderationsbericht")
    check_axe(public, "Moderationsbericht")
    before = month_counts(public)

    # Rudi reads the project's discussion and reports Karla's comment as insulting.
    rudi = new_person(browser, base_url)
    choose_language(rudi, "de")
    rudi.goto(f"/projects/{SLUG}")
    log_in(rudi, REPORTER[0])
    comment = rudi.get_by_role("article", name=re.compile(AUTHOR[1])).filter(has_text=SAYS)
    comment.get_by_role("link", name="Melden").click()
    expect(rudi.get_by_role("heading", level=1)).to_have_text("Kommentar melden")
    check_axe(rudi, "Kommentar melden")
    rudi.get_by_role("group", name="Warum melden Sie diesen Kommentar?").get_by_label(
        "Beleidigend, verletzend oder rechtswidrig"
    ).check()
    rudi.get_by_label("Details").fill("Das ist eine Beleidigung der Planerinnen.")
    rudi.get_by_role("button", name="Meldung senden").click()
    expect(flash(rudi)).to_contain_text("Vielen Dank. Die Moderation sieht sich den Kommentar an.")
    expect(rudi.get_by_text("Sie haben diesen Kommentar gemeldet.")).to_be_visible()

    # Mona, the moderator: first her queue in English, then at work in German.
    mona = new_person(browser, base_url)
    choose_language(mona, "en")
    log_in(mona, MODERATOR[0])
    menu_en = mona.get_by_role("navigation", name="Main navigation")
    menu_en.get_by_role("link", name="Moderation").click()
    expect(mona.get_by_role("heading", level=1)).to_have_text("Moderation queue")
    check_axe(mona, "moderation queue (en)")
    mona.get_by_role("button", name="Deutsch").click()
    expect(mona.get_by_role("heading", level=1)).to_have_text("Warteschlange der Moderation")

    # The reported comment is in the queue; she opens it.
    mona.get_by_role("navigation", name="Filter").get_by_role("link", name="Gemeldet").click()
    check_axe(mona, "Warteschlange, gemeldet")
    mona.get_by_role("link", name=re.compile(rf"^#{cid}: ")).click()
    expect(mona.get_by_role("heading", level=1)).to_have_text(f"Kommentar #{cid}")
    expect(mona.get_by_role("main")).to_contain_text(SAYS)
    expect(mona.get_by_role("main")).to_contain_text("Das ist eine Beleidigung der Planerinnen.")
    expect(mona.get_by_role("main")).to_contain_text(PROJECT)
    check_axe(mona, "Kommentar in der Moderation")

    # On a phone the decision page fits the screen and stays accessible.
    mona.set_viewport_size({"width": 360, "height": 740})
    assert mona.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    check_axe(mona, "Kommentar in der Moderation, 360 px")
    mona.set_viewport_size({"width": 1280, "height": 800})

    # She hides it with a common reason; choosing it fills in the text she can still edit.
    mona.get_by_role("radio", name="Mit diesem Grund ausblenden").check()
    mona.get_by_label("Häufiger Grund").select_option(label=PRESET)
    expect(mona.get_by_label("Grund", exact=True)).to_have_value(PRESET)
    check_axe(mona, "Entscheidung mit Grund")
    mona.get_by_role("button", name="Entscheidung speichern").click()
    # The decision leads on to the next comment waiting, or to the empty queue.
    expect(mona).not_to_have_url(re.compile(rf"/moderation/comments/{cid}$"))
    check_axe(mona, "nach der Entscheidung")
    mona.get_by_role("navigation", name="Moderation").get_by_role(
        "link", name="Moderationsprotokoll"
    ).click()
    expect(mona.get_by_role("table")).to_contain_text(PRESET)
    check_axe(mona, "Moderationsprotokoll")

    # Everyone now sees the reason in place of the comment.
    rudi.reload()
    expect(rudi.locator(f"#comment-{cid}")).to_contain_text(
        f"von der Moderation ausgeblendet: {PRESET}"
    )
    expect(rudi.get_by_text(SAYS)).to_have_count(0)

    # Karla gets a mail; its link leads to the decisions about her comments.
    link = mailed_link(live_outbox, AUTHOR[0], "/account/moderation")
    karla = new_person(browser, base_url)
    choose_language(karla, "de")
    karla.goto(link)
    karla.get_by_label("E-Mail-Adresse").fill(AUTHOR[0])
    karla.get_by_label("Passwort").fill(PASSWORD)
    karla.get_by_role("main").get_by_role("button", name="Anmelden").click()
    expect(karla.get_by_role("heading", level=1)).to_have_text("Moderation meiner Kommentare")
    mine = karla.get_by_role("region", name=f"Ihr Kommentar #{cid}")
    expect(mine).to_contain_text(PRESET)
    check_axe(karla, "Moderation meiner Kommentare")

    # She appeals once, in her own words.
    mine.get_by_label("Warum soll der Kommentar wieder angezeigt werden?").fill(
        "Das war überspitzt, aber es ging um die Planung, nicht um eine Person."
    )
    mine.get_by_role("button", name="Einspruch senden").click()
    expect(flash(karla)).to_contain_text("Ihr Einspruch ist gesendet. Die Moderation prüft ihn.")
    expect(mine.get_by_role("button", name="Einspruch senden")).to_have_count(0)
    check_axe(karla, "Moderation meiner Kommentare, Einspruch gesendet")

    # The appeal is back in Mona's queue; she upholds it and the comment is shown again.
    menu(mona, "Moderation")
    mona.get_by_role("navigation", name="Filter").get_by_role("link", name="Einsprüche").click()
    check_axe(mona, "Warteschlange, Einsprüche")
    mona.get_by_role("link", name=re.compile(rf"^#{cid}: ")).click()
    expect(mona.get_by_role("region", name="Einspruch der Verfasser:in")).to_contain_text(
        "nicht um eine Person"
    )
    check_axe(mona, "Kommentar mit Einspruch")
    mona.get_by_role("radio", name="Einspruch stattgeben (wiederherstellen)").check()
    mona.get_by_label("Grund", exact=True).fill("Scharf formuliert, aber Kritik an der Sache.")
    mona.get_by_role("button", name="Entscheidung speichern").click()
    expect(mona).not_to_have_url(re.compile(rf"/moderation/comments/{cid}$"))

    # Karla reads the outcome; the comment is back on the project page.
    karla.reload()
    expect(mine).to_contain_text("Ihrem Einspruch wurde stattgegeben.")
    check_axe(karla, "Einspruch stattgegeben")
    rudi.reload()
    expect(rudi.get_by_text(SAYS)).to_be_visible()

    # The public report counts the report, the hiding and the upheld appeal – and no names.
    public.reload()
    after = month_counts(public)
    assert after["Ausgeblendet"] == before["Ausgeblendet"] + 1, (before, after)
    assert after["Einsprüche"] == before["Einsprüche"] + 1, (before, after)
    assert after["Einsprüche erfolgreich"] == before["Einsprüche erfolgreich"] + 1
    text = public.get_by_role("main").inner_text()
    for name in (AUTHOR[1], REPORTER[1], MODERATOR[1]):
        assert name not in text
    check_axe(public, "Moderationsbericht danach")
    for page in (public, rudi, mona, karla):
        page.context.close()
