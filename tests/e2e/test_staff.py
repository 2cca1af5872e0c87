"""The staff console and following in Chromium: the whole flow by keyboard and mouse; axe everywhere."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from kldialog.auth import services as accounts
from kldialog.auth.models import Role, User
from kldialog.kernel.db import db
from kldialog.projects import following as follows
from kldialog.projects import reading
from kldialog.projects import staff as staff_changes
from kldialog.projects.models import Category, Project, Status, Visibility

from ..conftest import PASSWORD
from .conftest import run_axe
from .test_pages import choose_language


def check_axe(page: Page, label: str) -> None:
    """Fail with axe's report if the page has any WCAG 2.1 AA violation; check the basics too."""
    results = run_axe(page)
    assert results.violations_count == 0, f"{label}:\n{results.generate_report()}"
    assert page.locator("h1").count() == 1, label
    assert page.title().endswith("– KL.dialog"), label
    assert page.locator("nav.breadcrumbs").count() == 1, label


def make_account(app: Flask, email_address: str, name: str, *roles: Role) -> None:
    """Create a confirmed account in the live app (once per session)."""
    with app.app_context():
        if accounts.find_user_by_email(email_address) is None:
            accounts.create_confirmed_user(
                email=email_address, password=PASSWORD, display_name=name, roles=list(roles)
            )


