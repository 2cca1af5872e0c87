"""`flask demo load`: the showroom of `make run` (roadmap, accounts, comments, rounds, events).

Only with DEMO enabled. Everything goes through the features' services, as a person would do it,
except what the services refuse on purpose (past events, closed rounds with ballots).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from importlib import resources
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from kldialog.auth import mfa
from kldialog.auth import services as accounts
from kldialog.auth.models import Role, User
from kldialog.comments import services as comments
from kldialog.comments.models import Comment, ReportReason
from kldialog.events import registrations as event_registrations
from kldialog.events import staff as event_staff
from kldialog.events.models import Event, EventState
from kldialog.kernel.db import db
from kldialog.priorities import services as priorities
from kldialog.priorities.models import (
    Indicator,
    Method,
    PriorityRound,
    RoundProject,
    RoundState,
)
from kldialog.projects import reading, roadmap_io, roadmap_parse, threads
from kldialog.projects.models import Project
from kldialog.surveys import builder as surveys
from kldialog.surveys.models import QuestionKind, Survey
from kldialog.windows.models import Eligibility

BUNDLED_ROADMAP = "roadmap-kaiserslautern-2019.json"
demo_cli = AppGroup("demo", help="Demo data for `make run` (only with DEMO enabled).")

# One account per role for the showroom; the password is printed by `make run`.
DEMO_PASSWORD = "kl-dialog-demo"  # noqa: S105  (demo mode only, refused otherwise)
DEMO_ACCOUNTS = [
    ("einwohnerin@demo.kldialog.invalid", "Demo Einwohnerin", []),
    ("verifiziert@demo.kldialog.invalid", "Demo Verifiziert", []),
    ("moderation@demo.kldialog.invalid", "Demo Moderation", [Role.moderator]),
    ("verwaltung@demo.kldialog.invalid", "Demo Verwaltung", [Role.staff]),
    ("rat@demo.kldialog.invalid", "Demo Stadtrat", [Role.council]),
    ("admin@demo.kldialog.invalid", "Demo Admin", [Role.admin]),
]


def _account(email: str) -> User:
    """Return a demo account that `demo load` created a moment ago."""
    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"The demo account {email} is missing.")
    return user


@demo_cli.command("load")
def demo_load_command() -> None:
    """Load the Kaiserslautern roadmap and demo accounts into an empty database (demo only)."""
    if not current_app.config["DEMO"]:
        raise click.ClickException(
            "Demo data is only loaded with DEMO enabled (KLDIALOG_DEMO=true), never in production."
        )
    if db.session.scalar(sa.select(sa.func.count()).select_from(Project)):
        click.echo("Demo: the roadmap is already loaded.")
    else:
        text = resources.files("kldialog").joinpath("data", BUNDLED_ROADMAP).read_text("utf-8")
        report = roadmap_io.import_roadmap(roadmap_parse.parse_roadmap_json(json.loads(text)))
        click.echo(f"Demo: loaded the Kaiserslautern roadmap ({report.created} projects).")
    _load_demo_english()
    for email, name, roles in DEMO_ACCOUNTS:
        if accounts.find_user_by_email(email) is None:
            user = accounts.create_confirmed_user(
                email=email, password=DEMO_PASSWORD, display_name=name, roles=roles
            )
            if email.startswith("verifiziert"):
                user.is_verified = True
                db.session.commit()
            if mfa.is_required_for(user):
                mfa.enable_demo(user)  # the fixed demo secret; the login page shows its code
    _load_demo_discussion()
    _load_demo_rounds()
    _load_demo_survey()
    _load_demo_events()
    click.echo(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
    for email, name, roles in DEMO_ACCOUNTS:
        label = ", ".join(str(role.name) for role in roles) or "resident"
        user = _account(email)
        if user.has_mfa:
            label += " (two-factor login: the code page shows the current code in the demo)"
        click.echo(f"  {email:38} {name:18} {label}")
    if any(_account(email).has_mfa for email, _n, _r in DEMO_ACCOUNTS):
        click.echo(
            f"Demo two-factor secret (for an authenticator app): {mfa.DEMO_SECRET}; "
            f"current code: {mfa.code_at(mfa.DEMO_SECRET, mfa.current_step())}"
        )


# English texts for the English pages: every category and some projects. The other projects
# stay German on purpose, so the showroom also shows the fallback marked lang="de".
DEMO_CATEGORIES_EN = {
    "Bildung": "Education",
    "Datenplattform": "Data platform",
    "Energie & Umwelt": "Energy & environment",
    "Gesellschaft": "Society",
    "Gesundheitswesen": "Health care",
    "IT-Infrastruktur": "IT infrastructure",
    "Handel": "Retail",
    "Justiz": "Justice",
    "Kultur": "Culture",
    "Sicherheit": "Safety",
    "Verkehr & Mobilität": "Transport & mobility",
    "Verwaltung": "Administration",
}
DEMO_PROJECTS_EN = {
    "handyparken": (
        "Mobile parking",
        "Buy parking tickets with a smartphone app and extend the parking time afterwards",
    ),
    "intelligente-verkehrslenkung": ("Smart traffic management", ""),
    "digitalisierung-in-schulen": ("Digital schools", ""),
    "5g-modellregion": ("5G model region", ""),
    "rlp-servicekonto": ("Rhineland-Palatinate service account", ""),
    "socialwall": ("Social wall", "Posts from social media shown at an event"),
    "klar-kaiserslautern-analyse-recherche": (
        "KLAR – Kaiserslautern analysis and research",
        "Data portal for the city administration and the city council of Kaiserslautern",
    ),
    "selbstbedienungsterminal-im-buergercenter": (
        "Self-service terminal in the citizens' office",
        "Apply for identity cards and passports, including biometric data and an automatic photo",
    ),
}


def _load_demo_english() -> None:
    """Give all categories and some projects English texts (leaves ones set by staff alone)."""
    for category in reading.all_categories():
        category.name_en = category.name_en or DEMO_CATEGORIES_EN.get(category.name)
    for slug, (title, summary) in DEMO_PROJECTS_EN.items():
        project = reading.get_project_by_slug(slug)
        if project is not None:
            project.title_en = project.title_en or title
            project.summary_en = project.summary_en or summary or None
    db.session.commit()


# Realistic discussion for the showroom: (project slug, author, text, replies, reports).
DEMO_COMMENTS = [
    (
        "handyparken",
        "einwohnerin",
        "Ich nutze Handyparken fast jeden Tag in der Innenstadt. Praktisch ist, dass man die "
        "Parkzeit vom Café aus verlängern kann. Gibt es Pläne, auch die Parkhäuser einzubinden?",
        [
            (
                "verifiziert",
                "Das würde mich auch interessieren. Im Parkhaus zahlt man immer noch am Automaten.",
            )
        ],
    ),
    (
        "handyparken",
        "verifiziert",
        "Für ältere Menschen ohne Smartphone sollte es weiterhin Automaten geben, die Münzen "
        "annehmen.",
        [],
    ),
    (
        "intelligente-verkehrslenkung",
        "einwohnerin",
        "Welche Daten werden dafür erhoben? Bitte keine Kennzeichenerfassung – anonyme "
        "Zählungen reichen für die Ampelsteuerung.",
        [],
    ),
    (
        "offene-plattform-fuer-staedtische-und-verwaltungsdaten",
        "verifiziert",
        "Gute Sache. Bitte die Daten als CSV und mit offener Lizenz veröffentlichen, damit "
        "Schulen und Vereine sie nutzen können.",
        [],
    ),
]
# A comment three people reported: it waits in the moderation queue of the demo.
DEMO_REPORTED = (
    "5g-modellregion",
    "einwohnerin",
    "Wer so etwas plant, hat keine Ahnung und gehört aus dem Amt gejagt.",
)


def _load_demo_discussion() -> None:
    """Add demo comments, a reply, supports and a reported comment (once)."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Comment)):
        return
    people = {email.split("@")[0]: _account(email) for email, _n, _r in DEMO_ACCOUNTS}
    for slug, author, text, replies in DEMO_COMMENTS:
        project = reading.get_project_by_slug(slug)
        if project is None:
            continue
        thread = threads.thread_of(project, create=True)
        comment = comments.post_comment(people[author], thread, text)
        for reply_author, reply_text in replies:
            comments.post_comment(people[reply_author], thread, reply_text, parent=comment)
        supporter = people["rat"] if author != "rat" else people["einwohnerin"]
        comments.support_comment(supporter, comment)
    project = reading.get_project_by_slug(DEMO_REPORTED[0])
    if project is not None:
        thread = threads.thread_of(project, create=True)
        comment = comments.post_comment(people[DEMO_REPORTED[1]], thread, DEMO_REPORTED[2])
        for reporter in ("verifiziert", "rat", "verwaltung"):
            comments.report_comment(
                people[reporter], comment, ReportReason.offensive, "Beleidigend."
            )
    click.echo("Demo: loaded a few comments, one of them reported and waiting for moderation.")


