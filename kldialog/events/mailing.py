"""Event mail: who gets it (accounts and visitors), in which language, with which links."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import lazy_gettext as _l

from kldialog.auth.models import User
from kldialog.events.links import confirm_token, fingerprint, serializer
from kldialog.events.models import (
    Event,
    EventRegistration,
    RegistrationStatus,
)
from kldialog.events.reading import waiting_position
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.mail import send_mail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipient:
    """One person an event mail goes to, with what the mail needs."""

    registration_id: int
    email: str
    language: str
    name: str | None
    status: RegistrationStatus
    cancel_url: str | None


def load_recipients(*conditions: Any) -> list[Recipient]:
    """Load everyone a mail goes to with what it needs (one query); accounts and visitors."""
    rows = db.session.execute(
        sa.select(
            EventRegistration.id,
            EventRegistration.event_id,
            EventRegistration.email,
            EventRegistration.language,
            EventRegistration.status,
            EventRegistration.joined_at,
            User.email.label("account_email"),
            User.display_name,
            User.language.label("account_language"),
        )
        .outerjoin(User, User.id == EventRegistration.user_id)
        .where(*conditions)
        .order_by(EventRegistration.id)
    ).all()
    result = []
    for row in rows:
        address = row.email or row.account_email
        if not address:
            continue  # a deleted account: nobody to tell
        cancel_url = None
        if row.joined_at is not None:
            token = serializer("cancel").dumps([row.id, fingerprint(row.event_id, row.joined_at)])
            cancel_url = url_for("events.cancel_link", token=token, _external=True)
        result.append(
            Recipient(
                registration_id=row.id,
                email=address,
                language=row.account_language or row.language or "de",
                name=row.display_name,
                status=row.status,
                cancel_url=cancel_url,
            )
        )
    return result


def send_event_mail(
    recipient: Recipient, subject: Any, template: str, event: Event, **context: Any
) -> int:
    """Send one event mail in the recipient's language; log and go on if it fails (1 or 0)."""
    try:
        send_mail(
            recipient.email,
            subject,
            template,
            language=recipient.language,
            name=recipient.name,
            event=event,
            status=recipient.status.value,
            event_url=url_for("events.show", event_id=event.id, _external=True),
            ics_url=url_for("events.event_ics", event_id=event.id, _external=True),
            cancel_url=recipient.cancel_url,
            **context,
        )
    except Exception:
        log.exception("Could not send %s for registration %s", template, recipient.registration_id)
        return 0
    return 1


def mail_registration(registration_id: int, template: str) -> int:
    """Mail one registration (registered, moved up, reminder, already registered)."""
    recipients = load_recipients(EventRegistration.id == registration_id)
    if not recipients:
        return 0
    event = db.session.scalar(
        sa.select(Event)
        .join(EventRegistration, EventRegistration.event_id == Event.id)
        .where(EventRegistration.id == registration_id)
    )
    if event is None:
        return 0
    position = None
    if recipients[0].status == RegistrationStatus.waiting:
        registration = db.session.get(EventRegistration, registration_id)
        position = waiting_position(registration) if registration is not None else None
    return send_event_mail(
        recipients[0], _subject(template, event.title), template, event, position=position
    )


def _subject(template: str, title: str) -> Any:
    """Return the lazy subject of an event mail with the event's title."""
    return {
        "event_registered": _l("Your registration: %(title)s", title=title),
        "event_already_registered": _l("You are already registered: %(title)s", title=title),
        "event_moved_up": _l("You have a place: %(title)s", title=title),
        "event_reminder": _l("Reminder: %(title)s", title=title),
    }[template]


def mail_confirmation(registration: EventRegistration) -> None:
    """Mail a visitor the link that confirms their registration."""
    event = registration.event
    try:
        send_mail(
            registration.email or "",
            _l("Please confirm your registration: %(title)s", title=event.title),
            "event_confirm",
            language=registration.language,
            event=event,
            url=url_for("events.confirm", token=confirm_token(registration), _external=True),
            event_url=url_for("events.show", event_id=event.id, _external=True),
            hours=current_app.config["EVENT_CONFIRM_HOURS"],
        )
    except Exception as error:
        log.exception("Could not send the confirmation for registration %s", registration.id)
        raise RuleViolation(_l("We could not send the e-mail. Please try again later.")) from error
