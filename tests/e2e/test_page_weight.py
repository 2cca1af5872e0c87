"""Page weight in Chromium: bytes on the wire for the home page, first and repeat visit."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page

FIRST_VISIT_LIMIT = 300_000
REPEAT_VISIT_LIMIT = 15_000
# Sum of bytes received (headers and body, as sent) for the page and everything it loaded;
# a response taken from the browser cache counts 0.
TRANSFERRED = """() => performance.getEntriesByType('navigation')
    .concat(performance.getEntriesByType('resource'))
    .map(e => ({name: e.name, bytes: e.transferSize, encoding: e.contentEncoding || ''}))"""


def visit(page: Page, path: str) -> list[dict[str, Any]]:
    """Load path, wait until fonts and all requests are done, and list what came over."""
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => true)")
    entries: list[dict[str, Any]] = page.evaluate(TRANSFERRED)
    return entries


def report(entries: list[dict[str, Any]]) -> str:
    """One line per response: bytes, content coding, URL."""
    return "\n".join(f"{e['bytes']:>8} {e['encoding']:>4} {e['name']}" for e in entries)


def test_home_first_and_repeat_visit_stay_small(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url)  # fresh: empty cache, no cookies
    page = context.new_page()
    first = visit(page, "/")
    first_bytes = sum(entry["bytes"] for entry in first)
    assert first_bytes <= FIRST_VISIT_LIMIT, f"first visit {first_bytes} bytes:\n{report(first)}"
    # Stylesheets came compressed (Chromium reports the coding it received) ...
    stylesheets = [e for e in first if e["name"].endswith(".css")]
    assert stylesheets and all(e["encoding"] in ("br", "gzip") for e in stylesheets), report(first)
    # ... and only the Latin subsets of the fonts were needed.
    fonts = [e for e in first if e["name"].endswith(".woff2")]
    assert fonts and all(".latin." in e["name"] for e in fonts), report(first)

    repeat = visit(page, "/")
    repeat_bytes = sum(entry["bytes"] for entry in repeat)
    assert repeat_bytes <= REPEAT_VISIT_LIMIT, f"repeat visit {repeat_bytes}:\n{report(repeat)}"
    # Only the page itself travels again: every static file comes from the cache, unasked.
    assert [e["name"] for e in repeat if e["bytes"] > 0] == [base_url + "/"], report(repeat)
    context.close()


def test_the_next_page_loads_no_static_file_again(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    visit(page, "/")
    following = visit(page, "/projects/handyparken")
    static = [e for e in following if "/static/" in e["name"]]
    assert static, report(following)
    # Fonts and stylesheets are shared by every page; any new file here (a page script, say)
    # is the only one that may travel.
    shared = [e for e in static if e["name"].endswith((".css", ".woff2", ".svg"))]
    assert shared and all(e["bytes"] == 0 for e in shared), report(following)
    context.close()