def _load_demo_rounds() -> None:
    """Add an open approval round with a few ballots and a closed points round with results.

    Long because it is data: the rounds' texts and the random ballots, read top to bottom.
    """
    if db.session.scalar(sa.select(sa.func.count()).select_from(PriorityRound)):
        return
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    staff = _account("verwaltung@demo.kldialog.invalid")
    open_round = priorities.create_round(
        staff,
        priorities.RoundFields(
            title="Welche Projekte sind Ihnen am wichtigsten? (Winter 2026)",
            explanation=(
                "Der Steuerungskreis plant die nächsten Schritte der digitalen Roadmap. "
                "Sagen Sie uns, welche geplanten und laufenden Projekte Ihnen am wichtigsten "
                "sind. Das Ergebnis geht an den Stadtrat."
            ),
            method=Method.approval,
            max_choices=5,
            budget=10,
            max_per_project=3,
            eligibility=Eligibility.resident,
            show_running_totals=False,
            opens_at=now - dt.timedelta(days=3),
            closes_at=now + dt.timedelta(days=28),
            project_ids=priorities.default_project_ids(),
            title_en="Which projects matter most to you? (Winter 2026)",
            explanation_en=(
                "The steering group is planning the next steps of the digital roadmap. Tell "
                "us which planned and ongoing projects matter most to you. The result goes to "
                "the city council."
            ),
        ),
    )
    priorities.publish_round(staff, open_round)
    entries = priorities.round_entries(open_round)
    chooser = random.Random(2026)  # noqa: S311  (demo data, not security)
    for email in ("verifiziert@demo.kldialog.invalid", "rat@demo.kldialog.invalid"):
        picks = chooser.sample([e.project_id for e in entries], k=min(4, len(entries)))
        priorities.cast_ballot(_account(email), open_round, dict.fromkeys(picks, 1))
    # A closed round with results: anonymous ballots drawn at random, as a closed round keeps
    # them (there is no person behind these, so no demo accounts are needed).
    closed = PriorityRound(
        title="Prioritäten für den Haushalt 2026",
        explanation="Verteilen Sie 10 Punkte auf die Projekte, die Ihnen wichtig sind.",
        method=Method.points,
        max_choices=5,
        budget=10,
        max_per_project=3,
        state=RoundState.published,
        opens_at=now - dt.timedelta(days=120),
        closes_at=now - dt.timedelta(days=90),
    )
    closed.entries = [RoundProject(project_id=e.project_id) for e in entries]
    db.session.add(closed)
    db.session.flush()
    closed_entries = priorities.round_entries(closed)
    weights = [chooser.random() ** 2 for _ in closed_entries]
    ballots: list[dict[str, int]] = []
    days: dict[dt.date, int] = {}
    for _ in range(240):
        left, ballot = 10, dict[str, int]()
        while left > 0:
            entry = chooser.choices(closed_entries, weights=weights)[0]
            give = min(left, chooser.randint(1, 3), 3 - ballot.get(entry.project.slug, 0))
            if give <= 0:
                continue
            ballot[entry.project.slug] = ballot.get(entry.project.slug, 0) + give
            left -= give
        ballots.append(ballot)
        day = (closed.opens_at + dt.timedelta(days=chooser.randint(0, 29))).date()
        days[day] = days.get(day, 0) + 1
    priorities.publish_result(closed, closed_entries, ballots, days)
    db.session.commit()
    # Twenty residents rate two projects, varied enough that their means give nobody away
    # (kernel.disclosure.mean_allowed); the six demo accounts and fourteen silent raters.
    raters = [_account(email) for email, _name, _roles in DEMO_ACCOUNTS]
    for number in range(1, 21 - len(raters)):
        raters.append(
            accounts.create_confirmed_user(
                email=f"bewertung{number}@demo.kldialog.invalid",
                password=DEMO_PASSWORD,
                display_name=f"Demo Bewertung {number}",
                roles=[],
            )
        )
    scores = {
        "handyparken": ([5] * 8 + [4] * 7 + [3] * 5, [4] * 7 + [3] * 8 + [2] * 5),
        "intelligente-verkehrslenkung": ([4] * 9 + [3] * 6 + [5] * 5, [2] * 6 + [3] * 9 + [4] * 5),
    }
    for slug, (benefits, data_care) in scores.items():
        project = reading.get_project_by_slug(slug)
        if project is None:
            continue
        for rater, benefit, care in zip(raters, benefits, data_care, strict=True):
            priorities.rate_project(
                rater, project, {Indicator.benefit: benefit, Indicator.data_care: care}
            )
    click.echo(
        "Demo: an open priority round with two ballots, a closed round with results, "
        "indicator ratings of two projects by 20 residents."
    )


