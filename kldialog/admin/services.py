"""Admin queries (accounts, audit log, code batches) and the role change use case.

Blocking, roles and residency codes themselves are account rules and live in auth.services;
this module only reads for the admin pages and combines those rules where a page needs it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kldialog.auth import services as accounts
from kldialog.auth.models import ResidencyCode, Role, User
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.pagination import Page, clamp_page
from kldialog.kernel.params import MAX_ID

# Roles an admin grants and revokes; "resident" is what every account is.
MANAGED_ROLES = (Role.moderator, Role.staff, Role.council, Role.admin)

# --- accounts --------------------------------------------------------------------------------


def find_users(
    *, query: str = "", role: Role | None = None, sort: str = "newest", page: int = 1, per_page: int
) -> Page[User]:
    """Search active accounts by part of the display name or e-mail address; two queries.

    Case-insensitive on every database (both columns are stored folded), and `%`/`_` in the
    query match themselves, not "anything".
    """
    conditions: list[sa.ColumnElement[bool]] = [User.deleted_at.is_(None)]
    text = query.strip()
    if text:
        email_part = accounts.normalise_email(text)
        name_part = accounts.display_name_key(accounts.clean_display_name(text))
        conditions.append(
            sa.or_(
                User.email.contains(email_part, autoescape=True),
                User.display_name_key.contains(name_part, autoescape=True),
            )
        )
    if role is not None:
        conditions.append(User.roles.op("&")(int(role)) != 0)
    total = db.session.scalar(sa.select(sa.func.count(User.id)).where(*conditions)) or 0
    page = clamp_page(page, total, per_page)
    order = (
        (User.display_name_key, User.id)
        if sort == "name"
        else (User.created_at.desc(), User.id.desc())
    )
    items = db.session.scalars(
        sa.select(User)
        .where(*conditions)
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), total=total, page=page, per_page=per_page)


def get_user(user_id: int) -> User | None:
    """Return any account by id, deleted ones included (their rows are empty)."""
    if not 1 <= user_id <= MAX_ID:
        return None
    return db.session.get(User, user_id)


def change_roles(
    actor: User, user: User, wanted: Role, reason: str, expected: int | None
) -> list[tuple[Role, bool]]:
    """Grant and revoke the managed roles so the account holds `wanted`; return the changes.

    `expected` is the roles value the admin saw: if someone changed them meanwhile, nothing is
    overwritten. Each change goes through accounts.set_role (audit entry, last-admin rule);
    taking away the admin role is tried first, so when that is refused nothing else changes.
    """
    if user.deleted_at is not None:
        raise RuleViolation(_l("This account has been deleted."))
    if expected != user.roles:
        raise RuleViolation(
            _l("Someone changed the roles of this account meanwhile. Please check them again.")
        )
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(_l("Please give a reason."), field="reason")
    current = Role(user.roles)
    changes = [
        (role, bool(wanted & role))
        for role in MANAGED_ROLES
        if bool(current & role) != bool(wanted & role)
    ]
    changes.sort(key=lambda change: not (change[0] is Role.admin and not change[1]))
    for role, grant in changes:
        accounts.set_role(actor, user, role, grant, reason)
    return changes


# --- audit log -------------------------------------------------------------------------------


def find_audit_entries(
    *,
    action: str = "",
    target_type: str = "",
    target_id: int | None = None,
    actor_id: int | None = None,
    page: int = 1,
    per_page: int,
) -> Page[AuditEntry]:
    """Return audit entries, newest first, filtered; two queries (actors are joined)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if action:
        conditions.append(AuditEntry.action.startswith(action.lower(), autoescape=True))
    if target_type:
        conditions.append(AuditEntry.target_type == target_type)
    if target_id is not None:
        conditions.append(AuditEntry.target_id == target_id)
    if actor_id is not None:
        conditions.append(AuditEntry.actor_id == actor_id)
    total = db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(*conditions)) or 0
    page = clamp_page(page, total, per_page)
    items = db.session.scalars(
        sa.select(AuditEntry)
        .where(*conditions)
        # Ids grow with every insert and rows never change: id order is time order.
        .order_by(AuditEntry.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), total=total, page=page, per_page=per_page)


@dataclass
class AuditTargets:
    """Names of the objects the entries on one page refer to, looked up in one query per type."""

    users: dict[int, Any] = field(default_factory=dict)
    projects: dict[int, Any] = field(default_factory=dict)


def audit_targets(entries: list[AuditEntry]) -> AuditTargets:
    """Look up the accounts and projects that a page of audit entries refers to."""
    from kldialog.projects.models import Project

    def ids(kind: str) -> set[int]:
        return {e.target_id for e in entries if e.target_type == kind and e.target_id is not None}

    targets = AuditTargets()
    if user_ids := ids("user"):
        rows = db.session.execute(
            sa.select(User.id, User.display_name, User.deleted_at).where(User.id.in_(user_ids))
        )
        targets.users = {row.id: row for row in rows}
    if project_ids := ids("project"):
        rows = db.session.execute(
            sa.select(Project.id, Project.slug, Project.title, Project.title_en).where(
                Project.id.in_(project_ids)
            )
        )
        targets.projects = {row.id: row for row in rows}
    return targets


# --- residency codes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchCount:
    """How many codes of a batch are still unused."""

    batch: str
    unused: int
    first_created_at: dt.datetime
    last_created_at: dt.datetime


def unused_codes_by_batch() -> list[BatchCount]:
    """Return the unused codes per batch, newest batch first; one query."""
    last = sa.func.max(ResidencyCode.created_at)
    rows = db.session.execute(
        sa.select(
            ResidencyCode.batch,
            sa.func.count(ResidencyCode.id),
            sa.func.min(ResidencyCode.created_at),
            last,
        )
        .group_by(ResidencyCode.batch)
        .order_by(last.desc(), ResidencyCode.batch)
    )
    return [BatchCount(*row) for row in rows]
