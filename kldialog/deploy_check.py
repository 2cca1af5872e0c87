"""`flask check`: a deployment self-check that names missing or unsafe settings.

Errors are what must be fixed before the site goes live (the command then exits with 1);
warnings are what an operator should look at. Settings are checked without side effects; the
database, Redis and the retention jobs are probed read-only.
"""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click
import sqlalchemy as sa
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.cli import with_appcontext

from kldialog import branding
from kldialog.auth.models import User
from kldialog.config import DEBUG_SECRET_KEY
from kldialog.kernel.db import db
from kldialog.priorities.models import PriorityRound, RoundResult, RoundState
from kldialog.surveys.models import StagedResponse, Survey

ERROR = "error"
WARNING = "warning"
OK = "ok"
GOOD_SECRET_LENGTH = 32
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}

# (schedule, command, why): the jobs a production site runs from cron (docs/deploy.md#cron).
# A command is listed only when this version of KL.dialog has it.
CRON_JOBS = [
    (
        "*/5 * * * *",
        "rounds close-due",
        "closes ended priority rounds: results frozen, ballots made anonymous",
    ),
    (
        "*/10 * * * *",
        "surveys flush",
        "moves staged survey answers into the answer table in shuffled batches",
    ),
    (
        "15 3 * * *",
        "maintenance purge",
        "deletes unconfirmed accounts and raw survey answers past their retention period",
    ),
    ("*/5 * * * *", "mail send-due", "sends queued notification mail"),
]


@dataclass(frozen=True)
class Finding:
    """One line of the report: how bad, about which setting, and what to do."""

    level: str
    topic: str
    message: str


def check_settings(
    config: Mapping[str, Any], instance_path: str, workers: int | None = None
) -> list[Finding]:
    """Check the configuration alone (no network, no database)."""
    findings: list[Finding] = []
    findings += _secret_key(config)
    findings += _modes(config)
    findings += _transport(config)
    findings += _second_factor(config)
    findings += _mail(config)
    findings += _rate_limits(config, workers)
    findings += _page_cache(config)
    findings += _database_url(config)
    findings += _legal_details(config, instance_path)
    findings += _branding(config, instance_path)
    return findings


def _secret_key(config: Mapping[str, Any]) -> list[Finding]:
    key = str(config.get("SECRET_KEY") or "")
    how = "Set a random one: python3 -c 'import secrets; print(secrets.token_hex(32))'."
    if not key:
        return [Finding(ERROR, "SECRET_KEY", f"No SECRET_KEY is set. {how}")]
    if key == DEBUG_SECRET_KEY:
        return [Finding(ERROR, "SECRET_KEY", f"SECRET_KEY is the debug/test key. {how}")]
    if len(key) < 16:
        return [Finding(ERROR, "SECRET_KEY", f"SECRET_KEY has only {len(key)} characters. {how}")]
    if len(set(key)) < 10:
        return [Finding(ERROR, "SECRET_KEY", f"SECRET_KEY looks guessable. {how}")]
    if len(key) < GOOD_SECRET_LENGTH:
        return [
            Finding(
                WARNING,
                "SECRET_KEY",
                f"SECRET_KEY has {len(key)} characters; use at least {GOOD_SECRET_LENGTH}. {how}",
            )
        ]
    return [Finding(OK, "SECRET_KEY", f"set, {len(key)} characters.")]


def _modes(config: Mapping[str, Any]) -> list[Finding]:
    findings = []
    if config.get("DEBUG"):
        findings.append(
            Finding(ERROR, "DEBUG", "Debug mode is on: it shows tracebacks and runs a debugger.")
        )
    if config.get("TESTING"):
        findings.append(
            Finding(ERROR, "TESTING", "TESTING is on: it relaxes checks meant for production.")
        )
    if config.get("DEMO"):
        findings.append(
            Finding(
                ERROR,
                "DEMO",
                "Demo mode is on (KLDIALOG_DEMO): it shows a demo banner and allows loading "
                "demo accounts with a published password. Remove it.",
            )
        )
    if not findings:
        findings.append(Finding(OK, "DEMO", "debug, testing and demo mode are off."))
    return findings


