"""Flask CLI commands: roadmap import/export and demo data."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.deploy_check import check_command
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.static import static_files
from kldialog.personal_data.services import purge_unconfirmed
from kldialog.projects import services as roadmap
from kldialog.projects.models import Project

BUNDLED_ROADMAP = "roadmap-kaiserslautern-2019.json"

roadmap_cli = AppGroup("roadmap", help="Import and export the roadmap (JSON or CSV).")
users_cli = AppGroup("users", help="Create accounts and grant or revoke roles.")
maintenance_cli = AppGroup("maintenance", help="Retention jobs; run daily from cron.")
ROLE_NAMES = [role.name for role in Role]
demo_cli = AppGroup("demo", help="Demo data for `make run` (only with DEMO enabled).")
rounds_cli = AppGroup("rounds", help="Priority rounds: close ended rounds, recount a ballot file.")


@roadmap_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "json", "csv"]),
    default="auto",
    help="File format; by default taken from the file name's ending.",
)
@click.option(
    "--as-of",
    help="Date of status changes: YYYY-MM-DD or YYYY-MM (default: the file's as_of, else today).",
)
@click.option(
    "--author", default="", help="Who is accountable for the status changes, e.g. a department."
)
@click.option("--dry-run", is_flag=True, help="Check the file and report, but change nothing.")
def import_command(file: Path, fmt: str, as_of: str | None, author: str, dry_run: bool) -> None:
    """Import or update the roadmap from FILE; matched by slug, all or nothing.

    The same service as the staff console's upload: audit-logged, followers of projects whose
    status changed get their e-mail (links use PUBLIC_URL).
    """
    name = file.name if fmt == "auto" else f"{file.stem}.{fmt}"
    try:
        parsed, detected = roadmap.read_roadmap_upload(
            file.read_bytes(), name, as_of=as_of or "", author=author
        )
    except roadmap.RoadmapError as error:
        raise click.ClickException(
            f"{file}: nothing was imported, {len(error.problems)} problem(s):\n  "
            + "\n  ".join(error.problems)
        ) from error
    if dry_run:
        click.echo(f"{file}: valid, {len(parsed.projects)} project(s); nothing changed (dry run).")
        return
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        report = roadmap.import_roadmap_upload(None, parsed, filename=file.name, fmt=detected)
    click.echo(
        f"{file}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.categories_created} new categories."
    )


@roadmap_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
def export_command(fmt: str, output: Path | None) -> None:
    """Export the whole roadmap as JSON (with history and updates) or CSV."""
    if fmt == "json":
        text = json.dumps(roadmap.export_roadmap_json(), ensure_ascii=False, indent=2) + "\n"
    else:
        text = roadmap.export_roadmap_csv()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)


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
        report = roadmap.import_roadmap(roadmap.parse_roadmap_json(json.loads(text)))
        click.echo(f"Demo: loaded the Kaiserslautern roadmap ({report.created} projects).")
    for email, name, roles in DEMO_ACCOUNTS:
        if accounts.find_user_by_email(email) is None:
            user = accounts.create_confirmed_user(
                email=email, password=DEMO_PASSWORD, display_name=name, roles=roles
            )
            if email.startswith("verifiziert"):
                user.is_verified = True
                db.session.commit()
    _load_demo_discussion()
    _load_demo_rounds()
    _load_demo_survey()
    _load_demo_events()
    click.echo(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
    for email, name, roles in DEMO_ACCOUNTS:
        label = ", ".join(role.name for role in roles) or "resident"
        click.echo(f"  {email:38} {name:18} {label}")


@users_cli.command("create")
@click.argument("email")
@click.option("--name", "display_name", prompt="Display name", help="Public display name.")
@click.option(
    "--role", "roles", multiple=True, type=click.Choice(ROLE_NAMES), help="Repeat for several."
)
@click.password_option(help="Asked for when not given (never put it in shell history).")
def users_create(email: str, display_name: str, roles: tuple[str, ...], password: str) -> None:
    """Create a confirmed account, e.g. the first administrator."""
    try:
        user = accounts.create_confirmed_user(
            email=email,
            password=password,
            display_name=display_name,
            roles=[Role[name] for name in roles],
        )
    except RuleViolation as error:
        raise click.ClickException(error.message) from error
    click.echo(f"Created account {user.id} ({', '.join(r.name for r in user.role_list())}).")


@users_cli.command("grant")
@click.argument("role", type=click.Choice(ROLE_NAMES))
@click.argument("email")
@click.option("--reason", default="granted on the command line", help="Kept in the audit log.")
def users_grant(role: str, email: str, reason: str) -> None:
    """Give an account a role."""
    _change_role(email, Role[role], True, reason)


@users_cli.command("revoke")
@click.argument("role", type=click.Choice(ROLE_NAMES))
@click.argument("email")
@click.option("--reason", default="revoked on the command line", help="Kept in the audit log.")
def users_revoke(role: str, email: str, reason: str) -> None:
    """Take a role away from an account."""
    _change_role(email, Role[role], False, reason)


def _change_role(email: str, role: Role, grant: bool, reason: str) -> None:
    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account with the address {email}.")
    try:
        accounts.set_role(None, user, role, grant, reason)
    except RuleViolation as error:
        raise click.ClickException(error.message) from error
    click.echo(f"{email}: {', '.join(r.name for r in user.role_list()) or 'no roles'}.")


@maintenance_cli.command("purge")
def maintenance_purge() -> None:
    """Delete accounts left unconfirmed for longer than UNCONFIRMED_ACCOUNT_DAYS."""
    removed = purge_unconfirmed()
    click.echo(f"Purged {removed} unconfirmed account(s).")
    from kldialog.surveys import retention

    closed, moved = retention.close_due_surveys()
    purged = retention.purge_raw_answers()
    click.echo(
        f"Closed {closed} survey(s) ({moved} staged survey answer set(s) moved, answer sets "
        f"rewritten, final results released); deleted the raw answers of {purged} survey(s) "
        "past SURVEY_RETENTION_MONTHS (results kept)."
    )
    _purge_event_registrations()


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
    from kldialog.comments import services as comments
    from kldialog.comments.models import Comment, ReportReason

    if db.session.scalar(sa.select(sa.func.count()).select_from(Comment)):
        return
    people = {
        email.split("@")[0]: accounts.find_user_by_email(email) for email, _n, _r in DEMO_ACCOUNTS
    }
    for slug, author, text, replies in DEMO_COMMENTS:
        project = roadmap.get_project_by_slug(slug)
        if project is None:
            continue
        thread = roadmap.thread_of(project, create=True)
        comment = comments.post_comment(people[author], thread, text)
        for reply_author, reply_text in replies:
            comments.post_comment(people[reply_author], thread, reply_text, parent=comment)
        supporter = people["rat"] if author != "rat" else people["einwohnerin"]
        comments.support_comment(supporter, comment)
    project = roadmap.get_project_by_slug(DEMO_REPORTED[0])
    if project is not None:
        thread = roadmap.thread_of(project, create=True)
        comment = comments.post_comment(people[DEMO_REPORTED[1]], thread, DEMO_REPORTED[2])
        for reporter in ("verifiziert", "rat", "verwaltung"):
            comments.report_comment(
                people[reporter], comment, ReportReason.offensive, "Beleidigend."
            )
    click.echo("Demo: loaded a few comments, one of them reported and waiting for moderation.")


def register_commands(app: Flask) -> None:
    """Attach the command groups to `flask`."""
    app.cli.add_command(roadmap_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(maintenance_cli)
    app.cli.add_command(codes_cli)
    app.cli.add_command(rounds_cli)
    app.cli.add_command(surveys_cli)
    app.cli.add_command(check_command)
    app.cli.add_command(events_cli)


# --- residency codes ---------------------------------------------------------------------------

codes_cli = AppGroup("codes", help="Residency codes: generate a batch to print and post.")
_STYLESHEET_LINK = re.compile(r'<link rel="stylesheet" href="([^"]+)">')
_ICON_LINK = re.compile(r'<link rel="icon"[^>]*>\n?')


@codes_cli.command("generate")
@click.argument("count", type=click.IntRange(1, accounts.RESIDENCY_CODES_MAX))
@click.option("--batch", help="Name of the batch, e.g. the mailing (default: today's date).")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write printable letters (HTML, one code per page) to this new file; "
    "without it, print the codes one per line.",
)
@click.option("--language", help="Language of the letters (default: the site's default).")
@click.option(
    "--base-url",
    help="Address of the site printed in the letters, e.g. https://beteiligung.example.org "
    "(default: SERVER_NAME, else http://localhost).",
)
def codes_generate(
    count: int, batch: str | None, output: Path | None, language: str | None, base_url: str | None
) -> None:
    """Generate COUNT one-time residency codes; only their hashes are stored.

    The plaintext exists only in the output: print it, post it, then delete the file.
    """
    language = language or current_app.config["BABEL_DEFAULT_LOCALE"]
    languages = current_app.config["LANGUAGES"]
    if language not in languages:
        raise click.ClickException(f"Unknown language {language!r}; use {', '.join(languages)}.")
    fd = None
    if output is not None:
        # A new file, readable only by its owner: the codes are secrets until they are posted,
        # and an older sheet must never be overwritten.
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as error:
            raise click.ClickException(
                f"{output} exists already; choose a new file name (sheets are never overwritten)."
            ) from error
        except OSError as error:
            raise click.ClickException(f"{output}: {error.strerror}") from error
    label = accounts.clean_batch_label(batch or dt.date.today().isoformat())
    try:
        codes = accounts.generate_residency_codes(None, count, label)
    except RuleViolation as error:
        if fd is not None:
            os.close(fd)
            output.unlink()  # type: ignore[union-attr]
        raise click.ClickException(error.message) from error
    if fd is None:
        for code in codes:
            click.echo(code)
        click.echo(
            f"Generated {count} code(s) in batch {label!r}; only hashes are stored.", err=True
        )
        return
    html = _printable_code_sheet(codes, label, language, base_url)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(html)
    click.echo(
        f"Wrote {count} code(s) of batch {label!r} to {output}. Only their hashes are stored: "
        "keep the file safe and delete it once the letters are printed.",
        err=True,
    )


def _printable_code_sheet(codes: list[str], batch: str, language: str, base_url: str | None) -> str:
    """Render the web page's printable sheet as a file that works when opened from disk."""
    from kldialog.admin.views import render_code_sheet

    if not base_url:
        server = current_app.config.get("SERVER_NAME")
        base_url = f"{current_app.config['PREFERRED_URL_SCHEME']}://{server}" if server else None
    if not base_url:
        click.echo(
            "Warning: the letters point to http://localhost; pass --base-url with the site's "
            "public address.",
            err=True,
        )
    with current_app.test_request_context("/admin/codes", base_url=base_url or "http://localhost"):
        html = render_code_sheet(codes, batch, language)
    html = _STYLESHEET_LINK.sub(_inline_stylesheet, html)
    return _ICON_LINK.sub("", html)  # a file opened from disk has no /static/ beside it


