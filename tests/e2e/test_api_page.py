"""The open-data page in Chromium: axe (WCAG 2.1 AA) in both languages, reached from the footer."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import run_axe
from .test_pages import choose_language


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_api_page_has_no_axe_violations(page: Page, language: str) -> None:
    choose_language(page, language)
    page.locator("footer a[href='/api']").click()
    expect(page).to_have_url(f"{page.url.split('/api')[0]}/api")
    expect(page.locator("h1")).to_have_count(1)
    results = run_axe(page)
    assert results.violations_count == 0, results.generate_report()
    page.locator("a[href='/api/v1/openapi.json']").click()
    assert page.evaluate("JSON.parse(document.body.innerText).openapi") == "3.1.0"


def test_the_api_page_fits_a_phone(browser: Browser, base_url: str) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=base_url)
    page = context.new_page()
    page.goto("/api")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    context.close()
    assert overflow <= 0, f"/api scrolls sideways by {overflow}px"
