"""Blocking an account from taking part (admin area), with a reason in the audit log."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import as_utc, utcnow

# "Permanently" is a date far in the future: one column, one rule (`blocked_until > now`).
# 1 January 9999 UTC, not 31 December: shown in local time it must not overflow the year.
PERMANENT_BLOCK = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def _required_reason(reason: str) -> str:
    """Return the trimmed reason, or refuse: every administrative action says why."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(_l("Please give a reason."), field="reason")
    return reason


def block_user(actor: User | None, user: User, until: dt.datetime, reason: str) -> None:
    """Block an account from taking part until `until` (PERMANENT_BLOCK: for good)."""
    if user.deleted_at is not None:
        raise RuleViolation(_l("This account has been deleted."))
    if actor is not None and actor.id == user.id:
        raise RuleViolation(_l("You cannot block your own account."))
    reason = _required_reason(reason)
    until = as_utc(until)
    if until <= utcnow():
        raise RuleViolation(_l("The end of the block must be in the future."), field="until")
    user.blocked_until = until
    audit(
        actor,
        "account.block",
        "user",
        user.id,
        reason,
        until="permanent" if until >= PERMANENT_BLOCK else until.isoformat(),
    )
    db.session.commit()


def unblock_user(actor: User | None, user: User, reason: str) -> None:
    """Lift a block before it ends."""
    if user.deleted_at is not None:
        raise RuleViolation(_l("This account has been deleted."))
    if not user.is_blocked():
        raise RuleViolation(_l("This account is not blocked."))
    reason = _required_reason(reason)
    user.blocked_until = None
    audit(actor, "account.unblock", "user", user.id, reason)
    db.session.commit()