def log_in(page: Page, email_address: str) -> None:
    """Log in through the form."""
    page.goto("/login")
    page.locator("#email").fill(email_address)
    page.locator("#password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile("/account$"))


def archive(app: Flask, slug: str) -> None:
    """Take a test project off the public lists again (other browser tests count projects)."""
    with app.app_context():
        project = db.session.scalar(sa.select(Project).where(Project.slug == slug))
        if project is not None and project.state is not Visibility.archived:
            staff = accounts.find_user_by_email("e2e-staff@example.org")
            staff_changes.set_project_visibility(staff, project, Visibility.archived)


@pytest.mark.parametrize("language", ["de", "en"])
def test_staff_create_publish_and_change_status(
    page: Page, browser: Browser, base_url: str, live_app: Flask, language: str
) -> None:
    make_account(live_app, "e2e-staff@example.org", "E2E Staff", Role.staff)
    title = f"Browser-Testprojekt {language.upper()}"
    slug = f"browser-testprojekt-{language}"
    choose_language(page, language)
    log_in(page, "e2e-staff@example.org")
    try:
        page.locator("nav.site-nav a[href='/staff/projects']").click()
        expect(page).to_have_url(re.compile("/staff/projects$"))
        check_axe(page, "staff project list")

        # A new project: first with errors (listed on top, tied to fields), then right.
        page.goto("/staff/projects/new")
        check_axe(page, "new project")
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_title(re.compile("^(Fehler|Error): "))
        expect(page.locator("#error-summary")).to_be_visible()
        assert "title-error-1" in page.locator("#title").get_attribute("aria-describedby")
        check_axe(page, "new project with errors")
        page.locator("#title").fill(title)
        page.locator("#summary").fill("Ein Projekt aus dem Browsertest.")
        page.locator("#category").select_option(label="Verwaltung")
        page.locator("#department").fill("Referat Digitalisierung")
        page.locator("#progress").fill("10")
        expect(page.locator("#visibility")).to_have_value("draft")
        page.locator("main form.staff-form button[type=submit]").click()
        expect(page).to_have_url(re.compile(r"/staff/projects/\d+$"))
        edit_url = page.url
        check_axe(page, "edit project")

        # Staff preview the draft; the public does not find it.
        page.goto(f"/projects/{slug}")
        expect(page.locator(".kern-alert--warning")).to_be_visible()
        check_axe(page, "draft preview")
        anonymous = browser.new_context(base_url=base_url)
        response = anonymous.new_page().goto(f"/projects/{slug}")
        assert response is not None and response.status == 404
        anonymous.close()

        # Publish after the confirmation page.
        page.goto(edit_url)
        page.locator("a[href$='/visibility/published']").click()
        check_axe(page, "publish confirmation")
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(edit_url)
        page.goto("/projects?q=browser-testprojekt")
        expect(page.locator(f"a[href='/projects/{slug}']")).to_be_visible()

        # Change the status: the reason is required, then it shows in the public history.
        page.goto(edit_url)
        page.locator("a[href$='/status']").click()
        check_axe(page, "status form")
        page.locator("#status").select_option("in_progress")
        page.locator("main form button[type=submit]").click()
        expect(page.locator("#error-summary")).to_be_visible()
        check_axe(page, "status form with errors")
        page.locator("#reason").fill("Der Lenkungsausschuss hat den Start beschlossen.")
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(edit_url)
        expect(page.locator(".flash-messages")).to_contain_text(
            "in Umsetzung" if language == "de" else "in progress"
        )
        page.goto(f"/projects/{slug}")
        expect(page.locator(".timeline")).to_contain_text(
            "Der Lenkungsausschuss hat den Start beschlossen."
        )

        # The other staff pages.
        page.goto(edit_url + "/updates/new")
        check_axe(page, "update form")
        page.locator("#title").fill("Erste Ergebnisse")
        page.locator("#body").fill("Alles läuft nach Plan.")
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(edit_url)
        for target in ("archived", "draft"):
            page.goto(f"{edit_url}/visibility/{target}")
            check_axe(page, f"{target} confirmation")
        page.goto("/staff/categories")
        check_axe(page, "categories")
        page.locator("#name").fill(f"E2E Kategorie {language}")
        page.locator("main form button[type=submit]").last.click()
        expect(page.locator(".flash-messages")).to_be_visible()
        check_axe(page, "categories after adding")
        with live_app.app_context():
            new_id = db.session.scalar(
                sa.select(Category.id).where(Category.name == f"E2E Kategorie {language}")
            )
            full_id = db.session.scalar(sa.select(Category.id).where(Category.name == "Verwaltung"))
        page.goto(f"/staff/categories/{new_id}")
        check_axe(page, "rename category")
        page.goto(f"/staff/categories/{full_id}/delete")
        check_axe(page, "delete category with projects")
        page.goto(f"/staff/categories/{new_id}/delete")
        check_axe(page, "delete empty category")
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(re.compile("/staff/categories$"))

        page.goto("/staff/roadmap/import")
        check_axe(page, "import")
        page.locator("#file").set_input_files(
            files=[
                {"name": "kaputt.csv", "mimeType": "text/csv", "buffer": b"title,category\nA,B\n"}
            ]
        )
        page.locator("main form button[name=run]").click()
        expect(page.locator(".import-problems")).to_contain_text("missing column(s) status")
        check_axe(page, "import with problems")
        page.locator("#file").set_input_files(
            files=[
                {
                    "name": "ok.csv",
                    "mimeType": "text/csv",
                    "buffer": b"slug,title,category,status\nhandyparken,Handyparken,Verkehr & Mobilit\xc3\xa4t,planned\n",
                }
            ]
        )
        page.locator("main form button[name=check]").click()
        expect(page.locator(".kern-alert--success")).to_be_visible()
        check_axe(page, "import preview")
    finally:
        archive(live_app, slug)


@pytest.mark.parametrize("language", ["de", "en"])
def test_follow_and_unsubscribe_in_the_browser(page: Page, live_app: Flask, language: str) -> None:
    make_account(live_app, "e2e-staff@example.org", "E2E Staff", Role.staff)
    address = f"e2e-follower-{language}@example.org"
    make_account(live_app, address, f"E2E Follower {language}")
    slug = f"folgen-testprojekt-{language}"
    with live_app.test_request_context():
        staff = accounts.find_user_by_email("e2e-staff@example.org")
        category = db.session.scalar(sa.select(Category).where(Category.name == "Verwaltung"))
        if reading.get_project_by_slug(slug) is None:
            staff_changes.create_project(
                staff,
                title=f"Folgen-Testprojekt {language.upper()}",
                slug=slug,
                category=category,
                visibility=Visibility.published,
            )
    try:
        choose_language(page, language)
        page.goto(f"/projects/{slug}")
        check_axe(page, "project page, anonymous")
        page.locator(".follow-box a").click()
        expect(page).to_have_url(re.compile(r"/login\?next="))
        page.locator("#email").fill(address)
        page.locator("#password").fill(PASSWORD)
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(re.compile(f"/projects/{slug}$"))
        page.locator(".follow-box button[type=submit]").click()
        expect(page.locator(".flash-messages")).to_be_visible()
        expect(
            page.locator(f".follow-box form[action='/projects/{slug}/unfollow']")
        ).to_be_visible()
        check_axe(page, "project page, following")
        page.goto("/account/following")
        expect(page.locator(f"a[href='/projects/{slug}']")).to_be_visible()
        check_axe(page, "projects I follow")

        # Staff change the status: the follower gets a mail with a one-click unsubscribe link.
        with live_app.test_request_context():
            project = reading.get_project_by_slug(slug)
            staff = accounts.find_user_by_email("e2e-staff@example.org")
            told = staff_changes.change_project_status(
                staff, project, status=Status.completed, reason="Fertig."
            )
            assert told >= 1
        link = unsubscribe_link(Path(live_app.config["MAIL_OUTBOX"]), address)

        page.context.clear_cookies()  # the link works without logging in
        choose_language(page, language)
        page.goto(link)
        check_axe(page, "unsubscribe confirmation")
        page.locator("main form button[type=submit]").click()
        expect(page).to_have_url(re.compile("/unsubscribed$"))
        check_axe(page, "unsubscribed")
        response = page.goto(link)
        assert response is not None and response.status == 400
        check_axe(page, "used unsubscribe link")
        with live_app.app_context():
            user = db.session.scalar(sa.select(User).where(User.email == address))
            assert follows.followed_projects(user) == []
    finally:
        archive(live_app, slug)


def unsubscribe_link(outbox: Path, to: str) -> str:
    """Return the newest unsubscribe link mailed to `to`."""
    for file in sorted(outbox.glob("*.eml"), key=lambda f: f.stat().st_mtime_ns, reverse=True):
        message = email.message_from_bytes(file.read_bytes(), policy=policy.default)
        if message["To"] == to:
            match = re.search(r"http://[^/\s]+(/unsubscribe/\S+)", message.get_content())
            if match:
                return match.group(1)
    raise AssertionError(f"no unsubscribe mail to {to}")
