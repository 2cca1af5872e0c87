"""Signed links in event mails: confirm a visitor's registration, cancel one."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from kldialog.events.models import (
    EventRegistration,
)
from kldialog.events.rules import LINK_INVALID, MAX_ID
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.secretbox import same_secret
from kldialog.kernel.time import as_utc


def fingerprint(*values: Any) -> str:
    """Digest what a link may act on; a link for a deleted or re-created row stops working."""
    parts = []
    for value in values:
        if isinstance(value, dt.datetime):  # PostgreSQL returns aware, SQLite naive UTC values
            value = as_utc(value).replace(tzinfo=None).isoformat()
        parts.append(str(value))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def serializer(purpose: str) -> URLSafeSerializer:
    """Return the signer of never-expiring event links for one purpose."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"kldialog-event-{purpose}")


def _timed_serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt=f"kldialog-event-{purpose}"
    )


def confirm_token(registration: EventRegistration) -> str:
    """Sign the confirmation link of a visitor's pending registration (expires)."""
    return _timed_serializer("confirm").dumps(
        [registration.id, fingerprint(registration.event_id, registration.created_at)]
    )


def cancel_token(registration: EventRegistration) -> str:
    """Sign the cancellation link: it never expires, and works until the registration is gone."""
    return serializer("cancel").dumps(
        [registration.id, fingerprint(registration.event_id, registration.joined_at)]
    )


def registration_for(purpose: str, token: str, max_age: int | None) -> EventRegistration:
    """Return the registration a signed link names; RuleViolation if wrong, old or used up."""
    if len(token) > 300:
        raise RuleViolation(LINK_INVALID)
    try:
        if purpose == "confirm":
            data = _timed_serializer(purpose).loads(token, max_age=max_age)
        else:
            data = serializer(purpose).loads(token)
    except SignatureExpired as error:
        raise RuleViolation(
            _l("This link has expired. Please register again on the event page.")
        ) from error
    except BadData as error:
        raise RuleViolation(LINK_INVALID) from error
    if not (
        isinstance(data, list)
        and len(data) == 2
        and type(data[0]) is int
        and 0 < data[0] <= MAX_ID
        and isinstance(data[1], str)
    ):
        raise RuleViolation(LINK_INVALID)
    registration = db.session.get(EventRegistration, data[0])
    moment = None
    if registration is not None:
        moment = registration.created_at if purpose == "confirm" else registration.joined_at
    if registration is None or not same_secret(data[1], fingerprint(registration.event_id, moment)):
        raise RuleViolation(
            _l(
                "This link no longer works: the registration was cancelled or has been deleted "
                "after the event."
            )
        )
    return registration


def registration_for_cancel_token(token: str) -> EventRegistration:
    """Return the registration a cancellation link stands for."""
    return registration_for("cancel", token, None)


def registration_for_confirm_token(token: str) -> EventRegistration:
    """Return the pending (or already confirmed) registration of a confirmation link."""
    return registration_for("confirm", token, current_app.config["EVENT_CONFIRM_HOURS"] * 3600)
