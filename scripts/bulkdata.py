"""Bulk benchmark data: Kaiserslautern (1×) to ten times its size, fixed seed, seconds not hours.

`generate(scale)` fills the current app's empty database with Core bulk inserts (COPY on
PostgreSQL) and returns the ids and names the benchmark and the tests need. Scale 1 is
Kaiserslautern: 10,000 residents, 66 projects, 20,000 comments (one project holds 2,000),
100,000 ballot lines, 5,000 survey answer sets and 10,000 ratings; 10 is issue 12's
"ten times Kaiserslautern". Small scales keep floors so that every page has something to show.

Everything this module knows about the schema is in the "schema" section below: tables are
reached by name through the metadata, so model modules may move without breaking it. Only
four application functions are used (see `_app`): the password hasher, the search folding
of projects, the publication of a closed round's results (the close path itself) and the
sealing of staged survey answer sets.

Shape of the data (numbers at 1×; every count scales):
- accounts: one admin, staff, moderator, council member and resident to log in as (all with
  the password BENCH_PASSWORD, one argon2 hash for everyone), 10,000 residents of whom a few
  are unconfirmed, verified, blocked or deleted (tombstones keep their comments);
- 66 projects in 12 categories, as the 2019 letter counts them (status, category), one draft
  and one archived per 33, each with a status history and some news; followers;
- 20,000 comments: replies one level deep, supports, reports, hidden, pending and deleted ones,
  moderation decisions and appeals over twelve months, a closed discussion;
- priority rounds: closed ones with published results (ballot file, hash, snapshot, made by
  the application's own close path; 3 at 1×, 4 above), an open one with person-linked
  ballots, an upcoming one and a draft; a quarter of the ballot lines each in the open round
  and spread over the closed ones; a round holds at most 66 projects (a ballot a person can
  fill in, at any size of city);
- surveys: closed ones with answers (free texts partly published; 2 from 0.1× on), an open
  one with answers and a few staged submissions below the flush batch, a draft; answer rows
  are written the way the flush writes them (random keys, shuffled, no person, no time);
- indicator ratings, residency codes, audit entries, moderation keywords.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

ROOT = Path(__file__).resolve().parent.parent
ROADMAP_FILE = ROOT / "kldialog" / "data" / "roadmap-kaiserslautern-2019.json"
BENCH_PASSWORD = "bench-password-not-secret"  # noqa: S105  (synthetic accounts only)
SEED = 12

# Kaiserslautern, as issue 12 counts it (1×).
BASE = {
    "residents": 10_000,
    "projects": 66,
    "comments": 20_000,
    "big_discussion": 2_000,
    "ballot_lines": 100_000,
    "answer_sets": 5_000,
    "ratings": 10_000,
    "events": 120,  # participation and education offers over about two years
}


@dataclass(frozen=True)
class Sizes:
    """How many rows of each kind one scale asks for."""

    scale: float
    residents: int
    projects: int
    categories: int
    comments: int
    big_discussion: int
    ballot_lines: int
    answer_sets: int
    ratings: int
    follows: int
    supports: int
    reported: int
    audit_entries: int
    residency_codes: int
    keywords: int
    closed_rounds: int
    closed_surveys: int
    questions: int
    events: int
    own: int

    @classmethod
    def at(cls, scale: float) -> Sizes:
        """Return the sizes for a scale, with floors that keep every page non-empty."""

        def n(base: int, floor: int) -> int:
            return max(floor, round(base * scale))

        residents = n(BASE["residents"], 40)
        projects = n(BASE["projects"], 8)
        comments = n(BASE["comments"], 60)
        return cls(
            scale=scale,
            residents=residents,
            projects=projects,
            categories=min(12, max(2, projects // 3)),
            comments=comments,
            big_discussion=min(n(BASE["big_discussion"], 30), comments // 2),
            ballot_lines=n(BASE["ballot_lines"], 200),
            answer_sets=n(BASE["answer_sets"], 20),
            ratings=n(BASE["ratings"], 40),
            follows=residents // 2,
            supports=comments,
            reported=max(6, comments // 50),
            audit_entries=max(30, residents // 10),
            residency_codes=max(3, residents // 20),
            keywords=max(2, min(len(KEYWORDS), residents // 500)),
            # Lists of rounds, surveys and questions grow a little too, so that a page that
            # queries once per round or question shows up in tests/test_query_counts.py.
            closed_rounds=2 if scale < 0.1 else 3 if scale <= 1 else 4,
            closed_surveys=1 if scale < 0.1 else 2,
            questions=len(QUESTIONS) - (scale < 0.1),
            events=n(BASE["events"], 6),
            # How many follows, comments, ratings... the resident who logs in has.
            own=1 if scale < 0.1 else 3,
        )


@dataclass
class Facts:
    """What the generated data contains that pages and tests refer to."""

    scale: float
    password: str
    emails: dict[str, str]  # role name -> e-mail address of the account to log in as
    user_ids: dict[str, int]
    big_project: str  # slug of the project with the big discussion
    project: str  # slug of an ordinary published project
    archived_project: str
    draft_project_id: int
    big_project_id: int
    category_id: int
    closed_round: int  # the most recent closed round (approval)
    points_round: int  # a closed points round
    open_round: int
    upcoming_round: int
    draft_round: int
    closed_survey: int
    open_survey: int
    draft_survey: int
    draft_question: int
    hot_comment: int  # top-level comment in the big discussion with many replies
    own_comment: int  # the resident's own comment, still in its edit window
    own_hidden_comment: int  # the resident's hidden comment (decision, appeal possible)
    reported_comment: int  # a comment waiting in the moderation queue with open reports
    keyword_id: int
    upcoming_event: int  # published, full, with a waiting list; the resident waits on it
    past_event: int  # over, with a published summary
    draft_event: int
    cancelled_event: int
    pending_registration: int  # a visitor's unconfirmed registration by e-mail
    email_registration: int  # a visitor's confirmed registration by e-mail
    follow: tuple[int, int, dt.datetime]  # (user id, project id, since) of the resident's follow
    search_word: str
    big_discussion: int = 0  # comments in the big discussion
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows written
    ballots_in_files: int = 0  # ballot lines of closed rounds (in their ballot files)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """Return the facts as JSON-ready data."""
        data = asdict(self)
        data["follow"] = [self.follow[0], self.follow[1], self.follow[2].isoformat()]
        return data


# --- schema: everything this module knows about tables, columns and values ------------------

ROLE = {"resident": 1, "moderator": 2, "staff": 4, "council": 8, "admin": 16}
ACCOUNTS = {  # role name -> roles of the account to log in as (residents may take part)
    "admin": ROLE["resident"] | ROLE["admin"],
    "staff": ROLE["resident"] | ROLE["staff"],
    "moderator": ROLE["resident"] | ROLE["moderator"],
    "council": ROLE["resident"] | ROLE["council"],
    "resident": ROLE["resident"],
}
CATEGORY_SLUGS = {
    "Bildung": "bildung",
    "Datenplattform": "datenplattform",
    "Energie & Umwelt": "energie-umwelt",
    "Gesellschaft": "gesellschaft",
    "Gesundheitswesen": "gesundheitswesen",
    "IT-Infrastruktur": "it-infrastruktur",
    "Handel": "handel",
    "Justiz": "justiz",
    "Kultur": "kultur",
    "Sicherheit": "sicherheit",
    "Verkehr & Mobilität": "verkehr-mobilitaet",
    "Verwaltung": "verwaltung",
}
KEYWORDS = [f"{word}{n or ''}" for n in range(10) for word in
            ("idiot", "spam-link", "dummkopf", "werbung", "casino")]  # fmt: skip
SLUG_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789")
REPORT_REASONS = ["spam", "offensive", "off_topic", "personal_data", "other"]
INDICATORS = ["benefit", "data_care"]
# The two survey questionnaires (the demo survey's questions plus a plain yes/no).
QUESTIONS = [
    # (section, kind, text, options, extra columns)
    (0, "single", "Wie kommen Sie meistens in die Innenstadt?",
     ["zu Fuß", "mit dem Rad", "mit Bus oder Bahn", "mit dem Auto"],
     {"is_required": True, "has_other": True}),
    (0, "multiple", "Was stört Sie im Verkehr am meisten?",
     ["Staus", "Parkplatzsuche", "lange Ampelphasen", "Lärm", "Abgase"], {"max_choices": 2}),
    (0, "scale", "Wie zufrieden sind Sie mit dem Verkehr in der Innenstadt?", [],
     {"is_required": True, "scale_low_label": "gar nicht zufrieden",
      "scale_high_label": "sehr zufrieden"}),
    (1, "ranking", "Was ist Ihnen bei der Verkehrslenkung am wichtigsten?",
     ["Sicherheit", "schnelles Vorankommen", "Umwelt", "Datenschutz"], {}),
    (1, "yes_no", "Sind Sie im letzten Jahr bewusst über eine rote Ampel gefahren?", [],
     {"is_randomised": True}),
    (1, "long_text", "Was sollte die Stadt bei der Verkehrslenkung noch bedenken?", [], {}),
    # Only from scale 0.1 on: the test compares pages with one question more.
    (1, "yes_no", "Nutzen Sie die Parkhaus-App der Stadt?", [], {}),
]  # fmt: skip


def _tables() -> dict[str, sa.Table]:
    return _db().metadata.tables


def _db() -> Any:
    """Return the app's Flask-SQLAlchemy object (looked up, not imported: modules move)."""
    return current_app.extensions["sqlalchemy"]


