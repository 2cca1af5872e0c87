"""Double entry of paper forms: two staff accounts type a batch; it counts once both agree.

Generic over what a sheet holds (a ballot, a questionnaire): a sheet is a JSON object the
feature builds from its form, and two sheets agree when their canonical JSON is equal. The
feature checks its own rules, calls these functions inside its transaction and commits.
Once a batch agrees its typed entries are erased: the row keeps label, who entered it and
counts, never the contents.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.orm import Mapped, mapped_column
from wtforms import StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from kldialog.kernel.db import Model, UTCDateTime, db, enum_column
from kldialog.kernel.errors import RuleViolation, at_most_characters, number_range
from kldialog.kernel.params import BoundedIntegerField
from kldialog.kernel.time import utcnow

if TYPE_CHECKING:
    from kldialog.auth.models import User

Sheet = dict[str, Any]
BATCH_MAX_SHEETS = 50
BATCH_LABEL_MAX = 60


class BatchState(enum.StrEnum):
    """Where a batch stands in the double entry."""

    first = "first"  # entered once, waiting for a second account
    mismatch = "mismatch"  # entered twice, some sheets differ: to be corrected
    agreed = "agreed"  # both entries agree; counted, contents erased
    discarded = "discarded"  # never agreed before its target closed; contents erased


class EntryBatch(Model):
    """A stack of returned paper sheets entered twice, by two different staff accounts."""

    __tablename__ = "entry_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # which feature: "round", "survey"
    target_id: Mapped[int] = mapped_column()
    label: Mapped[str] = mapped_column(sa.String(BATCH_LABEL_MAX))
    sheets: Mapped[int] = mapped_column()
    state: Mapped[BatchState] = mapped_column(
        enum_column(BatchState, "state"), default=BatchState.first
    )
    first_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    second_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    first_entry: Mapped[list[Sheet] | None] = mapped_column(sa.JSON(none_as_null=True))
    second_entry: Mapped[list[Sheet] | None] = mapped_column(sa.JSON(none_as_null=True))
    accepted: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    agreed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.Index("ix_entry_batch_target", "kind", "target_id"),
        # The point of double entry: one account cannot confirm its own typing.
        sa.CheckConstraint(
            "second_by_id IS NULL OR first_by_id IS NULL OR second_by_id <> first_by_id",
            name="two_accounts",
        ),
        sa.CheckConstraint(f"sheets BETWEEN 1 AND {BATCH_MAX_SHEETS}", name="sheets_range"),
        sa.CheckConstraint(
            "state IN ('first', 'mismatch') OR (first_entry IS NULL AND second_entry IS NULL)",
            name="finished_keeps_no_contents",
        ),
        sa.CheckConstraint("accepted >= 0 AND invalid >= 0", name="counts_positive"),
        sa.CheckConstraint("length(label) > 0", name="label_not_empty"),
    )


class BatchForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF is untyped
    """Start a batch: its label and how many sheets it has (sent with GET, no CSRF needed)."""

    class Meta:
        """A GET form: it changes nothing."""

        csrf = False

    label = StringField(
        _l("Label of the batch"),
        validators=[
            DataRequired(_l("Please name the batch, e.g. “Bürgerbüro, 3 March, box 1”.")),
            Length(max=BATCH_LABEL_MAX, message=at_most_characters(BATCH_LABEL_MAX)),
        ],
        description=_l("Write it on the stack of sheets too, so both entries use the same one."),
    )
    sheets = BoundedIntegerField(
        _l("Number of sheets in the batch"),
        validators=[
            InputRequired(number_range(1, BATCH_MAX_SHEETS)),
            NumberRange(1, BATCH_MAX_SHEETS, number_range(1, BATCH_MAX_SHEETS)),
        ],
    )


@dataclass(frozen=True)
class Mismatch:
    """One sheet the two entries read differently (index from 0)."""

    index: int
    first: Sheet
    second: Sheet


def _canonical(sheet: Sheet) -> str:
    return json.dumps(sheet, sort_keys=True, separators=(",", ":"))


def compare(first: list[Sheet], second: list[Sheet]) -> list[Mismatch]:
    """Return the sheets on which two entries of the same batch differ."""
    if len(first) != len(second):
        raise ValueError("both entries of a batch have the same number of sheets")
    return [
        Mismatch(index, a, b)
        for index, (a, b) in enumerate(zip(first, second, strict=True))
        if _canonical(a) != _canonical(b)
    ]


def clean_label(text: str) -> str:
    """Normalise a batch label: single spaces, trimmed."""
    return " ".join((text or "").split())


def batches_of(kind: str, target_id: int) -> list[EntryBatch]:
    """Return a target's batches, newest first (one query)."""
    return list(
        db.session.scalars(
            sa.select(EntryBatch)
            .where(EntryBatch.kind == kind, EntryBatch.target_id == target_id)
            .order_by(EntryBatch.created_at.desc(), EntryBatch.id.desc())
        )
    )


