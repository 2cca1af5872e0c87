"""The append-only audit log: who did what to which object, when, and why."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kldialog.kernel.db import Model, UTCDateTime, db
from kldialog.kernel.time import utcnow

if TYPE_CHECKING:
    from kldialog.auth.models import User


class AuditEntry(Model):
    """One administrative action: who did what to which object, when, and why.

    Rows are never changed or deleted (database triggers refuse it); entries refer to people
    by account id only, so erasing an account leaves no personal data here.
    """

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(60))
    target_type: Mapped[str] = mapped_column(sa.String(40), default="")
    target_id: Mapped[int | None]
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    # By name: the account model sits in a feature above the kernel.
    actor: Mapped[User | None] = relationship("User", lazy="joined")

    __table_args__ = (
        sa.Index("ix_audit_entry_target", "target_type", "target_id"),
        sa.CheckConstraint("length(action) > 0", name="action_not_empty"),
    )

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action}>"


# Logs that must not change afterwards (audit, moderation): the database refuses UPDATE/DELETE.
def append_only_statements(table: str, dialect: str) -> list[str]:
    """Return the trigger DDL that makes a table append-only on SQLite or PostgreSQL."""
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{table} is append-only'; END; $$ LANGUAGE plpgsql",
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
    ]


def install_append_only(table: sa.Table) -> None:
    """Install the append-only triggers whenever the table is created (tests, create_all)."""

    @sa.event.listens_for(table, "after_create")
    def _install(target: sa.Table, connection: sa.Connection, **kwargs: Any) -> None:
        for statement in append_only_statements(target.name, connection.dialect.name):
            connection.exec_driver_sql(statement)


install_append_only(cast(sa.Table, AuditEntry.__table__))


def audit(
    actor: Any,
    action: str,
    target_type: str = "",
    target_id: int | None = None,
    reason: str = "",
    **details: Any,
) -> AuditEntry:
    """Add an audit entry to the session; the caller's commit writes it with the change."""
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        reason=reason,
        details=details,
    )
    db.session.add(entry)
    return entry
