"""Account use cases: register, confirm, log in, passwords, e-mail change, my data, deletion."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from functools import cache
from importlib import resources
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from kldialog.auth.models import Role, User, new_session_token
from kldialog.auth.sessions import erase_remember_tokens
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.mail import send_mail
from kldialog.kernel.secretbox import same_secret
from kldialog.kernel.time import utcnow


@cache
def _hasher_for(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def _hasher() -> PasswordHasher:
    """Return the argon2id hasher for the configured cost (lowered only by the test suite)."""
    config = current_app.config
    return _hasher_for(
        config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_COST"], config["ARGON2_PARALLELISM"]
    )


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """Return a hash to verify against when no account matches, so both failures take as long."""
    return hasher.hash("kldialog-timing-equaliser")


EMAIL_PATTERN = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}")
URL_HINTS = re.compile(r"(://|www\.|\.(de|com|net|org|eu|info|io|biz|app|online)\b)", re.I)
ALLOWED_NAME_PUNCTUATION = set(" .-_'")


# --- small pure helpers -----------------------------------------------------------------


def normalise_email(text: str) -> str:
    """Return the address as stored and compared: trimmed and lower case."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def is_valid_email(text: str) -> bool:
    """Return whether text looks like a deliverable address (the confirmation mail decides)."""
    return len(text) <= 254 and EMAIL_PATTERN.fullmatch(text) is not None


def clean_display_name(text: str) -> str:
    """Normalise a display name: NFKC, single spaces, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def display_name_problem(name: str) -> str | None:
    """Return why a (cleaned) display name is not allowed, or None."""
    if not 3 <= len(name) <= 30:
        return str(_l("Please choose a name of 3 to 30 characters."))
    if "@" in name or URL_HINTS.search(name):
        return str(_l("A display name must not contain an e-mail address or a web address."))
    for char in name:
        category = unicodedata.category(char)
        if not (category[0] in "LN" or char in ALLOWED_NAME_PUNCTUATION or category == "Mn"):
            return str(
                _l(
                    "Please use letters, digits, spaces and . - _ ' only (not “%(char)s”).",
                    char=char,
                )
            )
    return None


def display_name_key(name: str) -> str:
    """Return the case-folded form that must be unique."""
    return unicodedata.normalize("NFKC", name).casefold()


@cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("kldialog").joinpath("data", "common-passwords.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def password_problem(password: str, *, email: str = "", display_name: str = "") -> str | None:
    """Return why a password is not allowed, or None (length and common list; no composition)."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        return str(_l("Please use at least %(num)d characters.", num=minimum))
    if len(password) > 1000:
        return str(_l("Please use at most 1,000 characters."))
    folded = password.casefold()
    if folded in _common_passwords() or len(set(folded)) < 3:
        return str(_l("This password is too common. Please choose another one."))
    if folded in (email.casefold(), display_name.casefold()):
        return str(_l("Your password must not be your e-mail address or display name."))
    return None


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher().hash(password)


def check_password(user: User, password: str) -> bool:
    """Verify a password; upgrade the stored hash when the parameters have changed."""
    if not user.password_hash:
        return False
    hasher = _hasher()
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return True


# --- signed, expiring, single-use tokens ----------------------------------------------


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"kldialog-{purpose}")


def _fingerprint(value: str | None) -> str:
    """Return a short digest that changes when value changes (makes tokens single-use)."""
    return hashlib.sha256((value or "").encode()).hexdigest()[:16]


def make_token(purpose: str, user: User, state: str | None) -> str:
    """Sign (user id, digest of the state the token may act on) for a purpose."""
    return _serializer(purpose).dumps([user.id, _fingerprint(state)])


def read_token(purpose: str, token: str, max_age: int | None, state_of: Any) -> User:
    """Return the user a valid token belongs to; RuleViolation if it is wrong, old or used."""
    try:
        user_id, fingerprint = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as error:
        raise RuleViolation(_l("This link has expired. Please request a new one.")) from error
    except (BadSignature, ValueError, TypeError) as error:
        raise RuleViolation(
            _l("This link is not valid. Please check that it is complete.")
        ) from error
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or user.deleted_at is not None:
        raise RuleViolation(_l("This link is not valid. Please check that it is complete."))
    if not same_secret(str(fingerprint), _fingerprint(state_of(user))):
        raise RuleViolation(_l("This link has already been used."))
    return user


# --- administration -----------------------------------------------------------------------