def _mapped(table: str) -> Any:
    """Return the ORM class mapped to a table."""
    for mapper in _db().Model.registry.mappers:
        if mapper.local_table.name == table:
            return mapper.class_
    raise LookupError(table)


def _app() -> dict[str, Any]:
    """Return the only application functions the generator calls."""
    from kldialog.auth.services import hash_password
    from kldialog.priorities.services import publish_result
    from kldialog.projects.models import search_key
    from kldialog.surveys.sealing import seal

    return {
        "hash_password": hash_password,
        "publish_result": publish_result,
        "search": search_key,
        "seal": seal,
    }


# --- text ----------------------------------------------------------------------------------

WORDS = (
    "die der und Stadt Projekt digital Bürger Daten Verwaltung Antrag online Schule Verkehr "
    "Parken Ampel Bus Bahn Radweg Termin Formular Portal App Sensor Netz WLAN Glasfaser Karte "
    "Umwelt Energie Licht Straße Platz Kita Bibliothek Museum Sicherheit Hilfe Service schnell "
    "einfach besser sicher offen transparent wichtig gut schlecht teuer günstig endlich bitte "
    "warum wann wie wo Frage Idee Vorschlag Kritik Lob Erfahrung Nachbarschaft Innenstadt "
    "Stadtteil Rathaus Amt Behörde Bürgerbüro Gebühr Papier Warteschlange Datenschutz Zugang "
    "barrierefrei Sprache leicht verständlich Senioren Jugendliche Familien Pendler Handel"
).split()
DISTRICTS = (
    "Innenstadt Betzenberg Bännjerrück Erzhütten Erfenbach Grübentälchen Hohenecken Kaiserberg "
    "Lämmchesberg Mölschbach Morlautern Siegelbach Dansenberg Einsiedlerhof Wiesenthalerhof"
).split()
TOPICS = (
    "Bürgerportal Parkleitsystem Schul-WLAN Sensornetz Datenplattform Ratsinformationssystem "
    "Terminvergabe Straßenbeleuchtung Bibliotheks-App Mängelmelder Ladesäulen Lernplattform "
    "Quartiersnetz Notfall-Info Kulturkalender Telemedizin Fahrradzählung Luftmessung"
).split()
EVENT_KINDS = ["Werkstatt", "Sprechstunde", "Stadtspaziergang", "Kurs"]


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def _uuid(rng: random.Random) -> uuid.UUID:
    """Return a version-4 UUID from the seeded generator (reproducible, still random-looking)."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


# --- writing ---------------------------------------------------------------------------------

CHUNK = 20_000


class Writer:
    """Insert rows in bulk: COPY on PostgreSQL, executemany on SQLite; counts what it wrote."""

    def __init__(self) -> None:
        """Bind to the current app's session."""
        self.session = _db().session
        self.postgres = self.session.get_bind().dialect.name == "postgresql"
        self.rows: Counter[str] = Counter()

    def insert(self, name: str, rows: Iterable[dict[str, Any]], *, copy: bool = True) -> None:
        """Write rows (dicts with the same keys) into a table, in chunks."""
        table = _tables()[name]
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= CHUNK:
                self._write(table, batch, copy)
                batch = []
        if batch:
            self._write(table, batch, copy)

    def _write(self, table: sa.Table, rows: list[dict[str, Any]], copy: bool) -> None:
        self.rows[table.name] += len(rows)
        columns = list(rows[0])
        names = ", ".join(f'"{column}"' for column in columns)
        connection = self.session.connection()
        if not self.postgres:
            # executemany with the columns' own bind processors: what sa.insert() does, without
            # building a parameter dict per row (half the time of the whole load at 10×).
            dialect = connection.dialect
            processors = [
                table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
                for column in columns
            ]
            pairs = list(zip(columns, processors, strict=True))
            values = [
                tuple(process(row[column]) if process else row[column] for column, process in pairs)
                for row in rows
            ]
            marks = ", ".join("?" for _ in columns)
            statement = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'  # noqa: S608
            connection.exec_driver_sql(statement, values)
            return
        if not copy:
            self.session.execute(sa.insert(table), rows)
            return
        cursor = connection.connection.dbapi_connection.cursor()
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as stream:
            for row in rows:
                stream.write_row([row[column] for column in columns])
        cursor.close()

    def finish(self) -> None:
        """Commit; on PostgreSQL move the id sequences past the ids written and analyse."""
        self.session.commit()
        if not self.postgres:
            return
        for table in _tables().values():
            if (
                "id" in table.c
                and table.c.id.primary_key
                and isinstance(table.c.id.type, sa.Integer)
            ):
                name = table.name  # from our own metadata, never from input
                statement = (
                    f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "  # noqa: S608
                    f'COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM "{name}"'
                )
                self.session.execute(sa.text(statement))
        self.session.commit()
        # Autovacuum would vacuum and analyse after such a load (PostgreSQL 13 and later also
        # after inserts): do it now, so plans and index-only scans match a settled database.
        engine = self.session.get_bind()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM (ANALYZE)")


# --- the generator ---------------------------------------------------------------------------