def _transport(config: Mapping[str, Any]) -> list[Finding]:
    """Check TLS, cookies and the reverse proxy against the public address.

    Long because it is a flat list of independent checks read top to bottom by an operator;
    splitting it would only scatter them.
    """
    findings = []
    url = str(config.get("PUBLIC_URL") or "")
    parts = urlsplit(url)
    https = parts.scheme == "https"
    local = (parts.hostname or "") in LOCAL_HOSTS
    if parts.scheme not in ("http", "https") or not parts.hostname:
        findings.append(
            Finding(ERROR, "PUBLIC_URL", f"PUBLIC_URL {url!r} is not an http(s) address.")
        )
    elif local:
        findings.append(
            Finding(
                WARNING,
                "PUBLIC_URL",
                f"PUBLIC_URL is {url}: links in mail sent from cron and the command line point "
                "to this machine. Set the site's public address, e.g. https://beteiligung.stadt.de.",
            )
        )
    elif not https:
        findings.append(
            Finding(
                ERROR,
                "PUBLIC_URL",
                f"PUBLIC_URL {url} is not HTTPS: passwords and session cookies would travel "
                "unencrypted. Serve the site over TLS (docs/deploy.md, nginx).",
            )
        )
    else:
        findings.append(Finding(OK, "PUBLIC_URL", f"{url}"))
    if https:
        for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
            # REMEMBER_COOKIE_SECURE follows SESSION_COOKIE_SECURE unless set on its own.
            value = config.get(key, config.get("SESSION_COOKIE_SECURE"))
            if not value:
                findings.append(
                    Finding(
                        ERROR,
                        key,
                        f"{key} is off while the site is served over HTTPS: the cookie would "
                        f"also be sent over plain HTTP. Set KLDIALOG_{key}=true.",
                    )
                )
        if config.get("SESSION_COOKIE_SECURE"):
            findings.append(
                Finding(OK, "SESSION_COOKIE_SECURE", "cookies are sent over HTTPS only.")
            )
    proxies = int(config.get("PROXY_COUNT") or 0)
    if proxies == 0 and (https or config.get("SESSION_COOKIE_SECURE")):
        findings.append(
            Finding(
                WARNING,
                "PROXY_COUNT",
                "PROXY_COUNT is 0 although the site is served over HTTPS, which usually means "
                "a reverse proxy in front. Behind one nginx set KLDIALOG_PROXY_COUNT=1; "
                "otherwise every visitor has the proxy's address and all share one rate limit.",
            )
        )
    elif proxies:
        findings.append(
            Finding(OK, "PROXY_COUNT", f"X-Forwarded-* of {proxies} proxy/proxies trusted.")
        )
    return findings


def _second_factor(config: Mapping[str, Any]) -> list[Finding]:
    """Two-factor login must be required for the administrative roles (ASVS 4.3.1)."""
    roles = [str(name) for name in config.get("MFA_REQUIRED_ROLES") or ()]
    known = {"resident", "moderator", "staff", "council", "admin"}
    unknown = [name for name in roles if name not in known]
    if unknown:
        return [
            Finding(
                ERROR,
                "MFA_REQUIRED_ROLES",
                f"unknown role names {', '.join(unknown)}: use some of {', '.join(sorted(known))}.",
            )
        ]
    if not roles:
        return [
            Finding(
                ERROR,
                "MFA_REQUIRED_ROLES",
                "is empty: staff and administrators log in with a password alone. "
                'Set MFA_REQUIRED_ROLES = ("admin", "staff").',
            )
        ]
    missing = [name for name in ("admin", "staff") if name not in roles]
    if missing:
        return [
            Finding(
                WARNING,
                "MFA_REQUIRED_ROLES",
                f"{', '.join(missing)} may log in without a second factor.",
            )
        ]
    return [Finding(OK, "MFA_REQUIRED_ROLES", f"two-factor login required for {', '.join(roles)}.")]


