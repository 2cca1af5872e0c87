"""Every GET page runs the same number of SQL statements with little and with ten times more data.

The data comes from scripts/bulkdata.py (the benchmark's generator) at two small scales, so
every list on every page has entries in both and grows tenfold from one to the other. Each
page is requested by a role that may see it. A new GET route fails
`test_every_get_rule_is_covered` until a case for it is added here.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog import create_app
from kldialog.kernel.db import db

from .conftest import base_config, empty_postgres_database
from .crawl import bulkdata

ROOT = Path(__file__).resolve().parent.parent
SCALES = (0.02, 0.2)  # 200 and 2,000 residents, 400 and 4,000 comments, ...


@dataclass(frozen=True)
class Case:
    """One page as one role sees it; the path's {names} come from the generated facts."""

    role: str
    path: str
    status: int = 200
    marks: tuple[Any, ...] = field(default=())

    @property
    def id(self) -> str:
        """Return the test id."""
        return f"{self.role} {self.path}"


def grows(reason: str) -> tuple[Any, ...]:
    """Mark a case whose statement count grows today (the reason names the cause)."""
    return (pytest.mark.xfail(strict=True, reason=reason),)


PUBLIC = [
    "/",
    "/projects",
    "/projects?q={search_word}&status=in_progress&sort=recent",
    "/projects?sort=category&page=2",
    "/projects/{big_project}",
    "/projects/{big_project}?sort=supported&page=2",
    "/projects/{project}",
    "/projects/{archived_project}",
    "/comments/{hot_comment}",
    "/priorities",
    "/priorities/{open_round}",
    "/priorities/{upcoming_round}",
    "/priorities/{closed_round}/results",
    "/priorities/{points_round}/results",
    "/surveys",
    "/surveys/{open_survey}",
    "/surveys/{closed_survey}/results",
    "/surveys/{closed_survey}/results?first={crosstab_first}&second={crosstab_second}",
    "/moderationsbericht",
    "/events",
    "/events?when=past",
    "/events/{upcoming_event}",
    "/events/{past_event}",
    "/events/{cancelled_event}",
    "/events.ics",
    "/events/{upcoming_event}.ics",
]
CASES = [
    *(Case("anonymous", path) for path in PUBLIC),
    *(Case("resident", path) for path in PUBLIC),
    Case("anonymous", "/healthz"),
    Case("anonymous", "/static/{static_file}"),
    *(
        Case("anonymous", f"/{page}")
        for page in (
            "impressum",
            "datenschutz",
            "barrierefreiheit",
            "leichte-sprache",
            "nutzungsbedingungen",
        )
    ),
    Case("resident", "/datenschutz"),
    Case("anonymous", "/moderationsbericht.json"),
    Case("anonymous", "/priorities/{closed_round}/results.json"),
    Case("anonymous", "/priorities/{closed_round}/results.csv"),
    Case("anonymous", "/priorities/{closed_round}/ballots.json"),
    Case("anonymous", "/login"),
    Case("anonymous", "/login/code", status=303),  # no password given: back to the login
    Case("anonymous", "/register"),
    Case("anonymous", "/register/check-mail"),
    Case("anonymous", "/confirm"),
    Case("anonymous", "/confirm/{confirm_token}"),
    Case("anonymous", "/password/forgot"),
    Case("anonymous", "/password/reset/{reset_token}"),
    Case("anonymous", "/account/email/confirm/{email_token}"),
    Case("anonymous", "/unsubscribe/{unsubscribe_token}"),
    Case("anonymous", "/unsubscribed"),
    Case("anonymous", "/notices/unsubscribe/{notice_unsubscribe_token}"),
    Case("anonymous", "/notices/unsubscribed"),
    Case("anonymous", "/events/{upcoming_event}/check-mail"),
    Case("anonymous", "/events/confirm/{event_confirm_token}"),
    Case("anonymous", "/events/registration/{event_cancel_token}"),
    Case("anonymous", "/branding/theme.css"),
    Case("anonymous", "/branding/logo.svg", status=404),
    # The resident's own pages.
    Case("resident", "/account"),
    Case("resident", "/account/data"),
    Case("resident", "/account/data.json"),
    Case("resident", "/account/delete"),
    Case("resident", "/account/email"),
    Case("resident", "/account/password"),
    Case("resident", "/account/residency"),
    Case("resident", "/account/terms"),
    Case("resident", "/account/two-factor"),
    Case("resident", "/account/two-factor/recovery-codes", status=302),  # shown once only
    Case("resident", "/account/following"),
    Case("resident", "/account/moderation"),
    Case("resident", "/comments/{own_comment}/edit"),
    Case("resident", "/comments/{own_comment}/delete"),
    Case("resident", "/comments/{hot_comment}/reply"),
    Case("resident", "/comments/{hot_comment}/report"),
    Case("resident", "/surveys/{closed_survey}/thanks"),
    # Moderators.
    Case("moderator", "/projects/{big_project}"),
    Case("moderator", "/moderation"),
    Case("moderator", "/moderation?filter=pending"),
    Case("moderator", "/moderation?filter=reported"),
    Case("moderator", "/moderation?filter=appeals"),
    Case("moderator", "/moderation/comments/{reported_comment}"),
    Case("moderator", "/moderation/comments/{own_hidden_comment}"),
    Case("moderator", "/moderation/log"),
    Case("moderator", "/moderation/keywords"),
    # Council.
    Case("council", "/council"),
    Case("council", "/council/ratings.csv"),
    Case("council", "/priorities/{closed_round}/results"),
    # Staff: roadmap.
    Case("staff", "/projects/{big_project}"),
    Case("staff", "/staff/projects"),
    Case("staff", "/staff/projects?q={search_word}&visibility=published&sort=title"),
    Case("staff", "/staff/projects/new"),
    Case("staff", "/staff/projects/{big_project_id}"),
    Case("staff", "/staff/projects/{draft_project_id}"),
    Case("staff", "/staff/projects/{big_project_id}/status"),
    Case("staff", "/staff/projects/{big_project_id}/updates/new"),
    Case("staff", "/staff/projects/{big_project_id}/visibility/archived"),
    Case("staff", "/staff/categories"),
    Case("staff", "/staff/categories/{category_id}"),
    Case("staff", "/staff/categories/{category_id}/delete"),
    Case("staff", "/staff/roadmap/import"),
    Case("staff", "/staff/roadmap/export.json"),
    Case("staff", "/staff/roadmap/export.csv"),
    # Staff: rounds and surveys.
    Case("staff", "/staff/rounds"),
    Case("staff", "/staff/rounds/new"),
    Case("staff", "/staff/rounds/{open_round}"),
    Case("staff", "/staff/rounds/{draft_round}"),
    Case("staff", "/staff/rounds/{open_round}/paper"),
    Case("staff", "/staff/rounds/{open_round}/paper/batches/new?label=Kasten&sheets=20"),
    Case("staff", "/staff/rounds/{open_round}/paper/batches/{paper_batch}"),
    Case("staff", "/staff/rounds/{open_round}/paper/batches/{paper_mismatch}"),
    Case("staff", "/staff/surveys/{open_survey}/paper"),
    Case("staff", "/staff/surveys/{open_survey}/paper/print?language=en"),
    Case("staff", "/staff/surveys/{open_survey}/paper/batches/new?label=Kasten&sheets=10"),
    Case("staff", "/staff/surveys/{open_survey}/paper/batches/{survey_batch}"),
    Case("staff", "/staff/surveys/{open_survey}/paper/batches/{survey_mismatch}"),
    Case("staff", "/staff/surveys"),
    Case("staff", "/staff/surveys/new"),
    Case("staff", "/staff/surveys/{closed_survey}"),
    Case("staff", "/staff/surveys/{draft_survey}"),
    Case("staff", "/staff/surveys/{open_survey}/preview"),
    Case("staff", "/staff/surveys/{draft_survey}/questions/new"),
    Case("staff", "/staff/surveys/{draft_survey}/questions/{draft_question}"),
    Case("staff", "/staff/surveys/{draft_survey}/questions/{draft_question}/delete"),
    Case("staff", "/staff/surveys/{closed_survey}/texts"),
    Case("staff", "/staff/surveys/{closed_survey}/answers.csv"),
    Case("staff", "/surveys/{open_survey}/results"),
    # Staff: events.
    Case("staff", "/staff/events"),
    Case("staff", "/staff/events/new"),
    Case("staff", "/staff/events/{upcoming_event}"),
    Case("staff", "/staff/events/{draft_event}"),
    Case("staff", "/staff/events/{upcoming_event}/cancel"),
    Case("staff", "/staff/events/{past_event}/summary"),
    # Admins.
    Case("admin", "/admin/"),
    Case("admin", "/admin/users"),
    Case("admin", "/admin/users?q=person19&role=resident&sort=name"),
    Case("admin", "/admin/users/{resident_id}"),
    Case("admin", "/admin/audit"),
    Case("admin", "/admin/audit?target_type=project"),
    Case("admin", "/admin/codes"),
    # Kiosk mode: the device's pages (a browser with the staff-set device cookie), the staff
    # set-up and the counter's residency code.
    Case("kiosk", "/kiosk"),
    Case("kiosk", "/kiosk/disable"),
    Case("kiosk", "/kiosk/done"),
    Case("kiosk", "/login"),
    Case("kiosk", "/priorities/{open_round}"),
    Case("anonymous", "/kiosk", status=302),  # staff log in to set a device up
    Case("anonymous", "/kiosk/disable", status=302),  # not a kiosk: nothing to switch off
    Case("anonymous", "/kiosk/done"),
    Case("staff", "/kiosk"),
    Case("staff", "/staff/counter-code"),
    # The open-data API and its page.
    Case("anonymous", "/api"),
    Case("anonymous", "/api/v1/"),
    Case("anonymous", "/api/v1/categories"),
    Case("anonymous", "/api/v1/projects"),
    Case("anonymous", "/api/v1/projects?status=in_progress&q={search_word}&sort=updated&page=2"),
    Case("anonymous", "/api/v1/projects/{big_project}"),
    Case("anonymous", "/api/v1/rounds"),
    Case("anonymous", "/api/v1/rounds/{closed_round}"),
    Case("anonymous", "/api/v1/surveys"),
    Case("anonymous", "/api/v1/surveys/{closed_survey}"),
    Case("anonymous", "/api/v1/moderation-report"),
    Case("anonymous", "/api/v1/ratings"),
    Case("anonymous", "/api/v1/ratings?page=2&per_page=5"),
    Case("anonymous", "/api/v1/dcat"),
    Case("anonymous", "/api/v1/openapi.json"),
]


