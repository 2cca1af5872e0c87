"""Every page a logged-in role reads twice: a kept page is the page the view would render."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from kldialog.kernel.db import db

from . import crawl

ROLES = ("resident", "moderator", "staff", "council", "admin")
VISITS = 2  # real-id variants of each GET rule per role
TOKEN = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+"')
PER_ANSWER = {"Set-Cookie", "X-Page-Cache", "Content-Length"}


def comparable(response: Any) -> tuple[Any, ...]:
    """Return a response without what is made per answer (token, cookie, cache label)."""
    headers = sorted((n, v) for n, v in response.headers.items() if n not in PER_ANSWER)
    return response.status, headers, TOKEN.sub(r'\\1…"', response.get_data(as_text=True))


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Crawl every GET page as each role twice in a row, with the page cache on."""
    folder = tmp_path_factory.mktemp("personal")
    before = os.environ.get("KLDIALOG_INSTANCE_PATH")
    os.environ["KLDIALOG_INSTANCE_PATH"] = str(folder / "instance")  # its own data version
    try:
        app: Flask = crawl.build(
            f"sqlite:///{folder / 'twice.db'}", folder / "outbox", PAGE_CACHE_ENABLED=True
        )
    finally:
        if before is None:
            os.environ.pop("KLDIALOG_INSTANCE_PATH")
        else:
            os.environ["KLDIALOG_INSTANCE_PATH"] = before
    rules = sorted(
        (r for r in app.url_map.iter_rules() if "GET" in (r.methods or ())),
        key=lambda r: (any(w in r.endpoint for w in ("logout", "delete")), r.rule),
    )
    with app.app_context():
        facts = crawl.bulkdata.generate(0.001, seed=11)
        candidates = crawl.candidates(app, facts, rules)
        db.session.remove()
    seen: dict[str, Any] = {"hits": 0, "differ": [], "roles": set()}
    for role in ROLES:
        client, _token = crawl.login(app, facts, role)
        for rule in rules:
            if "logout" in rule.endpoint or "delete" in rule.endpoint:
                continue
            for values in candidates[rule.rule + " " + rule.endpoint][:VISITS]:
                path = crawl.path(rule, values)
                first = client.get(path)
                second = client.get(path)
                if second.headers.get("X-Page-Cache") != "personal-hit":
                    continue
                seen["hits"] += 1
                seen["roles"].add(role)
                if comparable(first) != comparable(second):
                    seen["differ"].append(f"{role} {path}")
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
    yield seen


def test_many_pages_of_every_role_were_kept(twice: dict[str, Any]) -> None:
    assert twice["hits"] > 100
    assert twice["roles"] == set(ROLES)


def test_a_kept_page_equals_the_rendered_one(twice: dict[str, Any]) -> None:
    assert twice["differ"] == []
