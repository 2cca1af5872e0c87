"""Second factor: TOTP codes (RFC 6238) and one-time recovery codes.

Required for the roles in MFA_REQUIRED_ROLES (admin and staff by default, ASVS 4.3.1), optional
for everyone else. The secret is stored sealed with a key derived from SECRET_KEY
(kernel.secretbox), never in plaintext; the last accepted 30-second step is stored so a code
that was used once is refused afterwards, also within its own step. One step either side
is accepted for clocks that drift. Recovery codes are stored as keyed digests only and
deleted when used.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import unicodedata
from typing import Any

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from markupsafe import escape

from kldialog.auth.models import MfaRecoveryCode, Role, User, new_session_token
from kldialog.auth.sessions import erase_remember_tokens
from kldialog.kernel import secretbox
from kldialog.kernel.audit import audit
from kldialog.kernel.db import affected_rows, db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.secretbox import same_secret
from kldialog.kernel.time import utcnow

logger = logging.getLogger(__name__)

PURPOSE = b"kldialog/auth/totp-secret/v1"
SETUP_PURPOSE = b"kldialog/auth/totp-setup/v1"
STEP_SECONDS = 30
DIGITS = 6
TOLERANCE_STEPS = 1
RECOVERY_CODES = 10
# The residency codes' alphabet (no 0/O, 1/I/L): 10 symbols carry about 49 bits of chance.
RECOVERY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECOVERY_LENGTH = 10
# Demo accounts (kldialog/demo.py) share one known secret; their code is shown in demo mode.
DEMO_DOMAIN = "@demo.kldialog.invalid"
DEMO_SECRET = "KLDIALOGDEMOKLDIALOGDEMOKLDIALOG"  # noqa: S105  (demo mode only, public)
_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―_.]+")


# --- who needs it ----------------------------------------------------------------------------


def required_roles() -> Role:
    """Return the roles (as flags) that count only once the account has a second factor."""
    flags = Role(0)
    for name in current_app.config["MFA_REQUIRED_ROLES"]:
        flags |= Role[name]
    return flags


def is_required_for(user: User) -> bool:
    """Return whether the account holds a role that needs the second factor."""
    return bool(Role(user.roles) & required_roles())


# --- the secret ------------------------------------------------------------------------------


def _aad(user_id: int) -> bytes:
    # Bound to the account: a sealed secret copied to another row does not open.
    return f"user_account:{user_id}".encode()


def new_secret() -> str:
    """Return a fresh random base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(length=32)


def secret_of(user: User) -> str:
    """Return the account's TOTP secret (opened from its sealed form)."""
    if user.mfa_secret_sealed is None:
        raise RuleViolation(_l("Two-factor login is not switched on for this account."))
    return secretbox.unseal(PURPOSE, user.mfa_secret_sealed, _aad(user.id)).decode("ascii")


def seal_setup(user: User, secret: str) -> str:
    """Return the not yet confirmed secret sealed for the session (the cookie is only signed)."""
    sealed = secretbox.seal(SETUP_PURPOSE, secret.encode("ascii"), _aad(user.id))
    return base64.urlsafe_b64encode(sealed).decode("ascii")


def open_setup(user: User, value: Any) -> str | None:
    """Return the secret sealed by seal_setup for this account, or None."""
    if not isinstance(value, str) or len(value) > 200:
        return None
    try:
        sealed = base64.urlsafe_b64decode(value.encode("ascii"))
        return secretbox.unseal(SETUP_PURPOSE, sealed, _aad(user.id)).decode("ascii")
    except (ValueError, secretbox.SecretBoxError):
        return None


def seal_codes(user: User, codes: list[str]) -> str:
    """Seal freshly made recovery codes for the one page that shows them."""
    sealed = secretbox.seal(SETUP_PURPOSE, json.dumps(codes).encode(), _aad(user.id) + b":codes")
    return base64.urlsafe_b64encode(sealed).decode("ascii")


def open_codes(user: User, value: Any) -> list[str]:
    """Return the codes sealed by seal_codes, or an empty list."""
    if not isinstance(value, str) or len(value) > 2000:
        return []
    try:
        sealed = base64.urlsafe_b64decode(value.encode("ascii"))
        plain = secretbox.unseal(SETUP_PURPOSE, sealed, _aad(user.id) + b":codes")
    except (ValueError, secretbox.SecretBoxError):
        return []
    codes = json.loads(plain)
    return [str(code) for code in codes] if isinstance(codes, list) else []