def _placeholders(app: Flask, facts: Any) -> dict[str, Any]:
    """Return the values the case paths refer to, tokens included (inside an app context)."""
    from kldialog.auth import services as accounts
    from kldialog.auth.models import User
    from kldialog.events import links as event_links
    from kldialog.events.models import EventRegistration
    from kldialog.notices import preferences as notice_preferences
    from kldialog.notices.models import NoticeKind
    from kldialog.projects import following as follows

    resident = db.session.get(User, facts.user_ids["resident"])
    user_id, project_id, since = facts.follow
    static = Path(app.static_folder or "")
    values = dict(vars(facts))
    values.update(
        resident_id=resident.id,
        static_file=next(
            p.relative_to(static).as_posix() for p in sorted(static.rglob("*")) if p.is_file()
        ),
        confirm_token=accounts.make_token("confirm", resident, f"{resident.email}|x"),
        reset_token=accounts.make_token("reset", resident, resident.password_hash),
        email_token=accounts.make_token("change-email", resident, "neu@bench.kldialog.invalid"),
        unsubscribe_token=follows.unsubscribe_token(user_id, project_id, since),
        notice_unsubscribe_token=notice_preferences.unsubscribe_token(
            resident.id, NoticeKind.digest
        ),
        event_confirm_token=event_links.confirm_token(
            db.session.get(EventRegistration, facts.pending_registration)
        ),
        event_cancel_token=event_links.cancel_token(
            db.session.get(EventRegistration, facts.email_registration)
        ),
        **_paper_batches(facts),
        crosstab_first=_question_id(facts.closed_survey, "single"),
        crosstab_second=_question_id(facts.closed_survey, "scale"),
    )
    return values