def _load_demo_survey() -> None:
    """Add an open survey about the traffic guidance project, with a randomised question (once)."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Survey)):
        return
    staff = _account("verwaltung@demo.kldialog.invalid")
    project = reading.get_project_by_slug("intelligente-verkehrslenkung")
    now = dt.datetime.now(dt.UTC)
    survey = surveys.create_survey(
        staff,
        title="Verkehr in der Innenstadt: Ihre Meinung zur intelligenten Verkehrslenkung",
        intro=(
            "Kaiserslautern plant eine intelligente Verkehrslenkung: Ampeln und Parkleitsystem "
            "sollen auf die aktuelle Verkehrslage reagieren. Bevor die Stadt entscheidet, "
            "welche Daten dafür erhoben werden, möchten wir wissen, was Ihnen wichtig ist.\n\n"
            "Die Umfrage dauert etwa drei Minuten."
        ),
        opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=28),
        eligibility=Eligibility.resident,
        project_ids=[project.id] if project else [],
        title_en="Traffic in the city centre: your view on smart traffic management",
        intro_en=(
            "Kaiserslautern is planning smart traffic management: traffic lights and parking "
            "guidance are to react to the current traffic. Before the city decides which data "
            "to collect for this, we would like to know what matters to you.\n\n"
            "The survey takes about three minutes."
        ),
    )
    first = survey.sections[0]
    first.title, first.title_en = "Ihre Wege", "Your journeys"
    ask = surveys.save_question
    ask(staff, survey, None, section_id=first.id, kind=QuestionKind.single, is_required=True,
        text="Wie kommen Sie meistens in die Innenstadt?", has_other=True,
        text_en="How do you usually get to the city centre?",
        options=["zu Fuß", "mit dem Rad", "mit Bus oder Bahn", "mit dem Auto"],
        options_en=["on foot", "by bike", "by bus or train", "by car"])  # fmt: skip
    ask(staff, survey, None, section_id=first.id, kind=QuestionKind.multiple, max_choices=2,
        text="Was stört Sie im Verkehr am meisten?", help_text="Denken Sie an Ihre üblichen Wege.",
        text_en="What bothers you most about traffic?",
        help_text_en="Think of the journeys you usually make.",
        options=["Staus", "Parkplatzsuche", "lange Ampelphasen", "Lärm", "Abgase"],
        options_en=["traffic jams", "looking for parking", "long red lights", "noise",
                    "exhaust fumes"])  # fmt: skip
    ask(staff, survey, None, section_id=first.id, kind=QuestionKind.scale, is_required=True,
        text="Wie zufrieden sind Sie mit dem Verkehr in der Innenstadt?",
        text_en="How satisfied are you with traffic in the city centre?",
        scale_low_label="gar nicht zufrieden", scale_high_label="sehr zufrieden",
        scale_low_label_en="not satisfied at all",
        scale_high_label_en="very satisfied")  # fmt: skip
    second = surveys.add_section(staff, survey, "Daten und Datenschutz", "Data and privacy")
    ask(staff, survey, None, section_id=second.id, kind=QuestionKind.ranking,
        text="Was ist Ihnen bei der Verkehrslenkung am wichtigsten?",
        text_en="What matters most to you in traffic management?",
        options=["Sicherheit", "schnelles Vorankommen", "Umwelt", "Datenschutz"],
        options_en=["safety", "getting through quickly", "the environment",
                    "data protection"])  # fmt: skip
    ask(staff, survey, None, section_id=second.id, kind=QuestionKind.yes_no, is_randomised=True,
        text="Sind Sie im letzten Jahr bewusst über eine rote Ampel gefahren?",
        text_en="In the past year, did you knowingly go through a red light?")  # fmt: skip
    ask(staff, survey, None, section_id=second.id, kind=QuestionKind.long_text,
        text="Was sollte die Stadt bei der Verkehrslenkung noch bedenken?",
        text_en="What else should the city consider in traffic management?")  # fmt: skip
    surveys.publish_survey(staff, survey)
    click.echo("Demo: loaded an open survey about the intelligent traffic guidance.")


def _load_demo_events() -> None:
    """Add an upcoming event about a project and a past one with its summary (once)."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Event)):
        return
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        _add_demo_events()
    click.echo("Demo: an upcoming event with one registration, a past event with its summary.")