def _inline_stylesheet(match: re.Match[str]) -> str:
    """Replace a link to one of the app's stylesheets by its content (fonts fall back)."""
    static_url = current_app.static_url_path + "/"
    href = match.group(1).split("?", 1)[0]
    if not href.startswith(static_url) or "fonts/" in href:
        return ""  # web fonts load relative files; the printer's sans-serif is fine
    body = static_files(current_app).body(href[len(static_url) :])  # the name is hashed
    return f"<style>\n{body.decode('utf-8')}\n</style>" if body is not None else ""


# --- priority rounds -------------------------------------------------------------------------


@rounds_cli.command("close-due")
def rounds_close_due() -> None:
    """Close every round whose window has ended: freeze results, anonymise the ballots.

    Run it from cron every few minutes: closing never happens on a visitor's request, so
    until this runs (or staff close the round) its results page says they are being prepared.
    """
    from kldialog.priorities import services as priorities

    due = priorities.rounds_due()
    for round_ in due:
        result = priorities.close_round(round_)
        click.echo(f"Closed round {round_.id} “{round_.title}”: sha256 {result.ballot_sha256}")
    click.echo(f"{len(due)} round(s) closed.")


@rounds_cli.command("recount")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--expect",
    metavar="SHA256",
    default=None,
    help="The hash published on the results page; a different file fails (exit status 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full results as JSON.")