def _paper_batches(facts: Any) -> dict[str, int]:
    """Offer paper in the open round and enter batches, more at the larger scale."""
    import datetime as dt

    from kldialog.auth.models import User
    from kldialog.priorities import paper
    from kldialog.priorities.models import PriorityRound
    from kldialog.surveys import paper as survey_paper
    from kldialog.surveys.models import Survey

    round_ = db.session.get(PriorityRound, facts.open_round)
    round_.paper_offered, round_.paper_until = True, round_.closes_at + dt.timedelta(days=3)
    db.session.commit()
    admin, staff = (
        db.session.scalar(sa.select(User).where(User.email == facts.emails[role]))
        for role in ("admin", "staff")
    )
    # At least 30 batches at either scale: their audit entries then fill the audit log's first
    # page at both, so /admin/audit shows the same kinds of entries (and statements) at both.
    scale = 30 + (db.session.scalar(sa.select(sa.func.count()).select_from(User)) or 0) // 100
    codes = paper.print_ballots(admin, round_, 6 * scale)
    project = round_.entries[0].project_id
    ids = []
    for number in range(scale):
        sheets = [paper.make_sheet(c, "", {project: 1}) for c in codes[3 * number : 3 * number + 3]]
        batch = paper.enter_first(admin, round_, f"Kasten {number}", sheets)
        if number % 2:
            sheets[1] = paper.make_sheet(sheets[1]["code"], "unclear", {})
            paper.enter_second(staff, round_, batch.id, sheets)
        ids.append(batch.id)
    survey = db.session.get(Survey, facts.open_survey)
    unusable, blank = {"unusable": True, "answers": []}, {"unusable": False, "answers": []}
    sheets = [unusable] + [blank] * 5
    survey_ids = []
    for number in range(scale):
        batch = survey_paper.enter_first(admin, survey, f"Kasten {number}", sheets, {})
        if number % 2:
            survey_paper.enter_second(staff, survey, batch.id, [blank] * 5 + [unusable], {})
        survey_ids.append(batch.id)
    return {
        "paper_batch": ids[0],
        "paper_mismatch": ids[1],
        "survey_batch": survey_ids[0],
        "survey_mismatch": survey_ids[1],
    }