def get_batch(kind: str, target_id: int, batch_id: int, *, lock: bool = False) -> EntryBatch | None:
    """Return a target's batch (locked for this transaction on PostgreSQL when asked)."""
    query = sa.select(EntryBatch).where(
        EntryBatch.id == batch_id, EntryBatch.kind == kind, EntryBatch.target_id == target_id
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalar(query)


def start(actor: User, kind: str, target_id: int, label: str, sheets: list[Sheet]) -> EntryBatch:
    """Store the first entry of a new batch (no commit)."""
    label = clean_label(label)
    if not 1 <= len(label) <= BATCH_LABEL_MAX:
        raise RuleViolation(
            _l("Please give the batch a label of 1 to %(max)d characters.", max=BATCH_LABEL_MAX),
            field="label",
        )
    if not 1 <= len(sheets) <= BATCH_MAX_SHEETS:
        raise RuleViolation(_l("A batch has 1 to %(max)d sheets.", max=BATCH_MAX_SHEETS))
    batch = EntryBatch(
        kind=kind,
        target_id=target_id,
        label=label,
        sheets=len(sheets),
        first_by_id=actor.id,
        first_entry=json.loads(json.dumps(sheets)),
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def may_enter_second(actor: Any, batch: EntryBatch) -> bool:
    """Return whether this account may make the batch's second entry (not the first one's)."""
    return batch.state == BatchState.first and getattr(actor, "id", None) != batch.first_by_id


def refuse_second(actor: Any, batch: EntryBatch) -> None:
    """Raise RuleViolation unless this account may make the batch's second entry now."""
    if batch.state != BatchState.first or batch.first_entry is None:
        raise RuleViolation(_l("This batch has already been entered twice."))
    if getattr(actor, "id", None) == batch.first_by_id:
        raise RuleViolation(
            _l(
                "You made the first entry of this batch. The second entry must be made by a "
                "different staff account, without looking at the first."
            )
        )


def enter_second(actor: User, batch: EntryBatch, sheets: list[Sheet]) -> list[Mismatch]:
    """Store the second entry of a batch and return where it differs from the first (no commit).

    Without differences the batch is ready to count (`finish`); with them it waits for
    `correct`. The batch should be locked (get_batch(lock=True)).
    """
    refuse_second(actor, batch)
    if len(sheets) != batch.sheets:
        raise RuleViolation(
            _l("This batch has %(count)d sheets; please enter all of them.", count=batch.sheets)
        )
    second = json.loads(json.dumps(sheets))
    batch.second_entry = second
    batch.second_by_id = actor.id
    found = compare(batch.first_entry or [], second)
    if found:
        batch.state = BatchState.mismatch
    db.session.flush()
    return found


def mismatches(batch: EntryBatch) -> list[Mismatch]:
    """Return the sheets on which the two entries of a batch differ."""
    if batch.first_entry is None or batch.second_entry is None:
        return []
    return compare(batch.first_entry, batch.second_entry)


def correct(batch: EntryBatch, corrected: dict[int, Sheet]) -> list[Sheet]:
    """Settle the differing sheets as read from the paper; return the agreed sheets (no commit).

    `corrected` must give exactly the mismatched sheets (by index); both entries take the
    corrected reading, so the batch then agrees.
    """
    if batch.state != BatchState.mismatch or batch.first_entry is None:
        raise RuleViolation(_l("This batch has no differences to correct."))
    wanted = {m.index for m in mismatches(batch)}
    if set(corrected) != wanted:
        raise RuleViolation(_l("Please settle every sheet on which the two entries differ."))
    sheets = [json.loads(json.dumps(corrected.get(i, s))) for i, s in enumerate(batch.first_entry)]
    batch.first_entry = sheets
    batch.second_entry = sheets
    return sheets


def agreed_sheets(batch: EntryBatch) -> list[Sheet]:
    """Return the sheets both entries agree on (call when there are no mismatches)."""
    if batch.first_entry is None or mismatches(batch):
        raise RuleViolation(_l("The two entries of this batch do not agree yet."))
    return list(batch.first_entry)


def finish(batch: EntryBatch, *, accepted: int, invalid: int) -> None:
    """Mark a batch counted and erase its typed contents, keeping only counts (no commit)."""
    batch.state = BatchState.agreed
    batch.first_entry = None
    batch.second_entry = None
    batch.accepted, batch.invalid = accepted, invalid
    batch.agreed_at = utcnow()
    db.session.flush()


def discard_unfinished(kind: str, target_id: int) -> int:
    """Erase the contents of a target's batches that never agreed (its window closed)."""
    result = db.session.execute(
        sa.update(EntryBatch)
        .where(
            EntryBatch.kind == kind,
            EntryBatch.target_id == target_id,
            EntryBatch.state.in_([BatchState.first, BatchState.mismatch]),
        )
        .values(state=BatchState.discarded, first_entry=None, second_entry=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