def _add_demo_events() -> None:
    """Create the two demo events (inside a request context: the registration mails links).

    Long because it is data: the texts of the two events.
    """
    staff = _account("verwaltung@demo.kldialog.invalid")
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    soon = (dt.datetime.now(zone) + dt.timedelta(days=9)).replace(
        hour=18, minute=0, second=0, microsecond=0
    )
    traffic = reading.get_project_by_slug("intelligente-verkehrslenkung")
    upcoming = event_staff.create_event(
        staff,
        event_staff.EventFields(
            title="Bürgerdialog: Intelligente Verkehrslenkung",
            description=(
                "Die Stadt stellt die Pläne für die intelligente Verkehrslenkung vor: welche "
                "Ampeln und Parkleitsysteme auf die Verkehrslage reagieren sollen und welche "
                "Daten dafür gebraucht werden – und welche nicht.\n\n"
                "Danach ist Zeit für Ihre Fragen und Ideen. Sie brauchen kein Vorwissen."
            ),
            starts_at=soon.astimezone(dt.UTC),
            ends_at=(soon + dt.timedelta(hours=2)).astimezone(dt.UTC),
            language="de",
            place="Stadtbibliothek Kaiserslautern, Veranstaltungsraum (Erdgeschoss)",
            step_free=True,
            hearing_loop=True,
            sign_language=True,
            accessibility_note="Barrierefreies WC im Erdgeschoss. Gebärdensprache bitte bis "
            "eine Woche vorher anfragen.",
            capacity=40,
            project_ids=[traffic.id] if traffic else [],
        ),
    )
    event_staff.publish_event(staff, upcoming)
    resident = accounts.find_user_by_email("einwohnerin@demo.kldialog.invalid")
    if resident is not None:
        event_registrations.register_resident(resident, upcoming)
    # A past event with its summary: written directly, as the services accept only future dates.
    past_start = (dt.datetime.now(zone) - dt.timedelta(days=30)).replace(
        hour=17, minute=0, second=0, microsecond=0
    )
    data = reading.get_project_by_slug("offene-plattform-fuer-staedtische-und-verwaltungsdaten")
    past = Event(
        title="Werkstatt Offene Daten",
        description="Zwei Stunden zum Ausprobieren: Welche Daten der Stadt möchten Sie nutzen?",
        starts_at=past_start.astimezone(dt.UTC),
        ends_at=(past_start + dt.timedelta(hours=2)).astimezone(dt.UTC),
        language="de",
        place="Rathaus Kaiserslautern, Raum 1.12",
        step_free=True,
        capacity=20,
        registered_count=14,
        state=EventState.published,
        published_at=past_start - dt.timedelta(days=21),
        summary=(
            "14 Teilnehmende haben mit der Stadt über offene Daten gesprochen. Am häufigsten "
            "gewünscht: Fahrplandaten, Parkhausbelegung und die Termine der Müllabfuhr als "
            "offene Datensätze.\n\nDie Stadt prüft bis zum Frühjahr, welche Daten sie zuerst "
            "veröffentlicht, und berichtet hier darüber."
        ),
        summary_published_at=past_start + dt.timedelta(days=2),
    )
    past.projects = [data] if data else []
    db.session.add(past)
    db.session.commit()