def find_user_by_email(email: str) -> User | None:
    """Return the active account with this address."""
    return db.session.scalar(
        sa.select(User).where(User.email == normalise_email(email), User.deleted_at.is_(None))
    )


def create_confirmed_user(
    *, email: str, password: str, display_name: str, roles: list[Role]
) -> User:
    """Create an account whose address counts as confirmed (operator's CLI, demo data)."""
    email = normalise_email(email)
    name = clean_display_name(display_name)
    problem = (
        (
            None
            if is_valid_email(email)
            else str(_l("Please enter an e-mail address like name@example.org."))
        )
        or display_name_problem(name)
        or password_problem(password, email=email, display_name=name)
    )
    if problem:
        raise RuleViolation(problem)
    if find_user_by_email(email) is not None:
        raise RuleViolation(_l("An account with this e-mail address already exists."))
    if db.session.scalar(sa.select(User.id).where(User.display_name_key == display_name_key(name))):
        raise RuleViolation(_l("This display name is already taken."), field="display_name")
    flags = Role.resident
    for role in roles:
        flags |= role
    user = User(
        email=email,
        password_hash=hash_password(password),
        display_name=name,
        display_name_key=display_name_key(name),
        roles=int(flags),
        email_confirmed_at=utcnow(),
        accepted_terms_version=current_app.config["TERMS_VERSION"],
    )
    db.session.add(user)
    db.session.flush()
    audit(None, "account.create", "user", user.id, roles=[r.name for r in user.role_list()])
    db.session.commit()
    return user


def set_role(actor: User | None, user: User, role: Role, grant: bool, reason: str) -> None:
    """Grant or revoke a role, with a reason in the audit log; the last admin stays."""
    if user.deleted_at is not None:
        raise RuleViolation(_l("This account has been deleted."))
    if not grant and role is Role.admin and user.has_role(Role.admin):
        # Lock the admin rows (PostgreSQL): two admins revoking each other at once must not
        # both see "another admin remains". SQLite serialises writers anyway.
        admins = db.session.scalars(
            sa.select(User.id)
            .where(User.roles.op("&")(int(Role.admin)) != 0, User.deleted_at.is_(None))
            .with_for_update()
        ).all()
        if len(admins) <= 1:
            raise RuleViolation(_l("The last administrator cannot lose the role."))
    current = Role(user.roles)
    new = current | role if grant else current & ~role
    if new == current:
        return
    user.roles = int(new)
    audit(actor, "role.grant" if grant else "role.revoke", "user", user.id, reason, role=role.name)
    db.session.commit()


# --- registration and confirmation -----------------------------------------------------


def register_user(*, email: str, password: str, display_name: str, language: str) -> User | None:
    """Create an unconfirmed account and send the confirmation mail.

    An address that already has an account gets a mail saying so instead, and the caller shows
    the same page either way: registration must not reveal who has an account.
    """
    email = normalise_email(email)
    name = clean_display_name(display_name)
    # Hash first, whoever registers: a known address must not answer faster (argon2 is the
    # expensive part), and both mails leave through a background thread.
    password_hash = hash_password(password)
    existing = db.session.scalar(sa.select(User).where(User.email == email))
    if existing is not None:
        send_mail(
            email,
            _l("Your KL.dialog account"),
            "already_registered",
            language=existing.language,
            user=existing,
            login_url=url_for("auth.login", _external=True),
            reset_url=url_for("auth.forgot_password", _external=True),
            background=True,
        )
        return None
    if db.session.scalar(sa.select(User.id).where(User.display_name_key == display_name_key(name))):
        raise RuleViolation(_l("This display name is already taken."), field="display_name")
    user = User(
        email=email,
        password_hash=password_hash,
        display_name=name,
        display_name_key=display_name_key(name),
        roles=int(Role.resident),
        language=language,
        accepted_terms_version=current_app.config["TERMS_VERSION"],
    )
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError as error:
        # Two registrations raced; the constraint decided. Tell which field collided.
        db.session.rollback()
        if db.session.scalar(sa.select(User.id).where(User.email == email)):
            return None
        raise RuleViolation(
            _l("This display name is already taken."), field="display_name"
        ) from error
    send_confirmation(user)
    return user