def _question_id(survey_id: int, kind: str) -> int:
    table = db.metadata.tables["survey_question"]
    return db.session.scalar(
        sa.select(table.c.id).where(table.c.survey_id == survey_id, table.c.kind == kind)
    )


def _client(app: Flask, facts: Any, role: str) -> FlaskClient:
    """Return a test client, logged in through the login form unless anonymous."""
    client = app.test_client()
    if role == "kiosk":  # a city device at a counter, nobody logged in yet
        from kldialog.auth import kiosk

        with app.test_request_context():
            client.set_cookie(kiosk.KIOSK_COOKIE, kiosk.new_cookie_value())
    elif role != "anonymous":
        response = client.post(
            "/login", data={"email": facts.emails[role], "password": facts.password}
        )
        assert response.status_code == 303, f"{role} could not log in"
    return client


@dataclass
class Measured:
    """What one request did."""

    status: int
    statements: list[str]


def _measure(app: Flask, client: FlaskClient, path: str) -> Measured:
    """Request a page and record its statements (both scales start from the same state)."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
        response.close()  # static files stay open otherwise
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return Measured(response.status_code, statements)


def _build(database_url: str, outbox: Path) -> Flask:
    app = create_app(
        base_config(
            SQLALCHEMY_DATABASE_URI=database_url,
            MAIL_OUTBOX=str(outbox),
            BRAND_PRIMARY_COLOR="#00508c",  # so /branding/theme.css answers
        )
    )
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            empty_postgres_database()
        else:
            db.create_all()
    return app


@pytest.fixture(scope="module")
def measured(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[float, Measured]]]:
    """Generate the data at each scale, request every case, keep what each request ran."""
    results: dict[str, dict[float, Measured]] = {case.id: {} for case in CASES}
    for scale in SCALES:
        app = _build(database_url, tmp_path_factory.mktemp("outbox"))
        with app.app_context():
            facts = bulkdata.generate(scale)
            values = _placeholders(app, facts)
            db.session.remove()
        clients = {role: _client(app, facts, role) for role in {case.role for case in CASES}}
        for case in CASES:
            path = case.path.format_map(values)
            results[case.id][scale] = _measure(app, clients[case.role], path)
        with app.app_context():
            db.session.remove()
            if db.engine.dialect.name != "postgresql":
                db.drop_all()
            db.engine.dispose()
    yield results


def _shape(statement: str) -> str:
    """Return the start of a statement with its IN lists folded, to show what differs."""
    return re.sub(r"IN \([^)]*\)", "IN (…)", " ".join(statement.split()))[:200]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_statement_count_does_not_grow_with_the_data(
    measured: dict[str, dict[float, Measured]], case: Case
) -> None:
    small, large = (measured[case.id][scale] for scale in SCALES)
    assert (small.status, large.status) == (case.status, case.status)
    if len(small.statements) != len(large.statements):
        more = Counter(map(_shape, large.statements))
        more.subtract(Counter(map(_shape, small.statements)))
        changed = "\n".join(f"{n:+d} × {s}" for s, n in more.items() if n)
        pytest.fail(
            f"{case.id}: {len(small.statements)} statements at {SCALES[0]}×, "
            f"{len(large.statements)} at {SCALES[1]}×:\n{changed}"
        )


class _AnyValue(dict):
    def __missing__(self, key: str) -> str:
        return "1"


def test_every_get_rule_is_covered() -> None:
    app = create_app(base_config())
    adapter = app.url_map.bind("localhost")
    covered = set()
    for case in CASES:
        path = string.Formatter().vformat(case.path, (), _AnyValue()).split("?")[0]
        rule, _arguments = adapter.match(path, method="GET", return_rule=True)
        covered.add(rule.rule)
    missing = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ()) and rule.rule not in covered
    )
    assert not missing, f"GET pages without a statement-count case: {missing}"
