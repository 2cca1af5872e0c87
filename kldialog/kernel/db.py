"""The database handle, the declarative base with named constraints, and portable column types."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.functions import FunctionElement

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose constraints get stable names, so migrations can refer to them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:
    # Type checkers cannot see through Flask-SQLAlchemy's generated class; it is a Base.
    Model = Base
else:
    Model = db.Model


def affected_rows(result: sa.Result[Any]) -> int:
    """Return how many rows an UPDATE or DELETE changed (the cursor result's rowcount)."""
    return int(cast("sa.CursorResult[Any]", result).rowcount)


def lock_rows(id_column: sa.orm.InstrumentedAttribute[int], ids: list[int]) -> None:
    """Hold the rows with these ids for this transaction, so state read next cannot go stale.

    PostgreSQL: SELECT ... FOR UPDATE in id order (two transactions locking overlapping sets
    then wait instead of deadlocking). SQLite has no row locks, and its driver begins a
    transaction only at the first write: a no-op UPDATE takes the database write lock at once.
    Reload the objects afterwards (populate_existing): what the session holds may be older.
    """
    if not ids:
        return
    table = id_column.class_
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            sa.select(id_column).where(id_column.in_(ids)).order_by(id_column).with_for_update()
        )
        return
    db.session.execute(
        sa.update(table)
        .where(id_column == min(ids))
        .values({id_column: id_column})
        .execution_options(synchronize_session=False)
    )


def enum_column(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """Store an enum as its string value with a named CHECK constraint (portable, migratable)."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """A moment in time, always handed back as aware UTC.

    SQLite keeps no time zone and returns naive values; this type makes every database return
    the same thing, so no caller has to repair times it reads. Naive values written are taken
    as UTC; aware ones are converted.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        """Store UTC (without a zone on SQLite, which would otherwise keep the local offset)."""
        if value is None:
            return None
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        """Return aware UTC whatever the database handed back."""
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class utc_month(FunctionElement[str]):
    """The calendar month (UTC) of a UTCDateTime column as 'YYYY-MM', to group by in SQL."""

    type = sa.String()
    inherit_cache = True


@compiles(utc_month, "sqlite")
def _utc_month_sqlite(element: utc_month, compiler: Any, **kw: Any) -> str:
    """SQLite keeps UTCDateTime as naive UTC text."""
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


@compiles(utc_month, "postgresql")
def _utc_month_postgresql(element: utc_month, compiler: Any, **kw: Any) -> str:
    """PostgreSQL keeps timestamptz; the month is read in UTC, whatever the session's zone."""
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM')"


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_pragmas(connection: Any, record: Any) -> None:
    """Make every SQLite connection zero what it deletes and enforce foreign keys.

    secure_delete is a build default on some systems and not on others; erased personal data
    must not linger in free pages of the file, whatever the build says.
    """
    if type(connection).__module__.startswith("sqlite3"):
        cursor = connection.cursor()
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()


def rewrite_tables(*names: str) -> None:
    """Physically drop dead rows of these tables (PostgreSQL: VACUUM FULL; SQLite: no-op).

    PostgreSQL keeps deleted and updated rows as dead tuples until a vacuum, and a plain VACUUM
    only marks their space reusable without overwriting it; only a rewrite removes the bytes.
    Runs outside the session's transaction (VACUUM cannot run in one), so commit first. On
    SQLite secure_delete already zeroes freed space at commit.
    """
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for name in names:
            connection.exec_driver_sql(f'VACUUM (FULL, ANALYZE) "{name}"')
