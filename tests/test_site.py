"""Site-wide rules: complete German catalog, nothing from other hosts, no inline styles or scripts."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from .conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kldialog"
CATALOG = PACKAGE / "translations" / "de" / "LC_MESSAGES" / "messages.po"
URL_ATTRIBUTES = {"src", "href", "action", "formaction", "poster", "data", "srcset", "content"}


class LinkCollector(HTMLParser):
    """Collect every URL-bearing attribute, inline style and inline script of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_styles: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value and not (tag == "meta" and name == "content"):
                self.urls.append(value)
            if name == "style" or name.startswith("on"):
                self.inline_styles.append(f"<{tag} {name}>")
        if tag == "style":
            self.inline_styles.append("<style>")
        self._in_script = tag == "script" and not values.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def crawl(client: FlaskClient, start: str = "/", limit: int = 200) -> dict[str, str]:
    """Follow every local link from the start page; return {path: html}."""
    seen: dict[str, str] = {}
    queue = [start]
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        response = client.get(path)
        if not response.content_type.startswith("text/html"):
            continue
        html = response.get_data(as_text=True)
        seen[path] = html
        collector = LinkCollector()
        collector.feed(html)
        for url in collector.urls:
            parts = urlsplit(urljoin("http://localhost" + path, url))
            if parts.netloc == "localhost" and not parts.path.startswith("/static/"):
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


@pytest.mark.parametrize("language", ["de", "en"])
def test_no_page_references_another_host(
    kaiserslautern: Flask, client: FlaskClient, language: str
) -> None:
    client.post("/language", data={"lang": language, "next": "/"})
    pages = crawl(client)
    assert len(pages) > 30  # home, list pages, 25 projects, legal pages
    for path, html in pages.items():
        collector = LinkCollector()
        collector.feed(html)
        for url in collector.urls:
            parts = urlsplit(url)
            assert parts.scheme in ("", "mailto", "tel"), f"{path} references {url}"
            assert not parts.netloc, f"{path} references {url}"
        assert collector.inline_styles == [], f"{path}: {collector.inline_styles}"
        assert collector.inline_scripts == 0, f"{path} has inline script"


def test_stylesheets_load_nothing_from_other_hosts() -> None:
    for css in (PACKAGE / "static").rglob("*.css"):
        text = css.read_text("utf-8")
        assert "@import" not in text, css
        for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", text):
            assert url.startswith(("data:", "./", "../")) or not re.match(r"\w+:", url), (css, url)
            assert not url.startswith("//"), (css, url)


def test_every_vendored_font_referenced_by_css_exists() -> None:
    css = PACKAGE / "static" / "vendor" / "kern" / "fonts" / "fira-sans.css"
    fonts = re.findall(r"url\(['\"]?(\./[^'\")]+)", css.read_text("utf-8"))
    assert fonts
    for font in fonts:
        assert (css.parent / font).is_file(), font


def test_templates_have_no_inline_styles_scripts_or_external_urls() -> None:
    for template in (PACKAGE / "templates").rglob("*.html"):
        text = template.read_text("utf-8")
        assert not re.search(r"\sstyle=", text), template
        assert "<style" not in text and not re.search(r"<script(?![^>]*\ssrc=)", text), template
        assert not re.search(r"(src|href|action)=[\"']https?://", text), template


def test_german_catalog_is_complete() -> None:
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    untranslated = [
        message.id
        for message in catalog
        if message.id
        and (
            not message.string
            or (isinstance(message.string, tuple) and not all(message.string))
            or message.fuzzy
        )
    ]
    assert untranslated == []


def test_every_source_string_is_in_the_catalog() -> None:
    """A string added to a template without `make messages` would stay English on German pages."""
    from babel.messages.extract import extract_from_dir

    with CATALOG.open("rb") as handle:
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    method_map = [
        ("**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
    ]
    found = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(PACKAGE),
            method_map,
            keywords={
                "_": None,
                "gettext": None,
                "ngettext": (1, 2),
                "_l": None,
                "lazy_gettext": None,
                "lazy_ngettext": (1, 2),
            },
        )
    }
    assert sorted(found - known) == []


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/projects",
        "/projects/handyparken",
        "/impressum",
        "/datenschutz",
        "/barrierefreiheit",
        "/leichte-sprache",
        "/nutzungsbedingungen",
        "/x",
    ],
)
def test_pages_have_landmarks_one_h1_and_a_skip_link(
    kaiserslautern: Flask, client: FlaskClient, path: str
) -> None:
    html = client.get(path).get_data(as_text=True)
    assert html.count("<h1") == 1, path
    assert '<a class="skip-link kern-link" href="#main">' in html
    for landmark in ("<header", "<nav", '<main id="main"', "<footer"):
        assert landmark in html, (path, landmark)
    assert re.search(r"<title>[^<]+ – KL\.dialog</title>", html), path


