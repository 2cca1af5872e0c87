"""On English pages, every German text of the city's content sits inside an element with lang="de".

WCAG 2.1 SC 3.1.2 (language of parts): a screen reader reads a German project title with an
English voice unless the element around it says lang="de". The check is made for the class,
not for single templates: after generating data of every kind, every German content text gets
a marker and every English translation is removed, so each content text is shown in German;
then every page of every role is requested in English and each marker found in the page's text
must have "de" as the language of its nearest element with a lang attribute. A new template, a
new field or a new picker that shows German content unmarked fails here without a change.

Checked: text nodes (options and textareas included). Not checked: the document <title> (one
string for the tab, where a part cannot carry lang) and attribute values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from kldialog.kernel.db import db

from . import crawl

MARK = "ÄẞÖ"  # in no message of either catalog
ROLES = ("anonymous", "resident", "moderator", "staff", "council", "admin")
VISITS = 2  # real-id variants of each GET rule per role
# German texts without an English column: events keep their own language (checked only where
# it is German).
WITHOUT_ENGLISH = {
    "event": ("title", "description", "summary", "place", "accessibility_note"),
}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


def _translated_columns() -> dict[str, tuple[list[str], list[str]]]:
    """Return, per table, its German content columns and their English twins (`<col>_en`)."""
    result = {}
    for table in db.metadata.sorted_tables:
        english = [c.name for c in table.columns if c.name.endswith("_en")]
        german = [name[:-3] for name in english if name[:-3] in table.columns]
        if german:
            result[table.name] = (german, english)
    return result


def _mark_content() -> int:
    """Append MARK to every German content text, drop every English text; return the count."""
    marked = 0
    for name, (german, english) in _translated_columns().items():
        table = db.metadata.tables[name]
        where = sa.or_(*(table.c[c] != "" for c in german))
        values = {c: sa.case((table.c[c] != "", table.c[c] + " " + MARK), else_="") for c in german}
        marked += db.session.execute(
            table.update().where(where).values(**values, **dict.fromkeys(english))
        ).rowcount
    for name, columns in WITHOUT_ENGLISH.items():
        table = db.metadata.tables[name]
        values = {
            c: sa.case((table.c[c] != "", table.c[c] + " " + MARK), else_="") for c in columns
        }
        marked += db.session.execute(
            table.update().where(table.c.language == "de").values(**values)
        ).rowcount
    db.session.commit()
    return marked


class _LanguageOfText(HTMLParser):
    """Find the text nodes holding MARK whose nearest lang is not German."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.unmarked: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append((tag, dict(attrs).get("lang")))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if MARK not in data or any(tag in ("title", "script") for tag, _ in self.stack):
            return
        language = next((lang for _tag, lang in reversed(self.stack) if lang), None)
        if language != "de":
            where = " > ".join(tag for tag, _ in self.stack[-3:])
            self.unmarked.append(f"<{where}> lang={language}: {data.strip()[:70]!r}")


@dataclass
class Crawl:
    """What the English crawl saw."""

    marked: int = 0
    pages: int = 0
    pages_with_content: int = 0
    unmarked: dict[str, list[str]] = field(default_factory=dict)  # role + path -> findings


@pytest.fixture(scope="module")
def english_crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawl]:
    """Generate data of every kind, mark its German texts, and read every page in English."""
    folder = tmp_path_factory.mktemp("language")
    app: Flask = crawl.build(f"sqlite:///{Path(folder) / 'marks.db'}", folder / "outbox")
    rules = sorted(
        (r for r in app.url_map.iter_rules() if "GET" in (r.methods or ())),
        key=lambda r: (any(w in r.endpoint for w in ("logout", "delete")), r.rule),
    )
    result = Crawl()
    with app.app_context():
        facts = crawl.bulkdata.generate(0.001, seed=7)
        candidates = crawl.candidates(app, facts, rules)
        result.marked = _mark_content()
        db.session.remove()
    for role in ROLES:
        client, _token = crawl.login(app, facts, role)
        with client.session_transaction() as stored:
            stored["lang"] = "en"
        for rule in rules:
            if "logout" in rule.endpoint:
                continue
            for values in candidates[rule.rule + " " + rule.endpoint][:VISITS]:
                path = crawl.path(rule, values)
                response = client.get(path)
                if response.status_code != 200 or "html" not in (response.content_type or ""):
                    continue
                page = response.get_data(as_text=True)
                result.pages += 1
                result.pages_with_content += MARK in page
                if not re.search(r"<title>[^<]*</title>", page):
                    result.unmarked[f"{role} {path}"] = ["markup inside <title>"]
                parser = _LanguageOfText()
                parser.feed(page)
                if parser.unmarked:
                    result.unmarked[f"{role} {path}"] = parser.unmarked
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    yield result


def test_the_crawl_saw_german_content_on_many_english_pages(english_crawl: Crawl) -> None:
    assert english_crawl.marked > 50
    assert english_crawl.pages > 300
    assert english_crawl.pages_with_content > 150


def test_every_german_content_text_on_an_english_page_is_marked_german(
    english_crawl: Crawl,
) -> None:
    report = [
        f"{page}: {finding}"
        for page, findings in sorted(english_crawl.unmarked.items())
        for finding in findings[:3]
    ]
    assert not report, f"{len(report)} unmarked:\n" + "\n".join(report[:400])


def test_the_parser_takes_the_nearest_language() -> None:
    parser = _LanguageOfText()
    parser.feed(
        f'<html lang="en"><body><p>a {MARK}</p><div lang="de"><b>b {MARK}</b><br>'
        f'<span lang="en">c {MARK}</span></div><select><option lang="de">d {MARK}</option>'
        f"</select><title>e {MARK}</title></body></html>"
    )
    assert [finding.split(": ", 1)[1] for finding in parser.unmarked] == [
        f"'a {MARK}'",
        f"'c {MARK}'",
    ]