def _mail(config: Mapping[str, Any]) -> list[Finding]:
    findings = []
    server = str(config.get("MAIL_SERVER") or "")
    if not server:
        findings.append(
            Finding(
                WARNING,
                "MAIL_SERVER",
                "No MAIL_SERVER: mail is written to files in the outbox folder, so nobody "
                "receives confirmation or password-reset mail.",
            )
        )
    elif not (config.get("MAIL_USE_TLS") or config.get("MAIL_USE_SSL")) and (
        server not in LOCAL_HOSTS
    ):
        findings.append(
            Finding(
                WARNING,
                "MAIL_USE_TLS",
                f"Mail to {server} is sent without STARTTLS or TLS: passwords-reset links "
                "travel unencrypted.",
            )
        )
    else:
        findings.append(Finding(OK, "MAIL_SERVER", f"{server}:{config.get('MAIL_PORT')}"))
    sender = str(config.get("MAIL_FROM") or "")
    if not sender or sender.rstrip(">").endswith(".invalid"):
        findings.append(
            Finding(
                WARNING,
                "MAIL_FROM",
                f"MAIL_FROM is {sender!r}; set an address of the city's domain.",
            )
        )
    return findings


def _rate_limits(config: Mapping[str, Any], workers: int | None) -> list[Finding]:
    if config.get("RATELIMIT_ENABLED", True) is False:
        return [
            Finding(
                ERROR,
                "RATELIMIT_ENABLED",
                "Rate limits are off: logins, registration and votes can be hammered.",
            )
        ]
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if storage.startswith("memory://"):
        text = (
            "RATELIMIT_STORAGE_URI is memory://: every worker process counts on its own, so "
            "each limit is multiplied by the number of workers. Use Redis: "
            "KLDIALOG_RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0."
        )
        if workers is None:
            return [
                Finding(WARNING, "RATELIMIT_STORAGE_URI", text + " Say how many with --workers N.")
            ]
        if workers > 1:
            return [Finding(ERROR, "RATELIMIT_STORAGE_URI", f"{workers} workers: {text}")]
        return [Finding(OK, "RATELIMIT_STORAGE_URI", "memory://, correct for a single worker.")]
    return [Finding(OK, "RATELIMIT_STORAGE_URI", _masked(storage))]


def _page_cache(config: Mapping[str, Any]) -> list[Finding]:
    if not config.get("PAGE_CACHE_ENABLED", True):
        return [Finding(OK, "PAGE_CACHE_ENABLED", "off: every page is rendered.")]
    if config.get("PAGE_CACHE_REDIS_URL"):
        return [Finding(OK, "PAGE_CACHE_REDIS_URL", _masked(str(config["PAGE_CACHE_REDIS_URL"])))]
    return [
        Finding(
            WARNING,
            "PAGE_CACHE_REDIS_URL",
            "The page cache's data version is a file in instance/: right for the workers of one "
            "host; with app servers on several hosts set KLDIALOG_PAGE_CACHE_REDIS_URL.",
        )
    ]


def _database_url(config: Mapping[str, Any]) -> list[Finding]:
    url = str(config.get("SQLALCHEMY_DATABASE_URI") or "")
    if url.startswith("sqlite"):
        return [
            Finding(
                WARNING,
                "DATABASE_URL",
                "The database is SQLite: fine for a trial with one process; production uses "
                "PostgreSQL (several processes, pg_dump backups). Set KLDIALOG_DATABASE_URL.",
            )
        ]
    return []


def _legal_details(config: Mapping[str, Any], instance_path: str) -> list[Finding]:
    """Name the operator's details a German public website must show (or an override)."""
    pages = os.path.join(instance_path, "templates", "pages")
    findings = []
    missing = [
        key
        for key in ("OPERATOR_NAME", "OPERATOR_ADDRESS", "OPERATOR_EMAIL")
        if not config.get(key)
    ]
    if missing and not os.path.exists(os.path.join(pages, "impressum.de.html")):
        findings.append(
            Finding(
                WARNING,
                "Impressum",
                f"{', '.join(missing)} not set: the Impressum and the privacy notice are "
                "incomplete (§ 5 DDG, Art. 13 DSGVO).",
            )
        )
    if not config.get("DATA_PROTECTION_OFFICER") and not os.path.exists(
        os.path.join(pages, "datenschutz.de.html")
    ):
        findings.append(
            Finding(
                WARNING,
                "DATA_PROTECTION_OFFICER",
                "No data protection officer named on the privacy page (Art. 37 DSGVO).",
            )
        )
    if not findings:
        findings.append(Finding(OK, "Impressum", "operator details are set."))
    return findings