def test_templates_use_only_icons_that_kern_provides() -> None:
    """An unknown icon class renders as a filled square, not as nothing."""
    css = (PACKAGE / "static" / "vendor" / "kern" / "kern.min.css").read_text("utf-8")
    known = set(re.findall(r"\.(kern-icon--[a-z-]+)", css))
    used = set()
    for template in (PACKAGE / "templates").rglob("*.html"):
        used |= set(re.findall(r"kern-icon--[a-z-]+", template.read_text("utf-8")))
    assert used - known == set()


def test_every_scrolling_table_can_be_reached_and_named_by_keyboard() -> None:
    # axe `scrollable-region-focusable`: at 360 px a wide table scrolls sideways, and keyboard
    # users can only scroll what takes focus; a region needs a name for screen readers.
    wrapper = re.compile(r"<div class=\"kern-table-responsive\"([^>]*)>")
    problems = []
    templates = PACKAGE / "templates"
    for path in sorted(templates.rglob("*.html")):
        text = path.read_text("utf-8")
        for match in wrapper.finditer(text):
            attributes = match.group(1)
            named = re.search(r'aria-labelledby="([^"]+)"', attributes)
            if 'tabindex="0"' not in attributes or 'role="region"' not in attributes or not named:
                problems.append(f"{path.relative_to(templates)}: {match.group(0)}")
            elif f'id="{named.group(1)}"' not in text:
                problems.append(f"{path.relative_to(templates)}: no element {named.group(1)}")
    assert problems == []


def test_the_header_login_link_brings_you_back_to_the_page(
    kaiserslautern: Flask, client: FlaskClient, make_user: Any
) -> None:
    html = client.get("/projects/handyparken?sort=supported").get_data(as_text=True)
    link = re.search(r'<a class="kern-link site-header__account" href="([^"]+)"', html)
    assert link is not None
    assert link.group(1) == "/login?next=/projects/handyparken?sort%3Dsupported"
    user = make_user()
    response = client.post(link.group(1), data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    assert response.location == "/projects/handyparken?sort=supported"


@pytest.mark.parametrize(
    ("language", "phrases", "stale"),
    [
        ("de", ["Umfrage", "Prioritäten", "Veranstaltungen", "Registrieren", "Telefon: 0631 365-0"],
         ["Bald können Sie", "später machen"]),
        ("en", ["survey", "priorities", "events", "Register", "Phone: 0631 365-0"],
         ["Soon you can", "do later"]),
    ],
)  # fmt: skip
def test_easy_language_page_explains_what_residents_can_do_and_whom_to_ask(
    app_factory: Any, language: str, phrases: list[str], stale: list[str]
) -> None:
    app = app_factory(OPERATOR_PHONE="0631 365-0", OPERATOR_EMAIL="buergerbuero@example.org")
    client = app.test_client()
    with client.session_transaction() as session:
        session["lang"] = language
    html = client.get("/leichte-sprache").get_data(as_text=True)
    for phrase in phrases:
        assert phrase in html, phrase
    for phrase in stale:
        assert phrase not in html, phrase
    assert 'href="/register"' in html
    assert 'href="mailto:buergerbuero@example.org"' in html


def test_registration_links_the_terms_it_asks_to_accept(client: FlaskClient) -> None:
    html = client.get("/register").get_data(as_text=True)
    assert (
        'Ich akzeptiere die <a class="kern-link" href="/nutzungsbedingungen">Nutzungsbedingungen'
        '</a> und habe die <a class="kern-link" href="/datenschutz">Datenschutzerklärung</a> '
        "gelesen."
    ) in html
    assert "bald" not in html.lower()
    terms = client.get("/nutzungsbedingungen").get_data(as_text=True)
    assert "Regeln für Beiträge" in terms and "Ein Konto pro Person" in terms
