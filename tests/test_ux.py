"""Server behaviour behind issue 13's usability fixes (links that work, messages that arrive)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask

from kldialog.auth.models import Role
from kldialog.comments.models import Comment, CommentStatus
from kldialog.kernel.db import db

from .conftest import login
from .test_auth import REGISTRATION, link_in
from .test_comments import make_comment
from .test_moderation import post, report, state, world
from .test_priorities import make_round, projects
from .test_surveys import make_survey, staff

__all__ = ["make_survey", "projects", "staff", "world"]  # fixtures used here


def _reply_links(page: str) -> list[str]:
    return re.findall(r'href="(/comments/\d+/reply)"', page)


def test_every_reply_link_leads_to_a_page_that_works(
    app: Flask, client: Any, make_user: Any, make_project: Any
) -> None:
    """Under a reply whose comment was hidden there is no reply link that ends in 403."""
    project = make_project("Radweg")
    author = make_user(Role.resident)
    hidden_id = make_comment(app, author, project, "Frage")
    make_comment(app, author, project, "Antwort", parent=hidden_id)
    open_id = make_comment(app, author, project, "Andere Frage")
    make_comment(app, author, project, "Andere Antwort", parent=open_id)
    with app.app_context():
        comment = db.session.get(Comment, hidden_id)
        comment.status = CommentStatus.hidden
        comment.hidden_reason = "Beleidigung"
        db.session.commit()
    login(client, make_user(Role.resident))
    links: set[str] = set()
    for path in (f"/projects/{project.slug}", f"/comments/{hidden_id}", f"/comments/{open_id}"):
        links.update(_reply_links(client.get(path).get_data(as_text=True)))
    assert links, "the open comment and its reply must still offer a reply link"
    for link in sorted(links):
        assert client.get(link).status_code == 200, link
    hidden_page = client.get(f"/comments/{hidden_id}").get_data(as_text=True)
    assert _reply_links(hidden_page) == []


def test_after_confirming_the_address_the_new_user_sees_confirmed_and_a_next_step(
    app_factory: Callable[..., Flask], outbox: Callable[[], list[Any]]
) -> None:
    """The login after confirmation starts a fresh session: message and next step survive it."""
    client = app_factory().test_client()
    client.post("/register", data=REGISTRATION)
    url = link_in(outbox()[-1], "/confirm/")
    response = client.post(url)
    assert response.headers["Location"] == "/account"
    page = client.get("/account").get_data(as_text=True)
    assert "Vielen Dank: Ihre E-Mail-Adresse ist bestätigt." in page
    assert 'id="welcome-title"' in page
    assert 'href="/account/residency"' in page.split('id="welcome-title"')[1].split("</section>")[0]
    again = client.get("/account").get_data(as_text=True)
    assert "ist bestätigt." not in again
    assert 'id="welcome-title"' not in again


def test_survey_results_before_they_are_public_say_when_they_will_be(
    client: Any, make_survey: Callable[..., int]
) -> None:
    """A resident asking for results too early learns the date, not a bare 'access denied'."""
    survey_id = make_survey(closes_in=3)
    response = client.get(f"/surveys/{survey_id}/results")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Ergebnisse noch nicht öffentlich" in page
    assert "Die Ergebnisse werden veröffentlicht, wenn die Umfrage am" in page
    assert f'href="/surveys/{survey_id}"' in page


def test_a_decision_leads_to_the_next_item_and_a_preset_reason_works_without_script(
    app: Flask, world: Any
) -> None:
    """Choosing a common reason and no text saves that reason; then the next comment opens."""
    first = post(app, world.author.id, world.thread_id, "Erster grober Kommentar.")
    second = post(app, world.author.id, world.thread_id, "Zweiter grober Kommentar.")
    for cid in (first, second):
        report(app, [world.others[0].id], cid)
    client = app.test_client()
    login(client, world.moderator)
    page = client.get(f"/moderation/comments/{first}").get_data(as_text=True)
    assert 'id="preset" name="preset"' in page
    assert "Beleidigung oder persönlicher Angriff" in page
    response = client.post(
        f"/moderation/comments/{first}", data={"action": "hide", "preset": "insult", "reason": ""}
    )
    assert response.status_code == 303
    assert response.location.endswith(f"/moderation/comments/{second}")
    assert state(app, first)[:2] == (CommentStatus.hidden, "Beleidigung oder persönlicher Angriff")
    response = client.post(
        f"/moderation/comments/{second}",
        data={"action": "hide", "preset": "insult", "reason": "Eigener Text"},
    )
    assert response.location.endswith("/moderation")
    assert state(app, second)[1] == "Eigener Text"
    assert "Die Warteschlange ist leer" in client.get("/moderation").get_data(as_text=True)


def test_ballot_has_one_stop_per_project_and_tells_each_visitor_their_order(
    app: Flask, client: Any, make_user: Any, projects: list[Any]
) -> None:
    """Project links sit in one disclosure, not after every option; the order note is true."""
    round_id = make_round(app, projects)
    anonymous = client.get(f"/priorities/{round_id}").get_data(as_text=True)
    assert "alphabetisch" in anonymous
    assert "für Sie" not in anonymous
    login(client, make_user())
    page = client.get(f"/priorities/{round_id}").get_data(as_text=True)
    assert "in einer für Sie zufällig gezogenen Reihenfolge" in page
    form = page.split('id="ballot"')[1].split("</form>")[0]
    about = form.split('<details class="ballot__about">')[1].split("</details>")[0]
    outside = form.replace(about, "")
    for project in projects[:5]:
        assert f'href="/projects/{project.slug}"' in about, project.slug
        assert f'href="/projects/{project.slug}"' not in outside, project.slug


def test_survey_management_is_in_the_staff_navigation_only(client: Any, make_user: Any) -> None:
    """Staff reach /staff/surveys from every page; residents do not see the entry."""
    login(client, make_user(Role.resident))
    assert 'href="/staff/surveys"' not in client.get("/").get_data(as_text=True)
    client.post("/logout")
    login(client, make_user(Role.staff))
    nav = client.get("/").get_data(as_text=True).split('class="site-nav"')[1].split("</nav>")[0]
    assert 'href="/staff/surveys">Umfragen verwalten</a>' in nav
    page = client.get("/staff/surveys/new").get_data(as_text=True)
    current = page.split('class="site-nav"')[1].split("</nav>")[0]
    assert 'href="/staff/surveys" aria-current="true">' in current


def test_survey_opens_with_login_first_and_a_short_privacy_summary(
    client: Any, make_survey: Callable[..., int]
) -> None:
    """Anonymous visitors see the log-in button before the intro; details wait behind a click."""
    survey_id = make_survey()
    page = client.get(f"/surveys/{survey_id}").get_data(as_text=True)
    login_at = page.index("Anmelden, um zu antworten")
    assert login_at < page.index("Wie finden Sie die intelligente Verkehrslenkung?")
    assert page.count("Anmelden, um zu antworten") == 1
    summary = page.split('class="kern-body prose survey-privacy__summary">')[1].split("</p>")[0]
    assert "ohne Ihren Namen" in summary
    details = page.split('<details class="survey-privacy__details">')[1].split("</details>")[0]
    assert details.count("<li>") >= 6


def test_moderation_report_says_comments_and_reports_apart_and_queue_cells_carry_labels(
    app: Flask, world: Any
) -> None:
    """One comment reported three times reads as 1 comment and 3 reports, not '1' beside '3'."""
    cid = post(app, world.author.id, world.thread_id, "Ein grober Kommentar.")
    report(app, [o.id for o in world.others], cid)
    client = app.test_client()
    page = client.get("/moderationsbericht").get_data(as_text=True)
    assert "Gemeldete Kommentare" in page
    assert "Meldungen nach Grund (ein Kommentar kann mehrmals gemeldet werden)" in page
    login(client, world.moderator)
    queue = client.get("/moderation").get_data(as_text=True)
    row = queue.split('<tbody class="kern-table__body">')[1].split("</tr>")[0]
    assert row.count("data-label=") == 6
    assert 'data-label="Meldungen">3</td>' in row
