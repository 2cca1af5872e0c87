"""`flask mail send-due`: send queued notices in batches, one SMTP connection per batch.

Nothing here runs inside a visitor's request. A mail is addressed and rendered only now, in the
person's current language and to their current address; a deleted account's mails are gone
already (personal_data erases them). A failed mail waits NOTICES_RETRY_MINUTES, doubling with
each attempt, and is given up after NOTICES_MAX_ATTEMPTS; the log names the mail id, never the
address.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from kldialog.auth.models import User
from kldialog.kernel.db import db
from kldialog.kernel.mail import DELIVERY_ERRORS, MailBatch, build_message
from kldialog.kernel.time import utcnow
from kldialog.notices.models import MailState, NoticeKind, NoticePreference, QueuedMail
from kldialog.notices.preferences import unsubscribe_token
from kldialog.templating import STATUS_LABELS, localized_text

log = logging.getLogger(__name__)


@dataclass
class SendReport:
    """What one run did, for the cron log."""

    sent: int = 0
    retried: int = 0
    given_up: int = 0
    dropped: int = 0  # no longer wanted or no longer deliverable (opt-out, address gone)


def send_due(now: dt.datetime | None = None) -> SendReport:
    """Send every due mail, batch by batch; commit after each batch."""
    now = now or utcnow()
    report = SendReport()
    size = current_app.config["NOTICES_BATCH_SIZE"]
    while True:
        batch = _due_batch(now, size)
        if not batch:
            break
        stopped = _send_batch(batch, now, report)
        db.session.commit()
        if stopped or len(batch) < size:
            break
    _purge_old(now)
    db.session.commit()
    return report


# One due mail with its account and settings, as the batch query returns them.
Due = tuple[QueuedMail, User, NoticePreference | None]


def _due_batch(now: dt.datetime, size: int) -> list[Due]:
    # SKIP LOCKED: a second sender started by an overlapping cron run takes other rows.
    rows = db.session.execute(
        sa.select(QueuedMail, User, NoticePreference)
        .join(User, User.id == QueuedMail.user_id)
        .outerjoin(NoticePreference, NoticePreference.user_id == QueuedMail.user_id)
        .where(QueuedMail.state == MailState.due, QueuedMail.next_attempt_at <= now)
        .order_by(QueuedMail.next_attempt_at, QueuedMail.id)
        .limit(size)
        .with_for_update(skip_locked=True, of=QueuedMail)
    ).all()
    return [(mail, user, preference) for mail, user, preference in rows]


def _still_wanted(mail: QueuedMail, user: User, preference: NoticePreference | None) -> bool:
    if preference is None or user.email is None or user.deleted_at is not None:
        return False
    return preference.openings if mail.kind == NoticeKind.openings else preference.digest


def _send_batch(
    batch: list[Due],
    now: dt.datetime,
    report: SendReport,
) -> bool:
    """Send one batch over one connection; return True if the server could not be reached."""
    with MailBatch() as connection:
        for mail, user, preference in batch:
            if not _still_wanted(mail, user, preference):
                db.session.delete(mail)
                report.dropped += 1
                continue
            try:
                connection.send(render(mail, user))
            except DELIVERY_ERRORS as error:
                _failed(mail, now, error, report)
                if not connection.connected:
                    return True  # no server: the rest of the batch waits for the next run
                continue
            mail.state = MailState.sent
            mail.sent_at = now
            report.sent += 1
    return False


def _failed(mail: QueuedMail, now: dt.datetime, error: BaseException, report: SendReport) -> None:
    config = current_app.config
    mail.attempts += 1
    if mail.attempts >= config["NOTICES_MAX_ATTEMPTS"]:
        mail.state = MailState.failed
        report.given_up += 1
        log.warning(
            "Queued mail %s (%s) given up after %s attempts: %s",
            mail.id,
            mail.kind.value,
            mail.attempts,
            type(error).__name__,
        )
        return
    wait = config["NOTICES_RETRY_MINUTES"] * 2 ** (mail.attempts - 1)
    mail.next_attempt_at = now + dt.timedelta(minutes=wait)
    report.retried += 1
    log.info("Queued mail %s failed (%s), retry in %s min", mail.id, type(error).__name__, wait)


def render(mail: QueuedMail, user: User) -> EmailMessage:
    """Build the message in the person's language, with the RFC 8058 one-click headers."""
    url = url_for(
        "notices.unsubscribe", token=unsubscribe_token(user.id, mail.kind), _external=True
    )
    language = user.language or current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(language):
        if mail.kind == NoticeKind.digest:
            subject = _("Your weekly summary: news on the projects you follow")
            body = render_template(
                "mail/notice_digest.txt",
                name=user.display_name,
                projects=mail.payload.get("projects", []),
                status_labels=STATUS_LABELS,
                unsubscribe_url=url,
            )
        else:
            is_round = mail.payload.get("type") == "round"
            subject = (
                _(
                    "Now open: priority round “%(title)s”",
                    title=localized_text(mail.payload, "title"),
                )
                if is_round
                else _("Now open: survey “%(title)s”", title=localized_text(mail.payload, "title"))
            )
            body = render_template(
                "mail/notice_opening.txt",
                name=user.display_name,
                is_round=is_round,
                title=localized_text(mail.payload, "title"),
                closes_at=dt.datetime.fromisoformat(mail.payload["closes_at"]),
                url=mail.payload.get("url", ""),
                unsubscribe_url=url,
            )
    return build_message(
        user.email or "",  # never empty here: _still_wanted has checked
        subject,
        body,
        {
            "List-Unsubscribe": f"<{url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def _purge_old(now: dt.datetime) -> None:
    """Forget sent and given-up mails after NOTICES_KEEP_DAYS (longer than any producer window)."""
    cutoff = now - dt.timedelta(days=current_app.config["NOTICES_KEEP_DAYS"])
    db.session.execute(
        sa.delete(QueuedMail).where(
            QueuedMail.state != MailState.due, QueuedMail.created_at < cutoff
        )
    )