def _branding(config: Mapping[str, Any], instance_path: str) -> list[Finding]:
    findings = []
    colour = str(config.get("BRAND_PRIMARY_COLOR") or "").strip()
    if colour and not branding.HEX_COLOUR.match(colour):
        findings.append(
            Finding(
                ERROR,
                "BRAND_PRIMARY_COLOR",
                f"{colour!r} is not a colour like #8a1538; the default colour is used.",
            )
        )
    elif colour:
        ratio = branding.contrast_ratio(colour, "#ffffff")
        if ratio < branding.MIN_CONTRAST:
            findings.append(
                Finding(
                    ERROR,
                    "BRAND_PRIMARY_COLOR",
                    f"{colour} has a contrast of {ratio:.1f}:1 against white; links and "
                    f"buttons need {branding.MIN_CONTRAST}:1 (WCAG 2.1 AA). Choose a darker shade.",
                )
            )
        else:
            findings.append(Finding(OK, "BRAND_PRIMARY_COLOR", f"{colour}, {ratio:.1f}:1."))
    folder = os.path.join(instance_path, "branding")
    for key in ("BRAND_LOGO", "BRAND_FAVICON"):
        name = str(config.get(key) or "")
        if name and not os.path.isfile(os.path.join(folder, name)):
            findings.append(
                Finding(ERROR, key, f"{key} names {name!r}, but {folder}/{name} does not exist.")
            )
    return findings


def check_services(app: Flask) -> list[Finding]:
    """Probe the database (reachable, migrated to head) and Redis, read-only."""
    findings = []
    shown = db.engine.url.render_as_string(hide_password=True)
    try:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            current = _current_heads(conn)
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return [Finding(ERROR, "Database", f"{shown} is not reachable: {first_line}")]
    heads = _script_heads(app)
    if not current:
        findings.append(
            Finding(
                ERROR,
                "Database",
                f"{shown} has no schema version: run `flask --app kldialog db upgrade`.",
            )
        )
    elif current != heads:
        findings.append(
            Finding(
                ERROR,
                "Database",
                f"{shown} is at migration {', '.join(sorted(current))}, the code expects "
                f"{', '.join(sorted(heads))}: run `flask --app kldialog db upgrade`.",
            )
        )
    else:
        findings.append(Finding(OK, "Database", f"{shown}, migrated to {', '.join(heads)}."))
    findings += _redis(app.config)
    return findings


def _current_heads(conn: sa.Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


def _script_heads(app: Flask) -> set[str]:
    config = Config()
    config.set_main_option("script_location", app.extensions["migrate"].directory)
    return set(ScriptDirectory.from_config(config).get_heads())


def _redis(config: Mapping[str, Any]) -> list[Finding]:
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "")
    if not storage.startswith(("redis://", "rediss://", "redis+unix://")):
        return []
    try:
        import redis  # optional: installed with kldialog[production]
    except ImportError:
        return [
            Finding(
                ERROR,
                "Redis",
                "The redis package is missing: pip install 'kldialog[production]'.",
            )
        ]
    try:
        client = redis.Redis.from_url(
            storage.replace("redis+unix://", "unix://"), socket_timeout=2, socket_connect_timeout=2
        )
        client.ping()
        client.close()
    except redis.RedisError as error:
        return [Finding(ERROR, "Redis", f"{_masked(storage)} does not answer: {error}")]
    return [Finding(OK, "Redis", f"{_masked(storage)} answers.")]


