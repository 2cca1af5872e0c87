"""Opt-ins, one-click unsubscribe tokens, and the person's part in export and erasure."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeSerializer

from kldialog.auth.models import User
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.notices.models import MailState, NoticeKind, NoticePreference, QueuedMail


def preference_of(user: User) -> NoticePreference:
    """Return the person's settings; an unsaved row with everything off if they never chose."""
    found = db.session.get(NoticePreference, user.id)
    return (
        found
        if found is not None
        else NoticePreference(user_id=user.id, openings=False, digest=False)
    )


def set_preferences(user: User, *, openings: bool, digest: bool) -> None:
    """Save both opt-ins; switching one off also drops that kind's mails still waiting."""
    preference = db.session.get(NoticePreference, user.id)
    if preference is None:
        preference = NoticePreference(user_id=user.id)
        db.session.add(preference)
    preference.openings = openings
    preference.digest = digest
    for kind, wanted in ((NoticeKind.openings, openings), (NoticeKind.digest, digest)):
        if not wanted:
            _drop_waiting(user.id, kind)
    db.session.commit()


def _drop_waiting(user_id: int, kind: NoticeKind) -> None:
    db.session.execute(
        sa.delete(QueuedMail).where(
            QueuedMail.user_id == user_id,
            QueuedMail.kind == kind,
            QueuedMail.state == MailState.due,
        )
    )


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="kldialog-notices-unsubscribe")


def unsubscribe_token(user_id: int, kind: NoticeKind) -> str:
    """Sign (person, kind) for the List-Unsubscribe link: no login, no expiry (RFC 8058)."""
    return _serializer().dumps([user_id, kind.value])


def _bad_link() -> RuleViolation:
    return RuleViolation(
        _l(
            "This unsubscribe link is not valid. Please check that it is complete, or log in "
            "and change your e-mail settings on your account page."
        )
    )


def read_token(token: str) -> tuple[User, NoticeKind]:
    """Return the account and kind a token stands for; RuleViolation if forged or gone."""
    try:
        data = _serializer().loads(token)
        user_id, kind = int(data[0]), NoticeKind(data[1])
    except (BadSignature, ValueError, TypeError, IndexError, KeyError):
        raise _bad_link() from None
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise _bad_link()
    return user, kind


def unsubscribe(token: str) -> NoticeKind:
    """Turn the token's kind off (idempotent) and drop its waiting mails."""
    user, kind = read_token(token)
    preference = preference_of(user)
    set_preferences(
        user,
        openings=preference.openings and kind != NoticeKind.openings,
        digest=preference.digest and kind != NoticeKind.digest,
    )
    return kind


def preferences_export(user: User) -> dict[str, Any]:
    """Return the opt-ins and the notices queued or sent to the person (for the export)."""
    preference = preference_of(user)
    mails = db.session.scalars(
        sa.select(QueuedMail).where(QueuedMail.user_id == user.id).order_by(QueuedMail.id)
    )
    return {
        "notice_settings": {"openings": preference.openings, "weekly_digest": preference.digest},
        "notice_mails": [
            {
                "about": mail.dedupe_key,
                "kind": mail.kind.value,
                "state": mail.state.value,
                "attempts": mail.attempts,
                "queued_at": mail.created_at.isoformat(),
                "sent_at": mail.sent_at.isoformat() if mail.sent_at else None,
            }
            for mail in mails
        ],
    }


def erase_notices(user: User) -> None:
    """Delete the person's opt-ins and every mail queued or sent to them (no commit)."""
    db.session.execute(sa.delete(QueuedMail).where(QueuedMail.user_id == user.id))
    db.session.execute(sa.delete(NoticePreference).where(NoticePreference.user_id == user.id))