@click.option("--samples", type=click.IntRange(10, 100_000), default=None, help="Resamples.")
@click.option("--min-group-size", type=click.IntRange(1, 1000), default=None)
def rounds_recount(
    file: Path, expect: str | None, as_json: bool, samples: int | None, min_group_size: int | None
) -> None:
    """Recompute a round's results from its published ballot file alone.

    With --expect, the file's SHA-256 must equal the published one: a changed byte fails
    before anything is counted, so a tampered file never yields a result with exit status 0.
    """
    from kldialog.priorities import services as priorities

    expected = (expect or "").strip().lower()
    if expect is not None and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise click.BadParameter("a SHA-256 is 64 hexadecimal digits", param_hint="--expect")
    data = file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if expect is not None and digest != expected:
        raise click.ClickException(
            f"{file}: sha256 {digest} differs from the expected {expected}; "
            "the file is not the published one"
        )
    try:
        text = data.decode("utf-8")
        results = priorities.compute_results(
            text,
            samples=samples or current_app.config["ROUND_BOOTSTRAP_SAMPLES"],
            min_group_size=min_group_size or current_app.config["ROUND_MIN_GROUP_SIZE"],
        )
    except UnicodeDecodeError:
        raise click.ClickException(f"{file}: not UTF-8 text") from None
    except priorities.BallotFileError as error:
        raise click.ClickException(f"{file}: {error}") from None
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=2, sort_keys=True))
        return
    click.echo(f"sha256 {digest}" + (" (as expected)" if expect is not None else ""))
    click.echo(f"method {results['method']}, n = {results['n']} ballots")
    if results["suppressed"]:
        click.echo("fewer ballots than the minimum group size: no shares published")
        return
    click.echo("tier  ranks    supporters  points  share   95 % interval    project")
    for p in results["projects"]:
        click.echo(
            f"{p['tier']:>4}  {p['rank_low']:>3}–{p['rank_high']:<3}  {p['supporters']:>10}  "
            f"{p['points']:>6}  {p['share']:6.1%}  {p['share_low']:6.1%}–{p['share_high']:6.1%}  "
            f"{p['title']}"
        )