class _Generator:
    """One run: holds the random generator, the clock and what earlier steps made."""

    def __init__(self, sizes: Sizes, seed: int) -> None:
        self.sizes = sizes
        self.rng = random.Random(seed)  # noqa: S311  (benchmark data, not security)
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.today = self.now.date()
        self.out = Writer()
        self.app = _app()
        self.terms = current_app.config["TERMS_VERSION"]
        self.sentences = [_sentence(self.rng, 5, 16) for _ in range(4000)]

    def text(self, sentences: tuple[int, int]) -> str:
        """Return a few sentences, drawn from a pool made once (fast at 10×)."""
        return " ".join(self.rng.choices(self.sentences, k=self.rng.randint(*sentences)))

    def ago(self, days: float = 0.0, hours: float = 0.0) -> dt.datetime:
        """Return the moment this long before now."""
        return self.now - dt.timedelta(days=days, hours=hours)

    def run(self) -> Facts:
        """Write everything, in foreign-key order; return the facts."""
        self.users()
        self.roadmap()
        self.discussions()
        self.rounds()
        self.surveys()
        self.ratings()
        self.events()
        self.administration()
        self.out.finish()
        return self.facts

    # --- accounts ---------------------------------------------------------------------------

    def users(self) -> None:
        """Write the five accounts to log in as and the residents."""
        rng, sizes = self.rng, self.sizes
        password_hash = self.app["hash_password"](BENCH_PASSWORD)
        rows = []
        self.account_ids: dict[str, int] = {}
        for number, (role, roles) in enumerate(ACCOUNTS.items(), start=1):
            self.account_ids[role] = number
            rows.append(
                self._user(
                    number,
                    f"{role}@bench.kldialog.invalid",
                    f"Bench {role}",
                    roles,
                    password_hash,
                    self.ago(days=800),
                )
            )
        self.people: list[int] = []  # other residents who can take part (random actors)
        self.deleted: list[int] = []
        first = len(rows) + 1
        for number in range(first, first + sizes.residents):
            roll = rng.random()
            created = self.ago(days=rng.uniform(1, 1100))
            row = self._user(
                number,
                f"person{number}@bench.kldialog.invalid",
                f"Person {number}",
                ROLE["resident"],
                password_hash,
                created,
            )
            if roll < 0.005:  # a deleted account: only the tombstone stays
                row.update(
                    email=None,
                    password_hash=None,
                    display_name=None,
                    display_name_key=None,
                    roles=0,
                    deleted_at=created + dt.timedelta(days=30),
                    email_confirmed_at=None,
                )
                self.deleted.append(number)
            elif roll < 0.015:
                row.update(email_confirmed_at=None, created_at=self.ago(days=rng.uniform(0, 6)))
            elif roll < 0.018:
                row["blocked_until"] = self.now + dt.timedelta(days=rng.randint(3, 60))
            else:
                row["is_verified"] = rng.random() < 0.08
                self.people.append(number)
            rows.append(row)
        self.out.insert("user_account", rows)

    def _user(
        self,
        number: int,
        email: str,
        name: str,
        roles: int,
        password_hash: str,
        created: dt.datetime,
    ) -> dict[str, Any]:
        rng = self.rng
        return {
            "id": number,
            "email": email,
            "email_confirmed_at": created + dt.timedelta(minutes=rng.randint(2, 600)),
            "pending_email": None,
            "password_hash": password_hash,
            "display_name": name,
            "display_name_key": name.casefold(),
            "roles": roles,
            "is_verified": False,
            "accepted_terms_version": self.terms,
            "language": "en" if rng.random() < 0.1 else "de",
            "notify_replies": rng.random() < 0.2,
            "session_token": f"{rng.getrandbits(128):032x}",
            "blocked_until": None,
            "created_at": created,
            "deleted_at": None,
        }

    # --- roadmap ----------------------------------------------------------------------------

    def roadmap(self) -> None:
        """Write categories, projects (status as the letter counts them), history, news, follows."""
        rng, sizes = self.rng, self.sizes
        letter = json.loads(ROADMAP_FILE.read_text("utf-8"))
        by_category = letter["totals_in_letter"]["by_category"]
        names = sorted(by_category, key=lambda name: -by_category[name])[: sizes.categories]
        self.out.insert(
            "category",
            [
                {"id": i, "slug": CATEGORY_SLUGS[name], "name": name, "position": i}
                for i, name in enumerate(names, start=1)
            ],
        )
        category_weights = [by_category[name] for name in names]
        statuses = letter["totals_in_letter"]["by_status"]
        real = letter["projects"]
        self.projects: list[dict[str, Any]] = []
        # One draft and one archived project per 33 (at least one of each), at the end.
        special = max(1, sizes.projects // 33)
        archived = {sizes.projects - 1 - 2 * k for k in range(special)}
        drafts = {sizes.projects - 2 - 2 * k for k in range(special)}
        ascii_ = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
        for i in range(sizes.projects):
            number = i + 1
            if i < len(real) and real[i]["category"] in names:
                title = real[i]["title"]
            else:
                title = f"Digitale {rng.choice(TOPICS)} {rng.choice(DISTRICTS)} {number}"
            folded = "".join(
                ch if ch in SLUG_CHARACTERS else " " for ch in title.lower().translate(ascii_)
            )
            slug = "-".join(folded.split())[:100] + f"-{number}"
            state = "archived" if i in archived else "draft" if i in drafts else "published"
            category = (
                i + 1
                if i < len(names)
                else rng.choices(range(1, len(names) + 1), category_weights)[0]
            )
            status = rng.choices(list(statuses), weights=list(statuses.values()))[0]
            if i == 0:
                status = "in_progress"  # the big discussion is about a running project
            summary = self.text((1, 3))
            self.projects.append(
                {
                    "id": number,
                    "slug": slug,
                    "title": title,
                    "summary": summary,
                    "description": self.text((3, 9)),
                    "category_id": category,
                    "is_category_editorial": rng.random() < 0.4,
                    "status": status,
                    "state": state,
                    "status_changed_on": self.today,
                    "status_precision": "day",
                    "progress": rng.choice([None, None, 10, 25, 50, 75, 90])
                    if status == "in_progress"
                    else None,
                    "department": rng.choice(
                        ["Referat Digitalisierung", "Tiefbauamt", "Schulverwaltung", "Ordnungsamt"]
                    ),
                    "search_text": self.app["search"](f"{title}\n{summary}"),
                    "created_at": self.ago(days=rng.uniform(400, 1500)),
                    "updated_at": self.ago(days=rng.uniform(1, 300)),
                    "thread_id": None,
                }
            )
        self.published = [p for p in self.projects if p["state"] == "published"]
        self.visible = [p for p in self.projects if p["state"] != "draft"]
        # Popularity: a few projects draw most of the attention (Zipf-like).
        self.popularity = [1 / (rank + 1) ** 0.8 for rank in range(len(self.visible))]
        history, updates = [], []
        order = ["planned", "in_progress", "completed"]
        for project in self.projects:
            steps = order[: order.index(project["status"]) + 1]
            day = (project["created_at"] + dt.timedelta(days=rng.randint(0, 30))).date()
            previous = None
            for status in steps:
                history.append(
                    {
                        "project_id": project["id"],
                        "changed_on": day,
                        "precision": "day",
                        "old_status": previous,
                        "new_status": status,
                        "reason": _sentence(rng, 6, 14),
                        "author": project["department"],
                        "created_at": dt.datetime.combine(day, dt.time(9), dt.UTC),
                    }
                )
                previous = status
                project["status_changed_on"] = day
                day = min(self.today, day + dt.timedelta(days=rng.randint(60, 400)))
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                published_on = self.today - dt.timedelta(days=rng.randint(0, 700))
                updates.append(
                    {
                        "project_id": project["id"],
                        "published_on": published_on,
                        "title": _sentence(rng, 3, 7)[:-1],
                        "body": self.text((2, 6)),
                        "author": project["department"],
                        "created_at": dt.datetime.combine(published_on, dt.time(10), dt.UTC),
                    }
                )
        self.history_rows, self.update_rows = history, updates
        self.big = self.visible[0]

    def write_roadmap(self) -> None:
        """Write projects (after their threads), history, news and follows."""
        rng = self.rng
        self.out.insert("project", self.projects)
        history = sorted(self.history_rows, key=lambda row: (row["changed_on"], row["project_id"]))
        self.out.insert("project_status_change", history)
        self.out.insert("project_update", self.update_rows)
        resident = self.account_ids["resident"]
        since = self.ago(days=40)
        follows = {(resident, self.big["id"]): since}
        for project in self.visible[1 : self.sizes.own]:
            follows[(resident, project["id"])] = since
        ids = [p["id"] for p in self.visible]
        wanted = min(self.sizes.follows, len(self.people) * len(ids) // 2) + 1
        while len(follows) < wanted:
            user = rng.choice(self.people)
            project = rng.choices(ids, self.popularity)[0]
            follows.setdefault((user, project), self.ago(days=rng.uniform(0, 700)))
        self.follow = (resident, self.big["id"], since)
        self.out.insert(
            "project_follow",
            [{"user_id": u, "project_id": p, "created_at": at} for (u, p), at in follows.items()],
        )

    # --- discussions ------------------------------------------------------------------------

    def discussions(self) -> None:  # noqa: C901
        """Write threads, comments, supports, reports, decisions, appeals and keywords.

        Long and branchy on purpose: it writes the rows in the order the module docstring
        describes the data, so the shape reads top to bottom in one place.
        """
        rng, sizes = self.rng, self.sizes
        resident = self.account_ids["resident"]
        moderator = self.account_ids["moderator"]
        authors = self.people + self.deleted  # old comments of deleted accounts stay
        # Comments per project: the big discussion, the rest by popularity.
        others = self.visible[1:]
        counts = (
            Counter(
                rng.choices(
                    range(len(others)),
                    self.popularity[1 : len(others) + 1],
                    k=sizes.comments - sizes.big_discussion,
                )
            )
            if others
            else Counter()
        )
        per_project = {self.big["id"]: sizes.big_discussion}
        per_project.update({others[i]["id"]: n for i, n in counts.items()})
        threads = []
        drafts: list[dict[str, Any]] = []  # comments before ids are given (time order)
        by_id = {p["id"]: p for p in self.projects}
        for thread_id, (project_id, count) in enumerate(sorted(per_project.items()), start=1):
            by_id[project_id]["thread_id"] = thread_id
            threads.append(
                {
                    "id": thread_id,
                    "kind": "project",
                    "is_closed": False,
                    "closed_note": "",
                    "is_premoderated": False,
                    "comment_count": 0,
                }
            )
            times = sorted(self.ago(days=rng.uniform(0.05, 365)) for _ in range(count))
            tops: list[dict[str, Any]] = []
            for at in times:
                comment = {
                    "thread": thread_id,
                    "at": at,
                    "author": rng.choice(authors),
                    "parent": None,
                }
                if tops and rng.random() < 0.3:
                    # In the big discussion one early comment draws a long reply chain.
                    hot = project_id == self.big["id"] and rng.random() < 0.15
                    comment["parent"] = tops[0] if hot else rng.choice(tops[-30:])
                else:
                    tops.append(comment)
                drafts.append(comment)
            if project_id == self.big["id"]:
                self.hot = tops[0]
                self.hot["author"] = self.people[0]
        # A closed discussion (staff closed it with a note).
        if len(threads) > 1:
            threads[-1].update(is_closed=True, closed_note="Die Diskussion ist abgeschlossen.")
        # The resident's own comments in the big discussion.
        big_thread = self.big["thread_id"]
        own = {
            "thread": big_thread,
            "at": self.ago(hours=0.03),
            "author": resident,
            "parent": None,
            "status": "published",
        }
        own_hidden = {
            "thread": big_thread,
            "at": self.ago(days=10),
            "author": resident,
            "parent": None,
            "status": "hidden",
            "appeal": "never",
        }
        reported = {
            "thread": big_thread,
            "at": self.ago(days=2),
            "author": self.people[1],
            "parent": None,
            "reports": 2,
            "status": "published",
        }
        # One comment waiting for review and one appeal waiting for a decision, at every scale.
        waiting = {
            "thread": big_thread,
            "at": self.ago(days=1),
            "author": self.people[2],
            "parent": None,
            "status": "pending",
        }
        appealed = {
            "thread": big_thread,
            "at": self.ago(days=8),
            "author": self.people[3],
            "parent": None,
            "status": "hidden",
            "appeal": "open",
        }
        drafts += [own, own_hidden, reported, waiting, appealed]
        # More of the resident's comments, published and hidden, from 0.1× on.
        threads_of = [p["thread_id"] for p in self.visible if p["thread_id"]]
        for k in range(1, self.sizes.own):
            at = self.ago(days=20 + k)
            thread = threads_of[k % len(threads_of)]
            drafts.append({"thread": thread, "at": at, "author": resident, "parent": None,
                           "status": "published"})  # fmt: skip
            drafts.append({"thread": big_thread, "at": at, "author": resident, "parent": None,
                           "status": "hidden", "appeal": "never"})  # fmt: skip
        drafts.sort(key=lambda c: c["at"])
        for number, comment in enumerate(drafts, start=1):
            comment["id"] = number
        self.own, self.own_hidden, self.reported = own, own_hidden, reported

        comments = []
        decisions: list[dict[str, Any]] = []
        appeals = []
        published_count: Counter[int] = Counter()
        replies_published: Counter[int] = Counter()
        for comment in drafts:
            roll = rng.random()
            status = comment.get("status")
            deleted_at = None
            if status is None:
                if roll < 0.03 and comment is not self.hot:
                    status = "hidden"
                elif roll < 0.04 and comment["at"] > self.ago(days=30) and comment is not self.hot:
                    status = "pending"
                else:
                    status = "published"
                    if roll > 0.98 and comment is not self.hot:
                        deleted_at = comment["at"] + dt.timedelta(hours=rng.uniform(1, 200))
            comment["status"] = status
            body = "" if deleted_at else self.text((1, 5))
            hidden_reason = ""
            if status == "hidden":
                hidden_reason = "Beleidigend gegenüber anderen Teilnehmenden."
                decided = min(self.now, comment["at"] + dt.timedelta(hours=rng.uniform(0.5, 48)))
                decisions.append(self._decision(comment["id"], "hide", hidden_reason, decided))
                appealed = decided + dt.timedelta(hours=rng.uniform(1, 72))
                if comment.get("appeal") == "open" or (
                    not comment.get("appeal") and rng.random() < 0.2 and appealed < self.now
                ):
                    appealed = min(appealed, self.now)
                    outcome = (
                        None if comment.get("appeal") else rng.choice([None, "upheld", "rejected"])
                    )
                    decided_at = (
                        appealed + dt.timedelta(hours=rng.uniform(1, 72)) if outcome else None
                    )
                    if decided_at and decided_at > self.now:
                        outcome = decided_at = None
                    appeals.append(
                        {
                            "comment_id": comment["id"],
                            "text": self.text((1, 3)),
                            "created_at": appealed,
                            "decided_at": decided_at,
                            "outcome": outcome,
                        }
                    )
                    if outcome:
                        decisions.append(
                            self._decision(
                                comment["id"],
                                f"appeal_{outcome}",
                                "Nach erneuter Prüfung.",
                                decided_at,
                            )
                        )
                        if outcome == "upheld":
                            status = comment["status"] = "published"
                            hidden_reason = ""
                elif not comment.get("appeal") and rng.random() < 0.1:
                    until = decided + dt.timedelta(days=14)
                    decisions.append(
                        self._decision(
                            comment["id"], "block", "Wiederholt beleidigend.", decided, until
                        )
                    )
            elif status == "published" and roll < 0.045:
                # It waited for review first (keyword match) and was approved.
                approved = comment["at"] + dt.timedelta(hours=rng.uniform(0.2, 24))
                decisions.append(
                    self._decision(comment["id"], "approve", "Kein Verstoß.", approved)
                )
            if status == "published":
                published_count[comment["thread"]] += 1
                if comment["parent"] is not None:
                    replies_published[comment["parent"]["id"]] += 1
            edited = rng.random() < 0.05 and not deleted_at
            comments.append(
                {
                    "id": comment["id"],
                    "thread_id": comment["thread"],
                    "author_id": comment["author"],
                    "parent_id": comment["parent"]["id"] if comment["parent"] else None,
                    "body": body,
                    "status": status,
                    "created_at": comment["at"],
                    "edited_at": comment["at"] + dt.timedelta(minutes=rng.uniform(1, 14))
                    if edited
                    else None,
                    "deleted_at": deleted_at,
                    "hidden_reason": hidden_reason,
                    "support_count": 0,
                    "report_count": 0,
                    "reply_count": 0,
                }
            )
        for thread in threads:
            thread["comment_count"] = published_count[thread["id"]]
        for row in comments:
            row["reply_count"] = replies_published[row["id"]]

        # Supports: popular comments get more; the resident supports a few in the big discussion.
        published = [
            row for row in comments if row["status"] == "published" and not row["deleted_at"]
        ]
        supports: dict[tuple[int, int], dt.datetime] = {}
        weights = [1 / (i % 50 + 1) for i in range(len(published))]
        newest = [
            r for r in published if r["thread_id"] == big_thread and r["author_id"] != resident
        ]
        for row in newest[-(3 + 2 * self.sizes.own) :]:
            supports[(resident, row["id"])] = row["created_at"] + dt.timedelta(minutes=1)
        targets = rng.choices(published, weights, k=sizes.supports)
        for row in targets:
            user = rng.choice(self.people)
            if user != row["author_id"]:
                supports.setdefault(
                    (user, row["id"]), row["created_at"] + dt.timedelta(hours=rng.uniform(0.1, 100))
                )
        support_count = Counter(comment_id for _user, comment_id in supports)

        # Reports: some on published comments, open (in the queue) or resolved (dismissed).
        reports = []
        by_number = {row["id"]: row for row in comments}
        candidates = [row for row in published if row["id"] != self.hot["id"]]
        reported_rows = rng.sample(candidates, min(len(candidates), sizes.reported))
        reported_rows.append(by_number[reported["id"]])
        for row in reported_rows:
            count = (
                reported.get("reports")
                if row["id"] == reported["id"]
                else rng.choice([1, 1, 1, 2, 3])
            )
            reporters = [
                u
                for u in rng.sample(self.people, min(len(self.people), 6))
                if u not in (row["author_id"], resident)
            ][:count]
            created = min(self.now, row["created_at"] + dt.timedelta(hours=rng.uniform(0.5, 72)))
            resolved = None
            if row["id"] != reported["id"] and rng.random() < 0.7:
                resolved = min(self.now, created + dt.timedelta(hours=rng.uniform(1, 48)))
                decisions.append(
                    self._decision(row["id"], "dismiss", "Kein Verstoß erkennbar.", resolved)
                )
            for reporter in reporters:
                reason = rng.choices(REPORT_REASONS, [3, 4, 3, 1, 1])[0]
                reports.append(
                    {
                        "comment_id": row["id"],
                        "reporter_id": reporter,
                        "reason": reason,
                        "text": _sentence(rng, 4, 10) if reason == "other" else "",
                        "created_at": created,
                        "resolved_at": resolved,
                    }
                )
        report_count = Counter(report["comment_id"] for report in reports)
        for row in comments:
            row["support_count"] = support_count[row["id"]]
            row["report_count"] = report_count[row["id"]]

        self.threads, self.comment_rows = threads, comments
        self.big_comments = sum(row["thread_id"] == big_thread for row in comments)
        self.out.insert("thread", threads)
        self.write_roadmap()
        self.out.insert("comment", comments)
        self.out.insert(
            "comment_support",
            [{"user_id": u, "comment_id": c, "created_at": at} for (u, c), at in supports.items()],
        )
        self.out.insert("comment_report", reports)
        decisions.sort(key=lambda row: row["created_at"])
        for number, row in enumerate(decisions, start=1):
            row["id"] = number
            row["moderator_id"] = moderator
        self.out.insert("moderation_decision", decisions)
        self.out.insert("appeal", appeals)
        words = KEYWORDS[: self.sizes.keywords]
        self.out.insert(
            "moderation_keyword",
            [
                {"id": i, "word": word, "created_at": self.ago(days=200)}
                for i, word in enumerate(words, start=1)
            ],
        )
        blocked = {
            row["comment_id"]: row["blocked_until"] for row in decisions if row["action"] == "block"
        }
        if blocked:
            table = _tables()["user_account"]
            for comment_id, until in blocked.items():
                self.out.session.execute(
                    table.update()
                    .where(
                        table.c.id == by_number[comment_id]["author_id"],
                        table.c.deleted_at.is_(None),
                    )
                    .values(blocked_until=until)
                )

    def _decision(
        self,
        comment_id: int,
        action: str,
        reason: str,
        at: dt.datetime,
        until: dt.datetime | None = None,
    ) -> dict[str, Any]:
        return {
            "comment_id": comment_id,
            "action": action,
            "reason": reason,
            "blocked_until": until,
            "created_at": min(at, self.now),
        }

    # --- priority rounds --------------------------------------------------------------------

    def rounds(self) -> None:  # noqa: C901
        """Write closed rounds (results by the close path), an open, an upcoming and a draft.

        Long and branchy on purpose: it writes the rows in the order the module docstring
        describes the data, so the shape reads top to bottom in one place.
        """
        rng, sizes = self.rng, self.sizes
        running = [p for p in self.published if p["status"] in ("planned", "in_progress")]
        if len(running) < 2:
            running = self.published[:]
        ballot = sorted(running, key=lambda p: p["id"])[:66]
        if self.big not in ballot:
            ballot[-1] = self.big
        # Closed rounds, oldest first, every half year; the latest is an approval round.
        closed = self.sizes.closed_rounds
        specs = []
        for back in range(closed, 0, -1):
            method = "approval" if back % 2 else "points"
            closes = 30 + 182 * (back - 1)
            title = f"Prioritäten, Runde {closed - back + 1}"
            specs.append((title, method, 10, 10, 3, closes + 30, closes, 0.75 / closed))
        specs += [
            # (title, method, K, budget, M, opens days ago, closes days ago, share of lines)
            ("Winter 2026: Welche Projekte zuerst?", "approval", 10, 10, 3, 10, -20, 0.25),
            ("Sommer 2027 (angekündigt)", "approval", 10, 10, 3, -10, -40, 0.0),
            ("Entwurf: Herbst 2027", "points", 5, 10, 3, -60, -90, 0.0),
        ]
        self.round_ids = {
            "closed": closed,
            "points": closed - 1,
            "open": closed + 1,
            "upcoming": closed + 2,
            "draft": closed + 3,
        }
        rounds, entries = [], []
        for number, (title, method, k, budget, m, opens, closes, _share) in enumerate(specs, 1):
            rounds.append(
                {
                    "id": number,
                    "title": title,
                    "explanation": self.text((2, 4)),
                    "method": method,
                    "max_choices": k,
                    "budget": budget,
                    "max_per_project": m,
                    "eligibility": "resident",
                    "show_running_totals": number == self.round_ids["open"],
                    "state": "draft" if number == self.round_ids["draft"] else "published",
                    "opens_at": self.ago(days=opens),
                    "closes_at": self.ago(days=closes),
                    "ballot_count": 0,
                    "created_at": self.ago(days=opens + 14),
                }
            )
        totals: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
        weights = [1 / (rank + 1) ** 0.7 for rank in range(len(ballot))]
        ballot_rows, choice_rows = [], []
        self.closed_ballots: dict[int, tuple[list[dict[str, int]], Counter[dt.date]]] = {}
        voters_cap = int(len(self.people) * 0.9)  # turnout stays below everyone
        for spec, round_ in zip(specs, rounds, strict=True):
            share = spec[-1]
            lines_wanted = int(sizes.ballot_lines * share)
            if not lines_wanted:
                continue
            voters = [self.account_ids["resident"], *rng.sample(self.people, voters_cap)]
            open_round = round_["id"] == self.round_ids["open"]
            lines = 0
            ballots: list[dict[str, int]] = []
            days: Counter[dt.date] = Counter()
            window = (round_["closes_at"] - round_["opens_at"]).days or 1
            for voter in voters:
                if lines >= lines_wanted:
                    break
                if round_["method"] == "approval":
                    picks = set(rng.choices(range(len(ballot)), weights, k=rng.randint(1, 8)))
                    choice = {j: 1 for j in picks}
                else:
                    choice: dict[int, int] = {}
                    left = round_["budget"]
                    while left:
                        j = rng.choices(range(len(ballot)), weights)[0]
                        give = min(
                            left, round_["max_per_project"] - choice.get(j, 0), rng.randint(1, 3)
                        )
                        if give > 0:
                            choice[j] = choice.get(j, 0) + give
                            left -= give
                        elif len(choice) == len(ballot):
                            break
                lines += len(choice)
                elapsed = min(window, (self.now - round_["opens_at"]).days)
                day = (
                    round_["opens_at"] + dt.timedelta(days=rng.randint(0, max(0, elapsed)))
                ).date()
                days[day] += 1
                for j, points in choice.items():
                    total = totals[(round_["id"], ballot[j]["id"])]
                    total[0] += 1
                    total[1] += points
                if open_round:
                    ballot_id = len(ballot_rows) + 1
                    ballot_rows.append(
                        {
                            "id": ballot_id,
                            "round_id": round_["id"],
                            "user_id": voter,
                            "cast_on": day,
                        }
                    )
                    choice_rows += [
                        {
                            "ballot_id": ballot_id,
                            "round_id": round_["id"],
                            "project_id": ballot[j]["id"],
                            "points": points,
                        }
                        for j, points in sorted(choice.items())
                    ]
                else:
                    ballots.append({ballot[j]["slug"]: points for j, points in choice.items()})
            round_["ballot_count"] = sum(days.values())
            if not open_round:
                self.closed_ballots[round_["id"]] = (ballots, days)
                self.ballot_lines_in_files = getattr(self, "ballot_lines_in_files", 0) + lines
        self.round_rows = rounds
        self.out.insert("priority_round", rounds)
        for round_ in rounds:
            draft = round_["id"] == self.round_ids["draft"]
            on_ballot = ballot[: max(2, len(ballot) // 2)] if draft else ballot
            entries += [
                {
                    "round_id": round_["id"],
                    "project_id": p["id"],
                    "supporters": totals[(round_["id"], p["id"])][0],
                    "points": totals[(round_["id"], p["id"])][1],
                }
                for p in on_ballot
            ]
        self.out.insert("round_project", entries)
        self.out.insert("ballot", ballot_rows)
        self.out.insert("ballot_choice", choice_rows)
        self.out.session.flush()
        self.publish_closed_rounds()

    def publish_closed_rounds(self) -> None:
        """Publish each closed round's results exactly as closing it does (file, hash, snapshot)."""
        session = self.out.session
        round_class, entry_class = _mapped("priority_round"), _mapped("round_project")
        audit = []
        closes = {row["id"]: row["closes_at"] for row in self.round_rows}
        for round_id, (ballots, days) in sorted(self.closed_ballots.items()):
            round_ = session.get(round_class, round_id)
            entries = list(
                session.scalars(sa.select(entry_class).where(entry_class.round_id == round_id))
            )
            self.app["publish_result"](round_, entries, ballots, days)
            audit.append(
                (
                    "round.closed",
                    "priority_round",
                    round_id,
                    {"ballots": len(ballots)},
                    closes[round_id],
                )
            )
        session.flush()
        self.out.rows["round_result"] += len(self.closed_ballots)
        self.round_audit = audit

    # --- surveys ----------------------------------------------------------------------------

    def surveys(self) -> None:
        """Write closed surveys and an open one with answers (as the flush writes them), a draft."""
        rng, sizes = self.rng, self.sizes
        closed = self.sizes.closed_surveys
        specs = [
            # (title, opens days ago, closes days ago, state, share of answer sets)
            (f"Verkehr in der Innenstadt, Befragung {closed - back + 1}", 120 + 200 * (back - 1),
             60 + 200 * (back - 1), "published", 0.6 / closed)
            for back in range(closed, 0, -1)
        ]  # fmt: skip
        specs += [
            ("Intelligente Verkehrslenkung: Ihre Meinung", 5, -25, "published", 0.4),
            ("Entwurf: Digitale Schule", -10, -40, "draft", 0.0),
        ]
        self.survey_ids = {"closed": closed, "open": closed + 1, "draft": closed + 2}
        surveys, sections, questions, options, links = [], [], [], [], []
        self.questions: dict[int, list[dict[str, Any]]] = {}
        for number, (title, opens, closes, state, _share) in enumerate(specs, 1):
            surveys.append(
                {
                    "id": number,
                    "title": title,
                    "intro": self.text((2, 4)),
                    "opens_at": self.ago(days=opens),
                    "closes_at": self.ago(days=closes),
                    "eligibility": "resident",
                    "state": state,
                    "participant_count": 0,
                    "previous_version_id": None,
                    "created_at": self.ago(days=opens + 10),
                    "published_at": self.ago(days=opens + 1) if state == "published" else None,
                    "purged_at": None,
                    "results_snapshot": None,
                }
            )
            section_ids = []
            for position, heading in enumerate(["Ihre Wege", "Daten und Datenschutz"]):
                section_ids.append(len(sections) + 1)
                sections.append(
                    {
                        "id": len(sections) + 1,
                        "survey_id": number,
                        "position": position,
                        "title": heading,
                    }
                )
            self.questions[number] = []
            asked = QUESTIONS[: self.sizes.questions]
            for position, (section, kind, text, labels, extra) in enumerate(asked):
                question = {
                    "id": len(questions) + 1,
                    "survey_id": number,
                    "section_id": section_ids[section],
                    "position": position,
                    "kind": kind,
                    "text": text,
                    "help_text": "",
                    "is_required": False,
                    "min_choices": None,
                    "max_choices": None,
                    "scale_low_label": "",
                    "scale_high_label": "",
                    "has_other": False,
                    "is_randomised": False,
                    **extra,
                }
                questions.append(question)
                question["options"] = []
                for place, label in enumerate(labels):
                    option = {
                        "id": len(options) + 1,
                        "question_id": question["id"],
                        "position": place,
                        "label": label,
                    }
                    options.append(option)
                    question["options"].append(option["id"])
                self.questions[number].append(question)
            links.append({"survey_id": number, "project_id": self.big["id"]})
        if self.published[-1] is not self.big:
            links.append({"survey_id": closed, "project_id": self.published[-1]["id"]})
        responses, answers, participations, staged = [], [], [], []
        for (_title, _o, _c, _state, share), survey in zip(specs, surveys, strict=True):
            sets = int(sizes.answer_sets * share)
            if not sets:
                continue
            closed = survey["id"] <= self.survey_ids["closed"]
            waiting = 0 if closed else 3  # below the flush batch: still staged
            people = rng.sample(self.people, min(len(self.people), sets + waiting))
            if closed:  # the resident took part in every closed survey
                people[0] = self.account_ids["resident"]
            window = max(1, (min(self.now, survey["closes_at"]) - survey["opens_at"]).days)
            for index, person in enumerate(people):
                day = (survey["opens_at"] + dt.timedelta(days=rng.randint(0, window - 1))).date()
                participations.append(
                    {"survey_id": survey["id"], "user_id": person, "participated_on": day}
                )
                records = self._answers(survey["id"], closed)
                if index < waiting:
                    content = {
                        "h": int(self.now.timestamp() // 3600),
                        "a": [{"q": q, "o": o, "n": n, "t": t} for q, o, n, t, _r in records],
                    }
                    staged.append(
                        {
                            "id": _uuid(rng),
                            "survey_id": survey["id"],
                            # Sealed like the app does (key from SECRET_KEY); padded to 4 KiB.
                            "sealed": self.app["seal"](survey["id"], content, 4096),
                        }
                    )
                    continue
                response = _uuid(rng)
                responses.append({"id": response, "survey_id": survey["id"]})
                answers += [
                    {
                        "id": _uuid(rng),
                        "response_id": response,
                        "question_id": q,
                        "option_id": o,
                        "number": n,
                        "text": t,
                        "review": r,
                    }
                    for q, o, n, t, r in records
                ]
            survey["participant_count"] = len(people)
        # The flush shuffles responses and answers before writing: storage order means nothing.
        rng.shuffle(responses)
        rng.shuffle(answers)
        rng.shuffle(participations)
        self.out.insert("survey", surveys, copy=False)  # JSON column
        self.out.insert("survey_section", sections)
        for question in questions:
            question.pop("options")
        self.out.insert("survey_question", questions)
        self.out.insert("survey_option", options)
        self.out.insert("survey_project", links)
        self.out.insert("survey_participation", participations)
        self.out.insert("survey_staged_response", staged, copy=False)  # binary column
        self.out.insert("survey_response", responses)
        self.out.insert("survey_answer", answers)
        self.answer_sets = len(responses) + len(staged)

    def _answers(self, survey_id: int, closed: bool) -> list[tuple[Any, ...]]:
        """Return one person's answer records: (question, option, number, text, review)."""
        rng = self.rng
        records: list[tuple[Any, ...]] = []
        for question in self.questions[survey_id]:
            qid, kind, opts = question["id"], question["kind"], question["options"]
            if kind == "single":
                if rng.random() < 0.05:
                    records.append((qid, None, None, "mit dem E-Scooter", self._review(closed)))
                else:
                    records.append((qid, rng.choices(opts, [4, 3, 3, 6])[0], None, None, None))
            elif kind == "multiple" and rng.random() < 0.9:
                for option in rng.sample(opts, rng.randint(1, 2)):
                    records.append((qid, option, None, None, None))
            elif kind == "scale":
                records.append(
                    (qid, None, rng.choices(range(1, 6), [1, 2, 4, 3, 1])[0], None, None)
                )
            elif kind == "ranking" and rng.random() < 0.7:
                order = rng.sample(opts, len(opts))
                records += [
                    (qid, option, place, None, None) for place, option in enumerate(order, 1)
                ]
            elif kind == "yes_no" and rng.random() < 0.8:
                records.append((qid, None, int(rng.random() < 0.4), None, None))
            elif kind == "long_text" and rng.random() < 0.2:
                records.append((qid, None, None, self.text((1, 3)), self._review(closed)))
        rng.shuffle(records)  # submit_survey shuffles the records, too
        return records

    def _review(self, closed: bool) -> str:
        if not closed:
            return "pending"
        return self.rng.choices(["published", "rejected", "pending"], [6, 2, 2])[0]

    # --- ratings ----------------------------------------------------------------------------

    def ratings(self) -> None:
        """Write indicator ratings, skewed to popular projects; the resident rated the big one."""
        rng = self.rng
        resident = self.account_ids["resident"]
        published_ids = [p["id"] for p in self.published]
        weights = [1 / (rank + 1) ** 0.6 for rank in range(len(published_ids))]
        pairs = {(self.big["id"], resident)}
        pairs |= {(p["id"], resident) for p in self.published[1 : self.sizes.own]}
        for person in self.people[:7]:  # enough raters on the big project to show its mean
            pairs.add((self.big["id"], person))
        while len(pairs) * 2 < self.sizes.ratings:
            pairs.add((rng.choices(published_ids, weights)[0], rng.choice(self.people)))
        rows = []
        for project, person in sorted(pairs):
            base = rng.randint(2, 5)
            rated_on = self.today - dt.timedelta(days=rng.randint(0, 365))
            for indicator in INDICATORS:
                score = max(1, min(5, base + rng.choice([-1, 0, 0, 1])))
                rows.append(
                    {
                        "project_id": project,
                        "user_id": person,
                        "indicator": indicator,
                        "score": score,
                        "rated_on": rated_on,
                    }
                )
        self.out.insert("project_rating", rows)

    # --- events -----------------------------------------------------------------------------

    def events(self) -> None:  # noqa: C901
        """Write events (upcoming, past with summaries, cancelled, drafts) and registrations.

        Long and branchy on purpose: it writes the rows in the order the module docstring
        describes the data, so the shape reads top to bottom in one place.
        """
        rng, sizes = self.rng, self.sizes
        events, links, registrations = [], [], []
        published_ids = [p["id"] for p in self.published]
        for number in range(1, sizes.events + 1):
            # About a third lies ahead, the rest over the last two years.
            offset = {1: 11, 2: 12, 3: 13, 4: -30}.get(number) or rng.uniform(-700, 60)
            starts = (self.now + dt.timedelta(days=offset)).replace(minute=0, second=0)
            past = starts < self.now
            state = "published"
            if number == 3:
                state = "draft"
            elif number == 2 or (number > 4 and rng.random() < 0.05):
                state = "cancelled"
            online = rng.random() < 0.3
            capacity = None if rng.random() < 0.2 else rng.choice([10, 20, 30, 60])
            if number == 1:
                capacity = 10  # the full one with a waiting list
            event = {
                "id": number,
                "uid": _uuid(rng),
                "title": f"{rng.choice(TOPICS)}: {rng.choice(EVENT_KINDS)}",
                "description": self.text((2, 6)),
                "starts_at": starts,
                "ends_at": starts + dt.timedelta(hours=rng.choice([1, 2, 3])),
                "language": "de",
                "place": "" if online else f"Stadtteilbüro {rng.choice(DISTRICTS)}",
                "step_free": rng.random() < 0.7,
                "hearing_loop": rng.random() < 0.3,
                "sign_language": rng.random() < 0.2,
                "accessibility_note": "",
                "online_url": "https://meet.bench.kldialog.invalid/raum" if online else "",
                "capacity": capacity,
                "state": state,
                "registered_count": 0,
                "waiting_count": 0,
                "sequence": 0,
                "cancel_reason": "Die Referentin ist erkrankt." if state == "cancelled" else "",
                "summary": self.text((3, 8)) if past and state == "published" else "",
                "summary_published_at": starts + dt.timedelta(days=2)
                if past and state == "published"
                else None,
                "created_at": starts - dt.timedelta(days=40),
                "updated_at": starts - dt.timedelta(days=30),
                "published_at": None if state == "draft" else starts - dt.timedelta(days=30),
                "cancelled_at": starts - dt.timedelta(days=3) if state == "cancelled" else None,
            }
            events.append(event)
            for project in rng.sample(published_ids, min(len(published_ids), rng.randint(1, 3))):
                links.append({"event_id": number, "project_id": project})
            if state == "draft" or past:
                continue  # registrations are deleted the day after an event
            wanted = (capacity or 25) + (3 if number == 1 else 0)
            people = rng.sample(self.people, min(len(self.people), rng.randint(1, wanted)))
            if number == 1:  # full, two waiting, then the resident third on the list
                people = [*rng.sample(self.people, capacity + 2), self.account_ids["resident"]]
            for place, person in enumerate(people):
                status = "registered" if capacity is None or place < capacity else "waiting"
                if state == "cancelled":
                    status = "registered"  # cancelling keeps nobody waiting
                    if capacity is not None and place >= capacity:
                        break
                joined = starts - dt.timedelta(days=20, minutes=-place)
                registrations.append(
                    {
                        "event_id": number,
                        "user_id": person,
                        "email": None,
                        "language": "de",
                        "status": status,
                        "created_at": joined,
                        "joined_at": joined,
                        "reminded_at": None,
                    }
                )
                event["registered_count" if status == "registered" else "waiting_count"] += 1
        self.event_ids = {"upcoming": 1, "cancelled": 2, "draft": 3, "past": 4}
        # Two visitors without an account on the upcoming event: one confirmed, one not yet.
        full = events[0]
        for email, status in (("besuch@bench.kldialog.invalid", "waiting"),
                              ("neu@bench.kldialog.invalid", "pending")):  # fmt: skip
            registrations.append(
                {
                    "event_id": full["id"],
                    "user_id": None,
                    "email": email,
                    "language": "de",
                    "status": status,
                    "created_at": self.ago(hours=2),
                    "joined_at": self.ago(hours=1) if status == "waiting" else None,
                    "reminded_at": None,
                }
            )
            if status == "waiting":
                full["waiting_count"] += 1
        for number, row in enumerate(registrations, start=1):
            row["id"] = number
        self.registration_ids = {row["status"]: row["id"] for row in registrations[-2:]}
        self.out.insert("event", events)
        self.out.insert("event_project", links)
        self.out.insert("event_registration", registrations)

    # --- administration ---------------------------------------------------------------------

    def administration(self) -> None:
        """Write residency codes and the audit log (roles, blocks, projects, rounds, surveys)."""
        rng, sizes = self.rng, self.sizes
        admin, staff = self.account_ids["admin"], self.account_ids["staff"]
        codes = []
        for number in range(1, sizes.residency_codes + 1):
            batch = ["Brief 2026-03", "Brief 2026-09", "Nachdruck 2026-11"][number % 3]
            codes.append(
                {
                    "id": number,
                    "batch": batch,
                    "created_by_id": staff,
                    "code_hash": hashlib.sha256(f"bench-code-{number}".encode()).hexdigest(),
                    "created_at": self.ago(days=[250, 70, 10][number % 3]),
                }
            )
        self.out.insert("residency_code", codes)
        kinds = [
            ("role.granted", "user", lambda: rng.choice(self.people), admin),
            ("user.blocked", "user", lambda: rng.choice(self.people), admin),
            ("project.updated", "project", lambda: rng.choice(self.projects)["id"], staff),
            ("project.status_changed", "project", lambda: rng.choice(self.projects)["id"], staff),
            ("survey.update", "survey", lambda: self.survey_ids["closed"], staff),
        ]
        entries = []
        for index in range(sizes.audit_entries):
            action, target, pick, actor = kinds[index % len(kinds)]
            at = self.ago(days=(sizes.audit_entries - index) * 700 / sizes.audit_entries)
            entries.append((action, target, pick(), {}, at, actor))
        entries += [(a, t, i, d, at, None) for a, t, i, d, at in self.round_audit]
        entries.sort(key=lambda entry: entry[4])
        self.out.insert(
            "audit_entry",
            [
                {
                    "id": number,
                    "created_at": at,
                    "actor_id": actor,
                    "action": action,
                    "target_type": target,
                    "target_id": target_id,
                    "reason": "",
                    "details": details,
                }
                for number, (action, target, target_id, details, at, actor) in enumerate(entries, 1)
            ],
            copy=False,  # JSON column
        )

    # --- facts ------------------------------------------------------------------------------

    @property
    def facts(self) -> Facts:
        """Return what the pages and tests need to know about the data."""
        plain = next(p for p in self.published[1:] if p["thread_id"] is not None)
        archived = next(p for p in self.projects if p["state"] == "archived")
        draft = next(p for p in self.projects if p["state"] == "draft")
        words = self.big["search_text"].split()
        return Facts(
            scale=self.sizes.scale,
            password=BENCH_PASSWORD,
            emails={role: f"{role}@bench.kldialog.invalid" for role in ACCOUNTS},
            user_ids=dict(self.account_ids),
            big_project=self.big["slug"],
            project=plain["slug"],
            archived_project=archived["slug"],
            draft_project_id=draft["id"],
            big_project_id=self.big["id"],
            category_id=self.big["category_id"],
            closed_round=self.round_ids["closed"],
            points_round=self.round_ids["points"],
            open_round=self.round_ids["open"],
            upcoming_round=self.round_ids["upcoming"],
            draft_round=self.round_ids["draft"],
            closed_survey=self.survey_ids["closed"],
            open_survey=self.survey_ids["open"],
            draft_survey=self.survey_ids["draft"],
            draft_question=self.questions[self.survey_ids["draft"]][0]["id"],
            hot_comment=self.hot["id"],
            own_comment=self.own["id"],
            own_hidden_comment=self.own_hidden["id"],
            reported_comment=self.reported["id"],
            keyword_id=1,
            upcoming_event=self.event_ids["upcoming"],
            past_event=self.event_ids["past"],
            draft_event=self.event_ids["draft"],
            cancelled_event=self.event_ids["cancelled"],
            pending_registration=self.registration_ids["pending"],
            email_registration=self.registration_ids["waiting"],
            follow=self.follow,
            search_word=max(words[:3], key=len),
            big_discussion=self.big_comments,
            rows=dict(self.out.rows),
            ballots_in_files=getattr(self, "ballot_lines_in_files", 0),
        )


def generate(scale: float = 1.0, *, seed: int = SEED) -> Facts:
    """Fill the current app's empty database at this scale; return the facts about it."""
    import time

    db = _db()
    users = _tables()["user_account"]
    if db.session.scalar(sa.select(sa.func.count()).select_from(users)):
        raise RuntimeError("bulkdata.generate needs an empty database")
    start = time.perf_counter()
    facts = _Generator(Sizes.at(scale), seed).run()
    # Ended surveys are closed as the cron (`flask surveys flush`) closes them: no page view
    # ever does, so without this their results would say "being prepared".
    from kldialog.surveys import retention

    retention.close_due_surveys()
    facts.seconds = time.perf_counter() - start
    return facts


def main() -> None:
    """Generate into a database given on the command line (for trying it out)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="an empty database, e.g. sqlite:////tmp/bench.sqlite")
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    import sys

    sys.path.insert(0, str(ROOT))
    from kldialog import create_app, normalise_database_url

    app = create_app(
        {
            "SECRET_KEY": "bulkdata-" + "x" * 32,
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(args.database_url),
        }
    )
    with app.app_context():
        _db().create_all()
        facts = generate(args.scale)
        _db().engine.dispose()
    print(json.dumps(facts.as_json(), indent=1, default=str))


if __name__ == "__main__":
    main()
