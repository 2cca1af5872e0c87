"""Every public page in Chromium: axe (WCAG 2.1 AA), keyboard, phone width, zoom, no third parties."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import run_axe

PAGES = [
    "/",
    "/projects",
    "/projects?status=planned&category=verkehr-mobilitaet",
    "/projects?q=zzzz-nothing-matches",
    "/projects?status=nonsense&page=x&utm_source=mail",
    "/projects/handyparken",
    "/projects/letzte-meile-im-oepnv-teil-autonomer-zubringerdienst",
    "/impressum",
    "/datenschutz",
    "/barrierefreiheit",
    "/leichte-sprache",
    "/nutzungsbedingungen",
    "/moderationsbericht",
    "/no-such-page",
]


def choose_language(page: Page, language: str) -> None:
    """Switch the interface language with the header button, as a visitor would."""
    page.goto("/")
    if page.locator("html").get_attribute("lang") != language:
        page.locator(f"form.language-switch button[value='{language}']").click()
    expect(page.locator("html")).to_have_attribute("lang", language)


@pytest.mark.parametrize("language", ["de", "en"])
def test_every_public_page_has_no_axe_violations(page: Page, language: str) -> None:
    choose_language(page, language)
    for path in PAGES:
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("lang", language)
        results = run_axe(page)
        assert results.violations_count == 0, f"{path} ({language}):\n{results.generate_report()}"
        assert page.locator("h1").count() == 1, path
        assert page.title().endswith("– KL.dialog"), path


def test_no_request_leaves_the_site_and_csp_is_never_violated(page: Page, base_url: str) -> None:
    requested: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: console.append(message.text))
    for path in PAGES:
        page.goto(path)
        page.wait_for_load_state("networkidle")
    own_host = urlsplit(base_url).netloc
    foreign = [url for url in requested if urlsplit(url).netloc not in (own_host, "")]
    assert foreign == []
    assert not [line for line in console if "Content Security Policy" in line]
    # The vendored font really loads (a missing file would silently fall back).
    assert any(url.endswith(".woff2") for url in requested)


def test_language_switch_works_without_javascript(browser: Browser, base_url: str) -> None:
    context = browser.new_context(java_script_enabled=False, base_url=base_url)
    page = context.new_page()
    page.goto("/projects?status=planned")
    expect(page.locator("h1")).to_have_text("Projekte der digitalen Roadmap")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Projects of the digital roadmap")
    assert page.url.endswith("/projects?status=planned")  # back on the same filtered page
    page.get_by_role("button", name="Deutsch").click()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    context.close()


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(page: Page) -> None:
    page.goto("/projects")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Zum Hauptinhalt springen"
    assert page.evaluate("getComputedStyle(document.activeElement).top") != "-160px"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_filter_by_keyboard_only_announces_the_result(page: Page) -> None:
    page.goto("/projects")
    page.get_by_label("Suche in Titel und Kurzbeschreibung").focus()
    page.keyboard.type("öpnv")
    page.keyboard.press("Enter")
    status = page.locator("#result-count")
    expect(status).to_have_attribute("role", "status")
    expect(status).to_contain_text("1 Projekt")
    expect(status).to_contain_text("Suche „öpnv“")
    page.get_by_label("Status").select_option("planned")
    page.get_by_label("Suche in Titel und Kurzbeschreibung").fill("")
    page.get_by_role("button", name="Projekte anzeigen").press("Enter")
    expect(status).to_contain_text("9 Projekte – in Planung")


@pytest.mark.parametrize(
    ("width", "height", "label"),
    [(360, 740, "phone"), (640, 400, "desktop at 200 % zoom")],
)
def test_pages_fit_narrow_screens_without_sideways_scrolling(
    browser: Browser, base_url: str, width: int, height: int, label: str
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=base_url)
    page = context.new_page()
    for path in PAGES:
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on {label}"
        header = page.locator("header.site-header").bounding_box()
        # Two short rows and the navigation: a third of the screen at most, not half of it.
        assert header is not None and header["height"] <= min(180, height / 3), (path, header)
        # Narrow screens make tables scroll inside their box: axe checks they take focus.
        results = run_axe(page)
        assert results.violations_count == 0, f"{path} ({label}):\n{results.generate_report()}"
    context.close()


def test_visible_focus_on_links_and_buttons(page: Page) -> None:
    page.goto("/")
    for _ in range(6):
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return s.outlineStyle + ' ' + s.outlineWidth; })()"
        )
        assert outline.split()[0] != "none", outline


def test_after_a_failed_submit_the_focus_is_on_the_list_of_errors(page: Page) -> None:
    choose_language(page, "de")
    page.goto("/login")
    page.get_by_label("E-Mail-Adresse").fill("niemand@example.org")
    page.get_by_role("button", name="Anmelden").last.click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    # The list links to the field, so the next Tab leads straight to the mistake.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("href", re.compile(r"#password$"))