def _load_demo_rounds() -> None:
    """Add an open approval round with a few ballots and a closed points round with results."""
    import random

    from kldialog.priorities import services as priorities
    from kldialog.priorities.models import (
        Indicator,
        Method,
        PriorityRound,
        RoundProject,
        RoundState,
    )

    if db.session.scalar(sa.select(sa.func.count()).select_from(PriorityRound)):
        return
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    staff = accounts.find_user_by_email("verwaltung@demo.kldialog.invalid")
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
            eligibility=priorities.Eligibility.resident,
            show_running_totals=False,
            opens_at=now - dt.timedelta(days=3),
            closes_at=now + dt.timedelta(days=28),
            project_ids=priorities.default_project_ids(),
        ),
    )
    priorities.publish_round(staff, open_round)
    entries = priorities.round_entries(open_round)
    chooser = random.Random(2026)  # noqa: S311  (demo data, not security)
    for email in ("verifiziert@demo.kldialog.invalid", "rat@demo.kldialog.invalid"):
        picks = chooser.sample([e.project_id for e in entries], k=min(4, len(entries)))
        priorities.cast_ballot(
            accounts.find_user_by_email(email), open_round, dict.fromkeys(picks, 1)
        )
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
    ballots, days = [], {}
    for _ in range(240):
        left, ballot = 10, {}
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
    # Six demo accounts rate two projects, enough for the aggregate to show (k = 5).
    scores = {"handyparken": (5, 4, 4, 5, 3, 4), "intelligente-verkehrslenkung": (4, 3, 5, 4, 4, 2)}
    for slug, values in scores.items():
        project = roadmap.get_project_by_slug(slug)
        if project is None:
            continue
        for (email, _name, _roles), value in zip(DEMO_ACCOUNTS, values, strict=True):
            priorities.rate_project(
                accounts.find_user_by_email(email),
                project,
                {Indicator.benefit: value, Indicator.data_care: max(1, value - 1)},
            )
    click.echo(
        "Demo: an open priority round with two ballots, a closed round with results, "
        "indicator ratings of two projects."
    )


# --- surveys ---------------------------------------------------------------------------------

surveys_cli = AppGroup("surveys", help="Surveys: move staged answers into the answer table.")


@surveys_cli.command("flush")
def surveys_flush() -> None:
    """Move staged answers (full batches; short ones after SURVEY_FLUSH_MAX_HOURS); close."""
    from kldialog.surveys import retention, storage

    report = storage.flush_due()
    closed, moved = retention.close_due_surveys()
    click.echo(
        f"Flushed {report.moved + moved} staged survey answer set(s); closed {closed} survey(s)."
    )
    for survey_id in report.waiting:
        click.echo(
            f"Survey {survey_id}: fewer than SURVEY_MIN_GROUP_SIZE answer sets in all, so its "
            "staged answers stay staged (encrypted) until more arrive or it closes."
        )