def send_confirmation(user: User, *, discard: bool = False) -> None:
    """Mail a link that confirms the account's address (in the background: see register)."""
    token = make_token("confirm", user, f"{user.email}|{user.email_confirmed_at}")
    send_mail(
        user.address,
        _l("Please confirm your e-mail address"),
        "confirm_email",
        language=user.language,
        user=user,
        url=url_for("auth.confirm_email", token=token, _external=True),
        hours=current_app.config["CONFIRM_EMAIL_HOURS"],
        background=True,
        discard=discard,
    )


def resend_confirmation(email: str) -> None:
    """Send the confirmation link again if an unconfirmed account has this address."""
    user = db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))
    if user is not None and not user.is_confirmed:
        send_confirmation(user)
    else:
        send_confirmation(_stand_in(email), discard=True)  # the same work, nothing sent


def _stand_in(email: str) -> User:
    """Return an unsaved account to build a mail for that is never sent (equal timing)."""
    # B106: the empty hash belongs to an unsaved stand-in; there is no password.
    return User(  # nosec B106
        id=0, email=normalise_email(email), display_name="", password_hash="", language="de"
    )


def confirm_email(token: str) -> User:
    """Mark the address of the token's account as confirmed."""
    user = read_token(
        "confirm",
        token,
        current_app.config["CONFIRM_EMAIL_HOURS"] * 3600,
        lambda u: f"{u.email}|{u.email_confirmed_at}",
    )
    user.email_confirmed_at = utcnow()
    db.session.commit()
    return user


# --- login and passwords -----------------------------------------------------------------


def authenticate(email: str, password: str) -> User | None:
    """Return the account for these credentials, or None; both failures take the same time."""
    user = db.session.scalar(
        sa.select(User).where(User.email == normalise_email(email), User.deleted_at.is_(None))
    )
    if user is None:
        hasher = _hasher()
        try:
            hasher.verify(_dummy_hash(hasher), password)
        except VerificationError:
            pass
        return None
    if not check_password(user, password):
        return None
    db.session.commit()  # keeps an upgraded hash
    return user


def request_password_reset(email: str) -> None:
    """Mail a reset link if an account has this address; say nothing either way."""
    user = db.session.scalar(
        sa.select(User).where(User.email == normalise_email(email), User.deleted_at.is_(None))
    )
    # An unknown address gets the same work (token, rendered mail) and nothing is sent, so the
    # answer takes as long; the mail itself leaves through a background thread.
    target = user if user is not None else _stand_in(email)
    token = make_token("reset", target, target.password_hash)
    send_mail(
        target.address,
        _l("Reset your KL.dialog password"),
        "reset_password",
        language=target.language,
        user=target,
        url=url_for("auth.reset_password", token=token, _external=True),
        minutes=current_app.config["RESET_PASSWORD_MINUTES"],
        background=True,
        discard=user is None,
    )


def send_lock_notice(email: str) -> None:
    """Tell the owner once that logins are paused after wrong passwords (nobody if unknown)."""
    user = find_user_by_email(email)
    target = user if user is not None else _stand_in(email)
    send_mail(
        target.address,
        _l("Logging in to your account is paused"),
        "login_paused",
        language=target.language,
        user=target,
        reset_url=url_for("auth.forgot_password", _external=True),
        background=True,
        discard=user is None,
    )


def user_for_reset(token: str) -> User:
    """Return the account a reset token is for (valid, unexpired, unused)."""
    return read_token(
        "reset", token, current_app.config["RESET_PASSWORD_MINUTES"] * 60, lambda u: u.password_hash
    )


def reset_password(token: str, new_password: str) -> User:
    """Set a new password from a reset link; every session ends, the link stops working."""
    user = user_for_reset(token)
    _set_password(user, new_password)
    if not user.is_confirmed:
        user.email_confirmed_at = utcnow()  # the reset mail reached this mailbox
    audit(user, "password.reset", "user", user.id)
    db.session.commit()
    return user


def change_password(user: User, current: str, new_password: str) -> None:
    """Change the password after checking the current one; other sessions end."""
    if not check_password(user, current):
        raise RuleViolation(_l("The current password is not correct."), field="current_password")
    _set_password(user, new_password)
    audit(user, "password.change", "user", user.id)
    db.session.commit()
    # If it was not the owner (a session left open somewhere), the owner learns of it.
    send_mail(
        user.address,
        _l("Your password was changed"),
        "password_changed",
        language=user.language,
        user=user,
        reset_url=url_for("auth.forgot_password", _external=True),
    )


