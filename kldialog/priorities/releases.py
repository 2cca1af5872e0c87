"""Rows that parallel transactions share: insert-or-ignore, and release rows made before locking."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from kldialog.kernel.db import db
from kldialog.kernel.disclosure import Release


def insert_ignore(table: sa.Table, values: dict[str, Any]) -> postgresql.Insert | sqlite.Insert:
    """Return INSERT … ON CONFLICT DO NOTHING for the current database."""
    if db.engine.dialect.name == "postgresql":
        return postgresql.insert(table).values(**values).on_conflict_do_nothing()
    return sqlite.insert(table).values(**values).on_conflict_do_nothing()


def ensure_release_row(key: str) -> None:
    """Create an empty release row once, so parallel first contributions do not collide."""
    db.session.execute(
        insert_ignore(
            db.metadata.tables[Release.__tablename__],
            {"key": key, "pending": 0, "epsilon_spent": 0.0},
        )
    )
