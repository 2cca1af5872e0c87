"""Flask CLI commands: roadmap import/export and demo data."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.errors import RuleViolation
from kldialog.extensions import db
from kldialog.projects import services as roadmap
from kldialog.projects.models import Project

BUNDLED_ROADMAP = "roadmap-kaiserslautern-2019.json"

roadmap_cli = AppGroup("roadmap", help="Import and export the roadmap (JSON or CSV).")
users_cli = AppGroup("users", help="Create accounts and grant or revoke roles.")
maintenance_cli = AppGroup("maintenance", help="Retention jobs; run daily from cron.")
ROLE_NAMES = [role.name for role in Role]
demo_cli = AppGroup("demo", help="Demo data for `make run` (only with DEMO enabled).")


def _read_roadmap(text: str, fmt: str, as_of: str | None, author: str) -> roadmap.Roadmap:
    """Parse a roadmap file in the given format, turning JSON syntax errors into RoadmapError."""
    if fmt == "csv":
        return roadmap.parse_roadmap_csv(text, as_of=as_of, author=author)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise roadmap.RoadmapError(
            [f"line {error.lineno}, column {error.colno}: invalid JSON ({error.msg})"]
        ) from error
    parsed = roadmap.parse_roadmap_json(data)
    if as_of:
        parsed.as_of, parsed.as_of_precision = roadmap.parse_as_of(as_of)
    if author:
        parsed.author = author
    return parsed


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
    """Import or update the roadmap from FILE; matched by slug, all or nothing."""
    if fmt == "auto":
        fmt = "csv" if file.suffix.lower() == ".csv" else "json"
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise click.ClickException(
            f"{file}: not UTF-8 text (byte {error.start}); save the file as UTF-8"
        ) from error
    try:
        parsed = _read_roadmap(text, fmt, as_of, author)
    except (roadmap.RoadmapError, ValueError) as error:
        problems = getattr(error, "problems", [str(error)])
        raise click.ClickException(
            f"{file}: nothing was imported, {len(problems)} problem(s):\n  " + "\n  ".join(problems)
        ) from error
    if dry_run:
        click.echo(f"{file}: valid, {len(parsed.projects)} project(s); nothing changed (dry run).")
        return
    report = roadmap.import_roadmap(parsed)
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
    removed = accounts.purge_unconfirmed()
    click.echo(f"Purged {removed} unconfirmed account(s).")


def register_commands(app: Flask) -> None:
    """Attach the command groups to `flask`."""
    app.cli.add_command(roadmap_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(maintenance_cli)