def _set_password(user: User, new_password: str) -> None:
    problem = password_problem(
        new_password, email=user.email or "", display_name=user.display_name or ""
    )
    if problem:
        raise RuleViolation(problem, field="password")
    user.password_hash = hash_password(new_password)
    # Every session cookie and every "stay logged in" token ends with the old password.
    user.session_token = new_session_token()
    erase_remember_tokens(user)


# --- e-mail change -------------------------------------------------------------------------


def request_email_change(user: User, password: str, new_email: str) -> bool:
    """Send a confirmation link to the new address; return whether the mail went out."""
    if not check_password(user, password):
        raise RuleViolation(_l("The password is not correct."), field="password")
    new_email = normalise_email(new_email)
    if new_email == user.email:
        raise RuleViolation(_l("This is already your e-mail address."), field="email")
    user.pending_email = new_email
    db.session.commit()
    token = make_token("change-email", user, new_email)
    taken = db.session.scalar(sa.select(User.id).where(User.email == new_email)) is not None
    # The new mailbox learns nothing about other accounts: a taken address gets a notice instead.
    sent = send_mail(
        new_email,
        _l("Confirm your new e-mail address"),
        "address_taken" if taken else "change_email",
        language=user.language,
        user=user,
        url=url_for("auth.confirm_email_change", token=token, _external=True),
        hours=current_app.config["CONFIRM_EMAIL_HOURS"],
    )
    return sent is not None


def confirm_email_change(token: str) -> User:
    """Replace the address with the confirmed new one and tell the old address."""
    user = read_token(
        "change-email",
        token,
        current_app.config["CONFIRM_EMAIL_HOURS"] * 3600,
        lambda u: u.pending_email,
    )
    old, new = user.address, user.pending_email
    user.email, user.pending_email = new, None
    user.email_confirmed_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise RuleViolation(_l("This e-mail address belongs to another account.")) from error
    send_mail(
        old,
        _l("Your e-mail address was changed"),
        "email_changed",
        language=user.language,
        user=user,
    )
    return user


def accept_terms(user: User) -> None:
    """Record that the person accepted the current terms and privacy notice."""
    user.accepted_terms_version = current_app.config["TERMS_VERSION"]
    db.session.commit()


def set_language(user: User, language: str) -> None:
    """Remember the interface language for mail to this person."""
    if user.language != language:
        user.language = language
        db.session.commit()


# --- the account's own part of "my data" and of deletion ---------------------------------


def account_export(user: User) -> dict[str, Any]:
    """Return the account's own fields for the data export (DSGVO Art. 15 and 20)."""
    return {
        "email": user.email,
        "email_confirmed_at": _iso(user.email_confirmed_at),
        "pending_email": user.pending_email,
        "display_name": user.display_name,
        "roles": [role.name for role in user.role_list()],
        "is_verified_resident": user.is_verified,
        "accepted_terms_version": user.accepted_terms_version,
        "language": user.language,
        "blocked_until": _iso(user.blocked_until),
        "created_at": _iso(user.created_at),
        "password": "stored only as an argon2id hash, not included",
    }


def set_notify_replies(user: User, enabled: bool) -> None:
    """Switch the e-mail about replies to one's comments on or off."""
    user.notify_replies = enabled
    db.session.commit()


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def erase_account_fields(user: User) -> None:
    """Empty every personal field of the account row; the row stays so references hold."""
    user.notify_replies = False
    user.email = None
    user.pending_email = None
    user.password_hash = None
    user.display_name = None
    user.display_name_key = None
    user.roles = 0
    user.is_verified = False
    user.accepted_terms_version = None
    user.blocked_until = None
    user.session_token = new_session_token()
    # What stays is what docs/privacy.md names: the id (references in the audit log) and the
    # day of deletion. No confirmation or registration time, no language: matched against a
    # mail server's log they could tell whose the row was.
    user.email_confirmed_at = None
    user.language = current_app.config["BABEL_DEFAULT_LOCALE"]
    day = dt.datetime.combine(utcnow().date(), dt.time(), tzinfo=dt.UTC)
    user.created_at = day
    user.deleted_at = day


def unconfirmed_accounts(now: dt.datetime | None = None) -> list[User]:
    """Return accounts whose address was not confirmed within the configured days."""
    cutoff = (now or utcnow()) - dt.timedelta(days=current_app.config["UNCONFIRMED_ACCOUNT_DAYS"])
    return list(
        db.session.scalars(
            sa.select(User).where(
                User.email_confirmed_at.is_(None),
                User.deleted_at.is_(None),
                User.created_at < cutoff,
            )
        )
    )
