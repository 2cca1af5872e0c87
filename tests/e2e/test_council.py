"""The council dashboard and a closed round's results in the browser: lead, length, axe."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.priorities import services
from kldialog.priorities.models import Indicator, Method
from kldialog.projects import reading as projects

from .test_accounts import check_axe
from .test_comments import PASSWORD, log_in
from .test_pages import choose_language
from .test_priorities import end_round, make_round, new_page, person, shot, unique

WIDTHS = [(1280, 800), (360, 740)]


@pytest.fixture(scope="module")
def big_round(live_app: Flask) -> int:
    """An approval round over twenty projects with forty ballots, closed."""
    with live_app.app_context():
        ids = services.default_project_ids()[:20]
    round_id = make_round(
        live_app, Method.approval, unique("Stadtrat-Ergebnis"), max_choices=5, project_ids=ids
    )
    with live_app.app_context():
        for number in range(40):
            voter = accounts.find_user_by_email(person(live_app))
            # Project j is on every (j+2)-th ballot: a few clear favourites, a long tail.
            picked = [ids[j] for j in range(len(ids)) if (number + j) % (j + 2) == 0][:5]
            picked = picked or [ids[number % 3]]
            services.cast_ballot(voter, services.get_round(round_id), dict.fromkeys(picked, 1))
    end_round(live_app, round_id)
    return round_id


@pytest.fixture(scope="module")
def rated(live_app: Flask) -> list[str]:
    """Two projects rated by ten people each, so both indicators are charted; their titles."""
    # Varied scores: ratings too alike would be "too uniform to show" (kernel.disclosure).
    benefit, care = [2, 3, 4, 5, 5, 1, 3, 4, 2, 4], [4, 3, 2, 1, 5, 5, 2, 3, 4, 3]
    with live_app.app_context():
        ids = services.default_project_ids()[:2]
        for first, second in zip(benefit, care, strict=True):
            rater = accounts.find_user_by_email(person(live_app))
            for project_id in ids:
                project = projects.get_project(project_id)
                scores = {Indicator.benefit: first, Indicator.data_care: second}
                services.rate_project(rater, project, scores)
        titles = [projects.get_project(project_id).title for project_id in ids]
        db.session.remove()
    return titles


@pytest.mark.parametrize("language", ["de", "en"])
def test_closed_results_lead_with_the_groups_on_the_first_screen(
    browser: Browser, base_url: str, big_round: int, language: str
) -> None:
    page = new_page(browser, base_url, language)
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"/priorities/{big_round}/results")
        main = page.locator("main")
        shot(page, f"council-results-{language}-{width}")
        lead = main.locator(".results-lead")
        expect(lead).to_contain_text("liegen vorn" if language == "de" else "are ahead")
        # The first group starts on the first screen, and the page is short.
        top = page.locator("#tier-1").bounding_box()
        assert top is not None and top["y"] < height, f"{width}px: tier 1 at {top}"
        total = page.evaluate("document.documentElement.scrollHeight")
        print(f"results {language} {width}px: {total}px tall")
        assert total < (3200 if width > 400 else 4200), f"{width}px: {total}px tall"
        # Labels are text at 12 px or more, never cut off.
        sizes = page.eval_on_selector_all(
            ".bar-list__label", "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))"
        )
        assert sizes and min(sizes) >= 12
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        expect(main.locator("details#how-we-count")).not_to_have_attribute("open", "")
        check_axe(page, f"results {language} {width}")
    page.context.close()


@pytest.mark.parametrize("language", ["de", "en"])
def test_council_member_reads_the_dashboard(
    browser: Browser,
    base_url: str,
    live_app: Flask,
    big_round: int,
    rated: list[str],
    language: str,
) -> None:
    email = f"stadtrat-{language}@example.org"
    with live_app.app_context():
        if accounts.find_user_by_email(email) is None:
            accounts.create_confirmed_user(
                email=email, password=PASSWORD, display_name=f"Rat {language}", roles=[Role.council]
            )
        db.session.remove()
    page = browser.new_page(base_url=base_url)
    choose_language(page, language)
    log_in(page, email)
    page.locator("nav.site-nav a[href='/council']").click()
    expect(page.locator("h1")).to_have_text(
        "Übersicht für den Stadtrat" if language == "de" else "Council dashboard"
    )
    changes = page.locator("section.council-changes")
    expect(changes).to_contain_text("Stadtrat-Ergebnis")
    # Both projects rated here are charted (other tests of this server may have rated more).
    for chart in ("#chart-benefit", "#chart-data_care"):
        for title in rated:
            expect(page.locator(f"{chart} .bar-list__row", has_text=title)).to_have_count(1)
    expect(page.locator("#council-ratings-caption")).to_be_visible()
    expect(page.locator("a[href='/council/ratings.csv']")).to_be_visible()
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        box = changes.bounding_box()
        assert box is not None and box["y"] < height
        check_axe(page, f"council dashboard ({language}, {width})")
        shot(page, f"council-{language}-{width}")
        # Narrow screens: the tables scroll in their own box, the page does not.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    # Printed before a session: the collapsed list prints open, the navigation does not print.
    expect(page.locator(".council-unrated")).to_be_hidden()
    page.emulate_media(media="print")
    expect(page.locator(".council-unrated")).to_be_visible()
    expect(page.locator("nav.site-nav")).to_be_hidden()
    shot(page, f"council-{language}-print")
    page.close()
