"""Kiosk mode: a city-run device at a counter, where one resident after another takes part.

The device is marked by a signed, HttpOnly cookie that only staff can set (a POST with CSRF
token). The cookie grants nothing: it only takes things away on that device. No "stay logged
in", no login for staff, admin or moderator accounts, `Cache-Control: no-store` on every
answer, no autocomplete in any form, a session that ends after KIOSK_IDLE_SECONDS without a
request and right after a ballot is cast or a survey sent. The threat is the next person at
the device (docs/security.md, "Kiosk").
"""

from __future__ import annotations

import re
import secrets

from flask import current_app, g, has_request_context, request, session
from itsdangerous import BadSignature, URLSafeTimedSerializer

from kldialog.auth import sessions
from kldialog.auth.models import User
from kldialog.kernel.db import db
from kldialog.kernel.time import utcnow

KIOSK_COOKIE = "kldialog_kiosk"
_SALT = "kldialog-kiosk-device"
# Session key: when this device last saw a request of the person using it (epoch seconds).
SEEN = "kiosk_seen"
# Session keys that hold nothing of a person: the CSRF token and the idle stamp itself.
_NOT_PERSONAL = frozenset({"csrf_token", SEEN})
_AUTOCOMPLETE = re.compile(rb'autocomplete="[^"]*"')
_FORM_WITHOUT_AUTOCOMPLETE = re.compile(rb"<form(?![^>]*\sautocomplete=)")


def cookie_name() -> str:
    """Return the device cookie's name (with __Host- when cookies are sent over HTTPS only)."""
    if current_app.config["SESSION_COOKIE_SECURE"]:
        return sessions.HOST_PREFIX + KIOSK_COOKIE
    return KIOSK_COOKIE


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def cookie_max_age() -> int:
    """Return how long the device cookie lasts, in seconds."""
    return int(current_app.config["KIOSK_COOKIE_DAYS"]) * 86400


def new_cookie_value() -> str:
    """Return a fresh signed device marker (a random nonce, no account, no staff identity)."""
    return _serializer().dumps({"kiosk": secrets.token_hex(8)})


def is_valid_cookie(value: str | None) -> bool:
    """Return whether a cookie value is a device marker this installation signed, not expired."""
    if not value or len(value) > 200:
        return False
    try:
        data = _serializer().loads(value, max_age=cookie_max_age())
    except BadSignature:  # also a forged, altered or expired value (SignatureExpired)
        return False
    return isinstance(data, dict) and isinstance(data.get("kiosk"), str)


def is_kiosk() -> bool:
    """Return whether this request comes from a kiosk device (checked once per request)."""
    if not has_request_context():
        return False  # a command rendering mail: no device at all
    if "kiosk_device" not in g:
        g.kiosk_device = is_valid_cookie(request.cookies.get(cookie_name()))
    return bool(g.kiosk_device)


def holds_person_data() -> bool:
    """Return whether the session holds anything of the person at the device."""
    return bool(set(session.keys()) - _NOT_PERSONAL)


def idle_expired() -> bool:
    """Return whether the person's session has seen no request for KIOSK_IDLE_SECONDS.

    A session with something of a person in it but without a stamp counts as expired: the
    stamp is written on every request of a kiosk device.
    """
    if not holds_person_data():
        return False
    seen = session.get(SEEN)
    if not isinstance(seen, int) or isinstance(seen, bool):
        return True
    return not 0 <= utcnow().timestamp() - seen <= int(current_app.config["KIOSK_IDLE_SECONDS"])


def stamp() -> None:
    """Record this request as the person's latest activity."""
    session[SEEN] = int(utcnow().timestamp())


def _session_user() -> User | None:
    """Return the account the session's login id names (valid or not), without loading it."""
    user_id, _sep, _token = str(session.get("_user_id") or "").partition(":")
    if not user_id.isdigit():
        return None
    return db.session.get(User, int(user_id))


def end_person_session() -> None:
    """End whatever the person started here: the login server-side, then the whole session.

    The session token is rotated, so a copy of this session cookie is dead too; the language
    goes with the rest (the next person starts in the city's default language).
    """
    from flask_login import logout_user

    user = _session_user()
    sessions.end_session(user, request.cookies.get(sessions.remember_cookie_name()))
    logout_user()
    session.clear()
    g.remember_cookie = None  # a remember-me cookie from before the kiosk goes too


def without_autocomplete(html: bytes) -> bytes:
    """Switch autocomplete off in every form and field of a page."""
    html = _AUTOCOMPLETE.sub(b'autocomplete="off"', html)
    return _FORM_WITHOUT_AUTOCOMPLETE.sub(b'<form autocomplete="off"', html)


def idle_seconds() -> int:
    """Return the idle timeout (for the page's countdown)."""
    return int(current_app.config["KIOSK_IDLE_SECONDS"])
