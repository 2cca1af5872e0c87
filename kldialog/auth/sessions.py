"""Sessions and "stay logged in": what ends them, and the hashed remember-me tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, session

from kldialog.auth.models import RememberToken, User, new_session_token
from kldialog.kernel.db import db
from kldialog.kernel.time import utcnow

# Not Flask-Login's "remember_token": that cookie carried the login id itself, signed but
# identical on every login. Ours is a random value that exists only while its row exists.
REMEMBER_COOKIE = "kldialog_remember"
# Over HTTPS both cookies get the __Host- prefix: the browser then takes them only if they are
# Secure, for the whole site (Path=/) and without a Domain, so no subdomain can plant or
# overwrite them (ASVS 3.4.4). Over plain http (development, tests) the prefix would make the
# browser drop the cookie, so the names stay plain there.
HOST_PREFIX = "__Host-"
# Session keys: when this login started (absolute lifetime) and that the second factor passed.
LOGIN_AT = "login_at"
MFA_PASSED = "mfa_passed"


def configure_cookies(app: Flask) -> None:
    """Give the session cookie the __Host- prefix when it is sent over HTTPS only."""
    config = app.config
    if config["SESSION_COOKIE_SECURE"] and not config["SESSION_COOKIE_NAME"].startswith(
        HOST_PREFIX
    ):
        config["SESSION_COOKIE_NAME"] = HOST_PREFIX + config["SESSION_COOKIE_NAME"]
    if config["SESSION_COOKIE_NAME"].startswith(HOST_PREFIX):
        config["SESSION_COOKIE_PATH"] = "/"  # required by the prefix
        config["SESSION_COOKIE_DOMAIN"] = None


def remember_cookie_name() -> str:
    """Return the remember-me cookie's name (with __Host- when it is sent over HTTPS only)."""
    if current_app.config["REMEMBER_COOKIE_SECURE"]:
        return HOST_PREFIX + REMEMBER_COOKIE
    return REMEMBER_COOKIE


def stamp_login(*, mfa_passed: bool) -> None:
    """Mark the session as started now (and whether the second factor was given)."""
    session[LOGIN_AT] = int(utcnow().timestamp())
    if mfa_passed:
        session[MFA_PASSED] = True


def session_expired() -> bool:
    """Return whether this login is older than SESSION_ABSOLUTE_HOURS, whatever its activity.

    A session without a start time (made before this check existed, or not by a login) counts
    as expired: a cookie copied back then must not live on forever.
    """
    started = session.get(LOGIN_AT)
    if not isinstance(started, int) or isinstance(started, bool):
        return True
    limit = int(current_app.config["SESSION_ABSOLUTE_HOURS"]) * 3600
    return not 0 <= utcnow().timestamp() - started <= limit


def login_within_lifetime() -> bool:
    """Return whether the session's login is within its lifetime (the page cache asks this).

    What else load_user checks is in the account row or in the session itself, and a
    personal page is kept for one session under one data version, so only the clock remains.
    """
    return not session_expired()


def mfa_passed() -> bool:
    """Return whether this session gave the second factor."""
    return session.get(MFA_PASSED) is True


def hash_remember_token(raw: str) -> str:
    """Return the stored form of a cookie value (SHA-256: the value has 256 random bits)."""
    return hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()


def remember_days() -> int:
    """Return how many days a remember-me token lasts."""
    return max(1, int(current_app.config["REMEMBER_COOKIE_DURATION"]) // 86400)


def issue_remember_token(user: User) -> str:
    """Store a fresh token for this device and return its cookie value (no commit)."""
    raw = secrets.token_urlsafe(32)
    db.session.add(
        RememberToken(user_id=user.id, token_hash=hash_remember_token(raw), created_on=_today())
    )
    return raw


def user_for_remember_token(raw: str | None) -> User | None:
    """Return the active account a current remember-me cookie belongs to, else None."""
    if not raw or len(raw) > 100:
        return None
    row = db.session.scalar(
        sa.select(RememberToken).where(RememberToken.token_hash == hash_remember_token(raw))
    )
    if row is None:
        return None
    # Made on day D, a token works until D + 30 days begins: never longer than 30 days.
    if row.created_on <= _today() - dt.timedelta(days=remember_days()):
        db.session.delete(row)
        db.session.commit()
        return None
    user = db.session.get(User, row.user_id)
    if user is None or user.deleted_at is not None:
        return None
    return user


def rotate_session_token(user: User) -> None:
    """Give the account a new session token: every session cookie issued before ends (no commit)."""
    user.session_token = new_session_token()


def forget_remember_token(raw: str | None) -> None:
    """Delete the row of this device's remember-me cookie, if any (no commit)."""
    if raw and len(raw) <= 100:
        db.session.execute(
            sa.delete(RememberToken).where(RememberToken.token_hash == hash_remember_token(raw))
        )


def erase_remember_tokens(user: User) -> None:
    """Delete every remember-me token of the account (no commit)."""
    db.session.execute(sa.delete(RememberToken).where(RememberToken.user_id == user.id))


def end_session(user: User | None, raw_remember: str | None) -> None:
    """Log out: this device's token goes, and the new session token ends copied session cookies."""
    forget_remember_token(raw_remember)
    if user is not None:
        rotate_session_token(user)
    db.session.commit()


def end_all_sessions(user: User) -> None:
    """Log out everywhere: every session cookie and every remember-me token of the account."""
    rotate_session_token(user)
    erase_remember_tokens(user)
    db.session.commit()


def remember_tokens_export(user: User) -> list[dict[str, Any]]:
    """Return the account's remember-me tokens for the export: the day only, never the hash."""
    days = db.session.scalars(
        sa.select(RememberToken.created_on)
        .where(RememberToken.user_id == user.id)
        .order_by(RememberToken.created_on)
    )
    return [{"created_on": day.isoformat()} for day in days]


def _today() -> dt.date:
    return utcnow().date()
