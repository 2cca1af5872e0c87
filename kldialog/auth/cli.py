"""`flask users` (accounts and roles) and `flask codes` (residency code letters)."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from kldialog.admin.code_sheet import render_code_sheet
from kldialog.auth import mfa, residency
from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.static import static_files

users_cli = AppGroup("users", help="Create accounts and grant or revoke roles.")
ROLE_NAMES = [role.name for role in Role]
codes_cli = AppGroup("codes", help="Residency codes: generate a batch to print and post.")
_STYLESHEET_LINK = re.compile(r'<link rel="stylesheet" href="([^"]+)">')
_ICON_LINK = re.compile(r'<link rel="icon"[^>]*>\n?')


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
    click.echo(f"Created account {user.id} ({', '.join(str(r.name) for r in user.role_list())}).")


@users_cli.command("reset-mfa")
@click.argument("email")
@click.option("--reason", default="reset on the command line", help="Kept in the audit log.")
def users_reset_mfa(email: str, reason: str) -> None:
    """Remove an account's second factor (e.g. the last administrator lost the phone)."""
    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No active account has the address {email}.")
    try:
        mfa.reset(None, user, reason)
    except RuleViolation as error:
        raise click.ClickException(error.message) from error
    click.echo(
        f"Two-factor login of account {user.id} is reset; it is logged out everywhere. "
        "If its role requires it, it sets it up again at the next login."
    )


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
    click.echo(f"{email}: {', '.join(str(r.name) for r in user.role_list()) or 'no roles'}.")


@codes_cli.command("generate")
@click.argument("count", type=click.IntRange(1, residency.RESIDENCY_CODES_MAX))
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
    label = residency.clean_batch_label(batch or dt.date.today().isoformat())
    try:
        codes = residency.generate_residency_codes(None, count, label)
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
    static_url = (current_app.static_url_path or "") + "/"
    href = match.group(1).split("?", 1)[0]
    if not href.startswith(static_url) or "fonts/" in href:
        return ""  # web fonts load relative files; the printer's sans-serif is fine
    body = static_files(current_app).body(href[len(static_url) :])  # the name is hashed
    return f"<style>\n{body.decode('utf-8')}\n</style>" if body is not None else ""