def _load_demo_survey() -> None:
    """Add an open survey about the traffic guidance project, with a randomised question (once)."""
    from kldialog.surveys import builder as surveys
    from kldialog.surveys.models import Eligibility, QuestionKind, Survey

    if db.session.scalar(sa.select(sa.func.count()).select_from(Survey)):
        return
    staff = accounts.find_user_by_email("verwaltung@demo.kldialog.invalid")
    project = roadmap.get_project_by_slug("intelligente-verkehrslenkung")
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
    )
    first = survey.sections[0]
    first.title = "Ihre Wege"
    ask = surveys.save_question
    ask(staff, survey, None, section_id=first.id, kind=QuestionKind.single, is_required=True,
        text="Wie kommen Sie meistens in die Innenstadt?", has_other=True,
        options=["zu Fuß", "mit dem Rad", "mit Bus oder Bahn", "mit dem Auto"])  # fmt: skip
    ask(staff, survey, None, section_id=first.id, kind=QuestionKind.multiple, max_choices=2,
        text="Was stört Sie im Verkehr am meisten?", help_text="Denken Sie an Ihre üblichen Wege.",
        options=["Staus", "Parkplatzsuche", "lange Ampelphasen", "Lärm", "Abgase"])  # fmt: skip
    ask(staff, survey, None, section_id=first.id, kind=QuestionKind.scale, is_required=True,
        text="Wie zufrieden sind Sie mit dem Verkehr in der Innenstadt?",
        scale_low_label="gar nicht zufrieden", scale_high_label="sehr zufrieden")  # fmt: skip
    second = surveys.add_section(staff, survey, "Daten und Datenschutz")
    ask(staff, survey, None, section_id=second.id, kind=QuestionKind.ranking,
        text="Was ist Ihnen bei der Verkehrslenkung am wichtigsten?",
        options=["Sicherheit", "schnelles Vorankommen", "Umwelt", "Datenschutz"])  # fmt: skip
    ask(staff, survey, None, section_id=second.id, kind=QuestionKind.yes_no, is_randomised=True,
        text="Sind Sie im letzten Jahr bewusst über eine rote Ampel gefahren?")  # fmt: skip
    ask(staff, survey, None, section_id=second.id, kind=QuestionKind.long_text,
        text="Was sollte die Stadt bei der Verkehrslenkung noch bedenken?")  # fmt: skip
    surveys.publish_survey(staff, survey)
    click.echo("Demo: loaded an open survey about the intelligent traffic guidance.")


# --- events ----------------------------------------------------------------------------------

events_cli = AppGroup("events", help="Events: reminder mail and deleting registrations.")


def _purge_event_registrations() -> None:
    from kldialog.events import services as events

    removed = events.purge_registrations()
    click.echo(
        f"Deleted {removed} event registration(s): events over since yesterday, or never "
        "confirmed within EVENT_CONFIRM_HOURS."
    )


@events_cli.command("purge")
def events_purge() -> None:
    """Delete registrations the day after their event, and unconfirmed ones (cron)."""
    _purge_event_registrations()


@events_cli.command("send-reminders")
def events_send_reminders() -> None:
    """Mail everyone with a place at an event today or tomorrow, once each (cron, daily or more)."""
    from kldialog.events import services as events

    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        sent = events.send_reminders()
    click.echo(f"Sent {sent} event reminder(s).")


def _load_demo_events() -> None:
    """Add an upcoming event about a project and a past one with its summary (once)."""
    from kldialog.events import services as events
    from kldialog.events.models import Event, EventState

    if db.session.scalar(sa.select(sa.func.count()).select_from(Event)):
        return
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        _add_demo_events(events, Event, EventState)
    click.echo("Demo: an upcoming event with one registration, a past event with its summary.")


def _add_demo_events(events: Any, Event: Any, EventState: Any) -> None:  # noqa: N803
    """Create the two demo events (inside a request context: the registration mails links)."""
    staff = accounts.find_user_by_email("verwaltung@demo.kldialog.invalid")
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    soon = (dt.datetime.now(zone) + dt.timedelta(days=9)).replace(
        hour=18, minute=0, second=0, microsecond=0
    )
    traffic = roadmap.get_project_by_slug("intelligente-verkehrslenkung")
    upcoming = events.create_event(
        staff,
        events.EventFields(
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
    events.publish_event(staff, upcoming)
    resident = accounts.find_user_by_email("einwohnerin@demo.kldialog.invalid")
    if resident is not None:
        events.register_resident(resident, upcoming)
    # A past event with its summary: written directly, as the services accept only future dates.
    past_start = (dt.datetime.now(zone) - dt.timedelta(days=30)).replace(
        hour=17, minute=0, second=0, microsecond=0
    )
    data = roadmap.get_project_by_slug("offene-plattform-fuer-staedtische-und-verwaltungsdaten")
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
