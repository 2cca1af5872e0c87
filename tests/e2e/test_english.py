"""English pages in Chromium: English content where there is some, German marked lang="de"."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.priorities import services as priorities
from kldialog.priorities.models import Method, PriorityRound
from kldialog.projects.models import Category, Project
from kldialog.surveys import builder
from kldialog.surveys.models import QuestionKind, Survey
from kldialog.windows.models import Eligibility, Publication

from .test_accounts import check_axe
from .test_pages import choose_language
from .test_staff import make_account

# Set KLDIALOG_SHOTS=/some/dir to keep screenshots of the English pages.
SHOTS = os.environ.get("KLDIALOG_SHOTS")
TRANSLATED = {"handyparken": "Mobile parking", "intelligente-verkehrslenkung": "Smart traffic"}
UNTRANSLATED = "Moderne Verwaltungsbüros"  # a bundled project left in German


@pytest.fixture(scope="module")
def english_content(live_app: Flask) -> Iterator[dict[str, int]]:
    """Give the live roadmap some English texts, an open round and two surveys; undo it after."""
    make_account(live_app, "english-staff@example.org", "English Staff", Role.resident, Role.staff)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with live_app.app_context():
        staff = accounts.find_user_by_email("english-staff@example.org")
        for slug, title in TRANSLATED.items():
            db.session.execute(
                sa.update(Project).where(Project.slug == slug).values(title_en=title)
            )
        db.session.execute(
            sa.update(Category)
            .where(Category.name == "Verkehr & Mobilität")
            .values(name_en="Transport & mobility")
        )
        db.session.commit()
        project_ids = list(
            db.session.scalars(
                sa.select(Project.id).where(
                    Project.slug.in_([*TRANSLATED, "moderne-verwaltungsbueros"])
                )
            )
        )
        round_ = priorities.create_round(
            staff,
            priorities.RoundFields(
                title="Was ist Ihnen wichtig? (Englisch-Test)",
                explanation="Wählen Sie bis zu zwei Projekte.",
                method=Method.approval, max_choices=2, budget=5, max_per_project=3,
                eligibility=Eligibility.resident, show_running_totals=False,
                opens_at=now - dt.timedelta(days=1), closes_at=now + dt.timedelta(days=7),
                project_ids=project_ids, title_en="What matters to you? (English test)",
            ),
        )  # fmt: skip
        priorities.publish_round(staff, round_)
        surveys = {}
        for title, title_en in (
            ("Parken in der Innenstadt (Englisch-Test)", "Parking in the city centre"),
            ("Radwege (Englisch-Test)", ""),
        ):
            survey = builder.create_survey(
                staff, title=title, intro="Ihre Meinung zählt.", title_en=title_en,
                opens_at=now - dt.timedelta(days=1), closes_at=now + dt.timedelta(days=7),
                eligibility=Eligibility.resident,
            )  # fmt: skip
            builder.save_question(
                staff, survey, None, section_id=survey.sections[0].id, kind=QuestionKind.yes_no,
                text="Fahren Sie in die Innenstadt?",
            )  # fmt: skip
            builder.publish_survey(staff, survey)
            surveys[title_en or "plain"] = survey.id
        ids = {"round": round_.id, "survey": surveys["Parking in the city centre"]}
    yield ids
    with live_app.app_context():
        db.session.execute(sa.update(Project).values(title_en=None))
        db.session.execute(sa.update(Category).values(name_en=None))
        db.session.execute(
            sa.update(PriorityRound).where(PriorityRound.id == ids["round"])
            .values(state=Publication.draft)
        )  # fmt: skip
        db.session.execute(
            sa.update(Survey).where(Survey.id.in_(surveys.values())).values(state=Publication.draft)
        )
        db.session.commit()


def shot(page: Page, name: str) -> None:
    """Keep a full-page screenshot when KLDIALOG_SHOTS names a folder."""
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def german_marked(page: Page, text: str) -> Any:
    """Return the locator of `text` inside an element marked lang="de"."""
    return page.locator("main [lang=de]", has_text=text).first


@pytest.mark.parametrize("width", [1280, 360])
def test_english_pages_show_english_content_and_mark_german_text(
    browser: Browser, base_url: str, english_content: dict[str, int], width: int
) -> None:
    page = browser.new_context(
        base_url=base_url, viewport={"width": width, "height": 900}
    ).new_page()
    choose_language(page, "en")

    page.goto("/projects")
    main = page.locator("main")
    expect(main.get_by_role("link", name="Mobile parking")).to_be_visible()
    expect(german_marked(page, UNTRANSLATED)).to_be_visible()
    expect(main.locator("[lang=de]", has_text="Mobile parking")).to_have_count(0)
    expect(main.locator(".kern-preline", has_text="Transport & mobility").first).to_be_visible()
    check_axe(page, f"projects en {width}")
    shot(page, f"en-projects-{width}")

    page.goto("/projects/handyparken")
    expect(page.locator("h1")).to_have_text("Mobile parking")
    assert page.title().startswith("Mobile parking")
    # The summary has no English version: the German paragraph is marked.
    expect(page.locator("main p.prose[lang=de]")).to_contain_text("Parktickets")
    check_axe(page, f"project en {width}")
    shot(page, f"en-project-{width}")

    page.goto("/priorities")
    expect(page.get_by_role("link", name="What matters to you? (English test)")).to_be_visible()
    check_axe(page, f"priorities en {width}")
    page.goto(f"/priorities/{english_content['round']}")
    expect(page.locator("h1")).to_have_text("What matters to you? (English test)")
    expect(page.locator("main .prose[lang=de]")).to_contain_text("Wählen Sie bis zu zwei")
    expect(german_marked(page, UNTRANSLATED)).to_be_attached()
    check_axe(page, f"round en {width}")
    shot(page, f"en-round-{width}")

    page.goto("/surveys")
    expect(page.get_by_role("link", name="Parking in the city centre")).to_be_visible()
    expect(german_marked(page, "Radwege (Englisch-Test)")).to_be_visible()
    check_axe(page, f"surveys en {width}")
    shot(page, f"en-surveys-{width}")
    page.goto(f"/surveys/{english_content['survey']}")
    expect(page.locator("h1")).to_have_text("Parking in the city centre")
    expect(page.locator("main p.prose[lang=de]").first).to_have_text("Ihre Meinung zählt.")
    check_axe(page, f"survey en {width}")


def test_german_pages_carry_no_lang_marks_on_content(
    browser: Browser, base_url: str, english_content: dict[str, int]
) -> None:
    page = browser.new_context(base_url=base_url).new_page()
    choose_language(page, "de")
    for path in ("/projects", f"/priorities/{english_content['round']}", "/surveys"):
        page.goto(path)
        expect(page.locator("main [lang]")).to_have_count(0)
    expect(
        page.get_by_role("link", name="Parken in der Innenstadt (Englisch-Test)")
    ).to_be_visible()