def provisioning_uri(user: User, secret: str) -> str:
    """Return the otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(
        name=user.email or "", issuer_name=current_app.config["SITE_NAME"]
    )


def qr_svg(uri: str, title: str) -> str:
    """Return the QR code as inline SVG markup (made here; nothing is loaded from elsewhere)."""
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, border=4, title=title, dark="#000", light="#fff"
    )
    # An image with a name for screen readers; the key is written out next to it as text.
    return str(svg).replace("<svg ", f'<svg role="img" aria-label="{escape(title)}" ', 1)


def grouped(secret: str) -> str:
    """Return the secret in groups of four for typing it in by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# --- codes -----------------------------------------------------------------------------------


def current_step(now: dt.datetime | None = None) -> int:
    """Return the RFC 6238 time step (30 s) at now."""
    return int((now or utcnow()).timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """Return the code of a time step."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def _digits(text: str) -> str | None:
    """Return a typed TOTP code without spaces, or None if it is not six ASCII digits."""
    cleaned = "".join((text or "").split())
    if len(cleaned) == DIGITS and cleaned.isascii() and cleaned.isdigit():
        return cleaned
    return None


def _matching_step(secret: str, code: str, last_step: int | None) -> int | None:
    """Return the step within tolerance whose code this is and that is newer than last_step."""
    now = current_step()
    for step in range(now - TOLERANCE_STEPS, now + TOLERANCE_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue  # used already (or older than a code used already): no replay
        if same_secret(code, code_at(secret, step)):
            return step
    return None


def normalise_recovery_code(text: str) -> str:
    """Return a typed recovery code as hashed: upper case, without spaces and dashes."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text or "")).upper()


def _hash_recovery(normalised: str) -> str:
    """Return the keyed digest of a recovery code (a database copy alone cannot test codes)."""
    key = secretbox.derive_key(current_app.config["SECRET_KEY"], b"kldialog/auth/recovery/v1")
    return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    """Replace the account's recovery codes by ten new ones; return them formatted (no commit)."""
    db.session.execute(sa.delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))
    codes = {
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        for _ in range(RECOVERY_CODES)
    }
    while len(codes) < RECOVERY_CODES:
        codes.add("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH)))
    for code in codes:
        db.session.add(MfaRecoveryCode(user_id=user.id, code_hash=_hash_recovery(code)))
    return [f"{code[:5]}-{code[5:]}" for code in sorted(codes)]


def recovery_codes_left(user: User) -> int:
    """Return how many unused recovery codes the account has."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(MfaRecoveryCode)
            .where(MfaRecoveryCode.user_id == user.id)
        )
        or 0
    )


def check_second_factor(user: User, code: str) -> str | None:
    """Accept a current TOTP code or an unused recovery code; return which one, else None.

    A TOTP code's step is stored, so the same code (or an older one) is refused afterwards; a
    recovery code's row is deleted, so it works once. Commits what it used up.
    """
    if not user.has_mfa:
        return None
    digits = _digits(code)
    if digits is not None:
        try:
            secret = secret_of(user)
        except secretbox.SecretBoxError:
            # SECRET_KEY changed without SECRET_KEY_FALLBACKS: no code can match any more; a
            # recovery code or an admin's reset helps (never an error page).
            logger.warning("two-factor secret of account %s does not open", user.id)
            return None
        step = _matching_step(secret, digits, user.mfa_last_step)
        if step is None:
            return None
        # Conditional: two requests with the same code at once, only one moves the step.
        moved = db.session.execute(
            sa.update(User)
            .where(
                User.id == user.id,
                sa.or_(User.mfa_last_step.is_(None), User.mfa_last_step < step),
            )
            .values(mfa_last_step=step)
            .execution_options(synchronize_session=False)
        )
        if affected_rows(moved) != 1:
            db.session.rollback()
            return None
        db.session.commit()
        db.session.refresh(user)
        return "totp"
    normalised = normalise_recovery_code(code)
    if len(normalised) != RECOVERY_LENGTH:
        return None
    deleted = db.session.execute(
        sa.delete(MfaRecoveryCode)
        .where(
            MfaRecoveryCode.user_id == user.id,
            MfaRecoveryCode.code_hash == _hash_recovery(normalised),
        )
        .execution_options(synchronize_session=False)
    )
    if affected_rows(deleted) != 1:
        db.session.rollback()
        return None
    audit(user, "mfa.recovery_code_used", "user", user.id, left=recovery_codes_left(user))
    db.session.commit()
    return "recovery"


def code_problem() -> str:
    """Return the message for a wrong, old or already used code."""
    return str(
        _l(
            "This code is not correct or has already been used. Please enter the current "
            "code from your app, or one of your recovery codes."
        )
    )


# --- switching it on and off -----------------------------------------------------------------


def enable(user: User, secret: str, code: str) -> list[str]:
    """Switch the second factor on after a first correct code; return the recovery codes.

    Every other session and "stay logged in" token ends: they were started without the code.
    """
    if user.has_mfa:
        raise RuleViolation(_l("Two-factor login is already switched on."))
    digits = _digits(code)
    step = _matching_step(secret, digits, None) if digits else None
    if step is None:
        raise RuleViolation(
            _l("This code is not correct. Please enter the six digits your app shows now."),
            field="code",
        )
    user.mfa_secret_sealed = secretbox.seal(PURPOSE, secret.encode("ascii"), _aad(user.id))
    user.mfa_enabled_at = utcnow()
    user.mfa_last_step = step
    codes = _new_recovery_codes(user)
    user.session_token = new_session_token()
    erase_remember_tokens(user)
    audit(user, "mfa.enable", "user", user.id)
    db.session.commit()
    return codes


def _clear(user: User) -> None:
    """Remove the secret, its last step and the recovery codes (no commit)."""
    user.mfa_secret_sealed = None
    user.mfa_enabled_at = None
    user.mfa_last_step = None
    db.session.execute(sa.delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == user.id))


def disable(user: User, password_ok: bool, code: str) -> None:
    """Switch one's own second factor off: needs the password and a code; refused if required."""
    if is_required_for(user):
        raise RuleViolation(
            _l("Your role requires two-factor login: it cannot be switched off."), field="code"
        )
    if not password_ok:
        raise RuleViolation(_l("The password is not correct."), field="password")
    if check_second_factor(user, code) is None:
        raise RuleViolation(code_problem(), field="code")
    _clear(user)
    audit(user, "mfa.disable", "user", user.id)
    db.session.commit()


def reset(actor: User | None, user: User, reason: str) -> None:
    """Remove another account's second factor (lost phone); its sessions end. Audited."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(_l("Please give a reason."), field="reason")
    if user.deleted_at is not None:
        raise RuleViolation(_l("This account has been deleted."))
    if not user.has_mfa:
        raise RuleViolation(_l("Two-factor login is not switched on for this account."))
    _clear(user)
    user.session_token = new_session_token()
    erase_remember_tokens(user)
    audit(actor, "mfa.reset", "user", user.id, reason)
    db.session.commit()


def enable_demo(user: User) -> None:
    """Give a demo account the fixed demo secret (demo mode only; demo.py calls it)."""
    if not current_app.config["DEMO"] or not (user.email or "").endswith(DEMO_DOMAIN):
        raise RuleViolation(_l("Only demo accounts in demo mode use the demo secret."))
    user.mfa_secret_sealed = secretbox.seal(PURPOSE, DEMO_SECRET.encode("ascii"), _aad(user.id))
    user.mfa_enabled_at = utcnow()
    user.mfa_last_step = None
    db.session.commit()


def demo_code(user: User) -> str | None:
    """Return the current code of a demo account in demo mode (shown on the page), else None."""
    if not current_app.config["DEMO"] or not user.has_mfa:
        return None
    if not (user.email or "").endswith(DEMO_DOMAIN):
        return None
    return code_at(secret_of(user), current_step())


# --- my data ---------------------------------------------------------------------------------


def mfa_export(user: User) -> dict[str, Any]:
    """Return the second factor's part of the data export: dates and counts, never secrets."""
    last = user.mfa_last_step
    return {
        "two_factor": {
            "enabled_at": user.mfa_enabled_at.isoformat() if user.mfa_enabled_at else None,
            "last_code_used_at": (
                dt.datetime.fromtimestamp(last * STEP_SECONDS, tz=dt.UTC).isoformat()
                if last is not None
                else None
            ),
            "recovery_codes_left": recovery_codes_left(user),
            "secret": "stored encrypted, not included" if user.has_mfa else None,
        }
    }


def erase_mfa(user: User) -> None:
    """Delete the secret, the last step and the recovery codes (account deletion; no commit)."""
    _clear(user)
