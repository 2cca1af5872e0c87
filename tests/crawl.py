"""Crawl every page with real ids: the generated data, URLs for every rule, logged-in clients.

Shared by the fuzzer (tests/test_fuzz.py) and the language check (tests/test_language_marks.py).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import AnyConverter, Rule

from kldialog import create_app
from kldialog.kernel.db import db

from .conftest import base_config, empty_postgres_database

ROOT = Path(__file__).resolve().parent.parent


def load_generator() -> Any:
    """Import scripts/bulkdata.py (scripts/ is not a package on the path)."""
    spec = importlib.util.spec_from_file_location("bulkdata", ROOT / "scripts" / "bulkdata.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bulkdata", module)
    spec.loader.exec_module(module)
    return module


bulkdata = sys.modules.get("bulkdata") or load_generator()


def ids(table: str, column: str = "id", **where: Any) -> list[int]:
    t = db.metadata.tables[table]
    query = sa.select(t.c[column]).order_by(t.c[column])
    for name, value in where.items():
        query = query.where(t.c[name] == value)
    return list(db.session.scalars(query.limit(4)))


def token_values(facts: Any, victim: Any) -> dict[str, list[str]]:
    """Return working tokens by endpoint (for a victim account, never one the test logs in)."""
    from kldialog.auth import services as accounts
    from kldialog.events import links as events
    from kldialog.events.models import EventRegistration
    from kldialog.notices import preferences as notices
    from kldialog.notices.models import NoticeKind
    from kldialog.projects import following as roadmap

    user_id, project_id, since = facts.follow
    return {
        "auth.confirm_email": [accounts.make_token("confirm", victim, f"{victim.email}|x")],
        "auth.reset_password": [accounts.make_token("reset", victim, victim.password_hash)],
        "auth.confirm_email_change": [
            accounts.make_token("change-email", victim, "neu@fuzz.kldialog.invalid")
        ],
        "projects.unsubscribe": [roadmap.unsubscribe_token(user_id, project_id, since)],
        "notices.unsubscribe": [notices.unsubscribe_token(victim.id, NoticeKind.openings)],
        "events.confirm": [
            events.confirm_token(db.session.get(EventRegistration, facts.pending_registration))
        ],
        "events.cancel_link": [
            events.cancel_token(db.session.get(EventRegistration, facts.email_registration))
        ],
    }


def paper_batches(facts: Any) -> list[int]:
    """Offer paper in the open round; return a waiting batch and one whose entries differ.

    The admin makes both first entries, so the staff account may go on with them.
    """
    import datetime as dt

    from kldialog.auth.models import User
    from kldialog.kernel.double_entry import EntryBatch
    from kldialog.priorities import paper
    from kldialog.priorities.models import PriorityRound

    existing = list(
        db.session.scalars(
            sa.select(EntryBatch.id).where(EntryBatch.kind == "round").order_by(EntryBatch.id)
        )
    )
    if existing:
        return existing
    round_ = db.session.get(PriorityRound, facts.open_round)
    round_.paper_offered, round_.paper_until = True, round_.closes_at + dt.timedelta(days=3)
    db.session.commit()
    admin, staff = (
        db.session.scalar(sa.select(User).where(User.email == facts.emails[role]))
        for role in ("admin", "staff")
    )
    codes = paper.print_ballots(admin, round_, 4)
    project = round_.entries[0].project_id
    ids = []
    for pair in (codes[:2], codes[2:]):
        sheets = [paper.make_sheet(code, "", {project: 1}) for code in pair]
        ids.append(paper.enter_first(admin, round_, "Kasten", sheets).id)
    paper.enter_second(staff, round_, ids[1], [sheets[0], paper.make_sheet("", "blank", {})])
    return ids


def survey_batches(facts: Any) -> list[int]:
    """Return a waiting questionnaire batch of the open survey and one whose entries differ.

    The admin makes both first entries, so the staff account may go on with them.
    """
    from kldialog.auth.models import User
    from kldialog.kernel.double_entry import EntryBatch
    from kldialog.surveys import paper
    from kldialog.surveys.models import Survey

    existing = list(
        db.session.scalars(
            sa.select(EntryBatch.id).where(EntryBatch.kind == paper.KIND).order_by(EntryBatch.id)
        )
    )
    if existing:
        return existing
    survey = db.session.get(Survey, facts.open_survey)
    admin, staff = (
        db.session.scalar(sa.select(User).where(User.email == facts.emails[role]))
        for role in ("admin", "staff")
    )
    unusable, blank = {"unusable": True, "answers": []}, {"unusable": False, "answers": []}
    stack = [unusable] + [blank] * 5
    ids = [paper.enter_first(admin, survey, "Kasten", stack, {}).id for _n in (1, 2)]
    paper.enter_second(staff, survey, ids[1], [blank] * 5 + [unusable], {})
    return ids


def candidates(  # noqa: C901  (one table of every URL variable kind, read top to bottom)
    app: Flask, facts: Any, rules: list[Rule]
) -> dict[str, list[dict[str, str]]]:
    """Return, for every rule, sets of real values for its URL variables."""
    from kldialog.auth.models import User

    logins = set(facts.user_ids.values())
    victim = db.session.scalar(
        sa.select(User).where(User.id.not_in(logins), User.deleted_at.is_(None)).order_by(User.id)
    )
    tokens = token_values(facts, victim)
    static = Path(app.static_folder or "")
    projects = db.metadata.tables["project"]
    slugs = [facts.big_project, facts.project, facts.archived_project]
    slugs.append(
        db.session.scalar(sa.select(projects.c.slug).where(projects.c.id == facts.draft_project_id))
    )
    surveys = [facts.draft_survey, facts.open_survey, facts.closed_survey]
    by_name: dict[str, list[str]] = {
        "comment_id": [
            facts.hot_comment,
            facts.own_comment,
            facts.own_hidden_comment,
            facts.reported_comment,
        ],
        "user_id": [victim.id],
        "event_id": [
            facts.upcoming_event,
            facts.past_event,
            facts.draft_event,
            facts.cancelled_event,
        ],
        "keyword_id": [facts.keyword_id],
        "round_id": [
            facts.open_round,
            facts.closed_round,
            facts.points_round,
            facts.upcoming_round,
            facts.draft_round,
        ],
        "slug": slugs,
        "category_id": [facts.category_id],
        "project_id": [facts.big_project_id, facts.draft_project_id],
        "survey_id": surveys,
    }
    result: dict[str, list[dict[str, str]]] = {}
    for rule in rules:
        variables = sorted(rule.arguments)
        bases: list[dict[str, Any]] = [{}]
        if "batch_id" in variables and "round_id" in variables:  # a batch belongs to its round
            bases = [{"round_id": facts.open_round, "batch_id": b} for b in paper_batches(facts)]
        if "batch_id" in variables and "survey_id" in variables:  # ... or to its survey
            bases = [{"survey_id": facts.open_survey, "batch_id": b} for b in survey_batches(facts)]
        if "survey_id" in variables and "batch_id" not in variables:  # its questions, pages
            per_survey = []
            for survey in surveys:
                questions = ids("survey_question", survey_id=survey) or [0]
                sections = ids("survey_section", survey_id=survey) or [0]
                per_survey.append(
                    [
                        {"survey_id": survey, "question_id": q, "section_id": s}
                        for q, s in zip(questions, sections * 4, strict=False)
                    ]
                )
            # Round robin, so the first few visits see every survey.
            bases = [c[i] for i in range(4) for c in per_survey if i < len(c)]
        count = max([len(by_name.get(v, [])) for v in variables] + [len(bases)])
        choices: list[dict[str, Any]] = []
        for i in range(count):
            values = dict(bases[i % len(bases)])
            for name in variables:
                converter = rule._converters.get(name)
                if name in values:
                    continue
                if isinstance(converter, AnyConverter):
                    items = sorted(converter.items)
                    values[name] = items[i % len(items)]
                elif name == "token":
                    values[name] = tokens[rule.endpoint][0]
                elif name == "filename" and rule.endpoint == "static":
                    values[name] = next(
                        p.relative_to(static).as_posix()
                        for p in sorted(static.rglob("*"))
                        if p.is_file()
                    )
                elif name == "filename":
                    values[name] = "logo.svg"
                elif name in by_name:
                    values[name] = by_name[name][i % len(by_name[name])]
                else:
                    raise LookupError(f"no real value for <{name}> in {rule.rule}")
            choices.append(values)
        # Every value of an <any(...)> variable at least once.
        for name in variables:
            converter = rule._converters.get(name)
            if isinstance(converter, AnyConverter):
                choices += [{**choices[0], name: item} for item in sorted(converter.items)]
        own = [{k: str(v) for k, v in c.items() if k in rule.arguments} for c in choices]
        result[rule.rule + " " + rule.endpoint] = [
            dict(pairs) for pairs in dict.fromkeys(tuple(sorted(c.items())) for c in own)
        ]
    return result


def path(rule: Rule, values: dict[str, str]) -> str:
    """Return the rule's path with these (already safe or raw) values put in."""

    def put(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[-1]
        value = values[name]
        return value if value.startswith("%") else quote(value, safe="/")

    return re.sub(r"<(?:[^>:]+:)?([^>]+)>", lambda m: put(m), plain(rule.rule))


def plain(rule_text: str) -> str:
    """Return the rule text with converter arguments removed: <int(max=9):x> -> <int:x>."""
    return re.sub(r"<([a-z]+)\([^)]*\):", r"<\1:", rule_text)


# --- requests ------------------------------------------------------------------------------


def build(database_url: str, outbox: Path, **config: Any) -> Flask:
    app = create_app(
        base_config(
            SQLALCHEMY_DATABASE_URI=database_url,
            MAIL_OUTBOX=str(outbox),
            WTF_CSRF_ENABLED=True,
            BRAND_PRIMARY_COLOR="#00508c",
            **config,
        )
    )
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            empty_postgres_database()
        else:
            db.create_all()
    return app


def token_in(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    return match.group(1) if match else ""


def login(app: Flask, facts: Any, role: str) -> tuple[FlaskClient, str]:
    """Return a client logged in as `role` through the form, and its current CSRF token."""
    client = app.test_client()
    if role == "kiosk":
        from kldialog.auth import kiosk

        with app.test_request_context():
            client.set_cookie(kiosk.KIOSK_COOKIE, kiosk.new_cookie_value())
    page = client.get("/login")
    token = token_in(page.get_data(as_text=True))
    if role in ("anonymous", "kiosk"):
        return client, token
    response = client.post(
        "/login",
        data={
            "email": facts.emails[role],
            "password": facts.password,
            "csrf_token": token,
        },
    )
    assert response.status_code == 303, f"{role} could not log in"
    return client, token_in(client.get("/account/password").get_data(as_text=True))