def check_jobs(now: dt.datetime | None = None) -> list[Finding]:
    """Look in the database for work the cron jobs should have done already.

    Long because it is one check per cron job, side by side, each a query and a message.
    """
    now = now or dt.datetime.now(dt.UTC)
    config = current_app.config
    overdue = []
    late_round = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(PriorityRound)
        .outerjoin(RoundResult, RoundResult.round_id == PriorityRound.id)
        .where(
            PriorityRound.state == RoundState.published,
            PriorityRound.closes_at <= now - dt.timedelta(minutes=30),
            RoundResult.round_id.is_(None),
        )
    )
    if late_round:
        overdue.append(
            f"{late_round} priority round(s) ended over 30 minutes ago and are not closed "
            "(rounds close-due)"
        )
    cutoff = now - dt.timedelta(days=int(config["UNCONFIRMED_ACCOUNT_DAYS"]) + 1)
    unconfirmed = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(
            User.email_confirmed_at.is_(None),
            User.deleted_at.is_(None),
            User.created_at < cutoff,
        )
    )
    if unconfirmed:
        overdue.append(
            f"{unconfirmed} unconfirmed account(s) older than UNCONFIRMED_ACCOUNT_DAYS "
            "(maintenance purge)"
        )
    retention = dt.timedelta(days=round(int(config["SURVEY_RETENTION_MONTHS"]) * 30.44) + 1)
    unpurged = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Survey)
        .where(Survey.closes_at <= now - retention, Survey.purged_at.is_(None))
    )
    if unpurged:
        overdue.append(
            f"{unpurged} survey(s) with raw answers past SURVEY_RETENTION_MONTHS "
            "(maintenance purge)"
        )
    staged = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(StagedResponse)
        .join(Survey, Survey.id == StagedResponse.survey_id)
        .where(Survey.closes_at <= now - dt.timedelta(hours=1))
    )
    if staged:
        overdue.append(
            f"{staged} staged answer set(s) of surveys closed over an hour ago (surveys flush)"
        )
    db.session.rollback()
    if overdue:
        return [
            Finding(
                WARNING,
                "Cron",
                "The retention jobs do not seem to run: " + "; ".join(overdue) + ".",
            )
        ]
    return [Finding(OK, "Cron", "no overdue retention work in the database.")]


def scheduled_jobs(app: Flask) -> list[tuple[str, str, str]]:
    """Return the cron jobs whose commands this installation has."""
    jobs = []
    for schedule, command, why in CRON_JOBS:
        group_name, _, name = command.partition(" ")
        group = app.cli.get_command(click.Context(app.cli), group_name)
        if isinstance(group, click.Group) and name in group.commands:
            jobs.append((schedule, command, why))
    return jobs


def _masked(url: str) -> str:
    """Return a URL without its password, for output an operator may paste somewhere."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def run_checks(app: Flask, workers: int | None = None) -> list[Finding]:
    """Run every check; the database-backed ones only when the database is usable."""
    findings = check_settings(app.config, app.instance_path, workers)
    services = check_services(app)
    findings += services
    if not any(f.level == ERROR and f.topic == "Database" for f in services):
        findings += check_jobs()
    return findings


LABELS = {ERROR: "ERROR", WARNING: "warning", OK: "ok"}


def format_report(findings: list[Finding], jobs: list[tuple[str, str, str]]) -> str:
    """Return the report an operator reads: findings (worst first), cron lines, a summary."""
    order = {ERROR: 0, WARNING: 1, OK: 2}
    lines = ["KL.dialog deployment check", ""]
    for finding in sorted(findings, key=lambda f: order[f.level]):
        head = f"  {LABELS[finding.level]:<8} {finding.topic:<24} "
        lines.append(
            textwrap.fill(
                finding.message,
                width=100,
                initial_indent=head,
                subsequent_indent=" " * len(head),
            )
        )
    lines += [
        "",
        "Schedule these commands (cron, as the app's user, in the app's directory with its",
        "environment; deploy/cron.d/kldialog has them ready):",
    ]
    for schedule, command, why in jobs:
        lines.append(f"  # {why}")
        lines.append(f"  {schedule:<13} flask --app kldialog {command}")
    errors = sum(f.level == ERROR for f in findings)
    warnings = sum(f.level == WARNING for f in findings)
    lines.append("")
    if errors:
        lines.append(f"{errors} error(s), {warnings} warning(s): fix the errors before going live.")
    else:
        lines.append(f"No errors, {warnings} warning(s).")
    return "\n".join(lines)


def _default_workers() -> int | None:
    value = os.environ.get("WEB_CONCURRENCY", "")
    return int(value) if value.isdigit() else None


@click.command("check")
@click.option(
    "--workers",
    type=click.IntRange(1, 1000),
    default=_default_workers,
    help="Worker processes per app server (default: $WEB_CONCURRENCY, as gunicorn reads it).",
)
@with_appcontext
def check_command(workers: int | None) -> None:
    """Check this installation's settings, database and jobs; exit 1 on errors."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    findings = run_checks(app, workers)
    click.echo(format_report(findings, scheduled_jobs(app)))
    if any(f.level == ERROR for f in findings):
        raise SystemExit(1)
