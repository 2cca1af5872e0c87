"""Where answers live: the sealed staging table, batch flushes and whole-set rewrites.

The write path (docs/privacy.md, "Surveys"):

1. `stage` (inside the submit transaction) stores the answer set sealed (surveys.sealing), with
   a random key and no person or time outside the ciphertext.
2. `flush_staged` appends a full batch (at least SURVEY_FLUSH_BATCH >= k answer sets) to the
   answer tables with fresh random keys, in shuffled order, in one transaction of its own: a
   group of at least k on every physical trace (PostgreSQL xmin, heap and page order).
3. `rewrite_answer_set` is used whenever fewer than k would otherwise move together: at close,
   and for the time-based flush of a short batch. It deletes the survey's whole answer set and
   writes it again, staged sets included, shuffled, with fresh keys, in one transaction, so the
   newcomers hide among all others. With fewer than k answer sets in total, an open survey's
   staged sets wait (sealed) instead.

After each of these commits, the dead rows are physically removed (`rewrite_tables`): on
PostgreSQL a deleted staged row is a dead tuple whose xmin is that of the participation row
and whose xmax is the flush's, until a table rewrite drops it. If the process dies before a
commit, the database rolls the transaction back: every answer arrives exactly once.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from kldialog.kernel.db import db, rewrite_tables
from kldialog.kernel.time import utcnow
from kldialog.surveys import sealing
from kldialog.surveys.models import (
    Channel,
    StagedResponse,
    Survey,
    SurveyAnswer,
    SurveyResponse,
    TextReview,
)
from kldialog.surveys.settings import flush_batch_size, flush_max_hours, min_group_size

log = logging.getLogger(__name__)
_random = random.SystemRandom()

ANSWER_TABLES = ("survey_answer", "survey_response", "survey_staged_response")
STAGING_TABLE = "survey_staged_response"

# One stored answer: (question_id, option_id, number, text, review).
Row = tuple[int, int | None, int | None, str | None, TextReview | None]
# An answer set: how it came in, and its answers.
AnswerSet = tuple[Channel, list[Row]]
CHANNEL_LETTERS = {Channel.online: "o", Channel.paper: "p"}


def _hour(moment: dt.datetime) -> int:
    return int(moment.timestamp() // 3600)


def stage(
    survey_id: int,
    records: list[dict[str, Any]],
    size: int,
    now: dt.datetime,
    channel: Channel = Channel.online,
) -> None:
    """Add a sealed answer set to the session (the caller's transaction commits it).

    The channel is sealed too, as one letter for either, so the length never tells it.
    """
    content = {"h": _hour(now), "a": records, "c": CHANNEL_LETTERS[channel]}
    db.session.add(
        StagedResponse(
            id=uuid.uuid4(), survey_id=survey_id, sealed=sealing.seal(survey_id, content, size)
        )
    )


def staged_count(survey_id: int) -> int:
    """Return how many submissions wait in the staging table."""
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(StagedResponse)
            .where(StagedResponse.survey_id == survey_id)
        )
        or 0
    )


def answer_set_count(survey_id: int) -> int:
    """Return how many answer sets are in the answer tables."""
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(SurveyResponse)
            .where(SurveyResponse.survey_id == survey_id)
        )
        or 0
    )


def answer_sets_by_channel(survey_id: int) -> dict[Channel, int]:
    """Return how many answer sets the answer tables hold, by channel (one query)."""
    counted: dict[Channel, int] = dict.fromkeys(Channel, 0)
    for channel, number in db.session.execute(
        sa.select(SurveyResponse.channel, sa.func.count())
        .where(SurveyResponse.survey_id == survey_id)
        .group_by(SurveyResponse.channel)
    ):
        counted[channel] = int(number)
    return counted


def _lock_survey(survey_id: int) -> None:
    """Take the write lock (a row lock on PostgreSQL, the database lock on SQLite) first.

    Two flushes or rewrites then never move the same staged rows twice.
    """
    db.session.execute(sa.update(Survey).where(Survey.id == survey_id).values(id=Survey.id))


def _open_staged(survey_id: int) -> tuple[list[uuid.UUID], list[dict[str, Any]]]:
    """Return the staged rows' keys and their decrypted contents (SealError if one fails)."""
    rows = db.session.execute(
        sa.select(StagedResponse.id, StagedResponse.sealed).where(
            StagedResponse.survey_id == survey_id
        )
    ).all()
    return [key for key, _sealed in rows], [sealing.unseal(survey_id, s) for _k, s in rows]


def _rows_of(content: dict[str, Any]) -> AnswerSet:
    """Return the channel and answer rows of a staged answer set's content."""
    # Sets staged before channels existed came in online.
    channel = Channel.paper if content.get("c") == "p" else Channel.online
    return channel, [
        (r["q"], r["o"], r["n"], r["t"], TextReview.pending if r["t"] is not None else None)
        for r in content["a"]
    ]


def _write_rows(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows in the given (shuffled) order; executemany keeps that order."""
    if rows:
        db.session.execute(sa.insert(table), rows)


def _insert_answer_sets(survey_id: int, sets: list[AnswerSet]) -> None:
    """Insert answer sets with fresh random keys, sets and answers each in shuffled order."""
    _random.shuffle(sets)
    responses: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    for channel, rows in sets:
        response_id = uuid.uuid4()  # fresh: nothing ties it to a staged row or an older key
        responses.append({"id": response_id, "survey_id": survey_id, "channel": channel})
        answers.extend(
            {
                "id": uuid.uuid4(),
                "response_id": response_id,
                "question_id": question_id,
                "option_id": option_id,
                "number": number,
                "text": text,
                "review": review,
            }
            for question_id, option_id, number, text, review in rows
        )
    _random.shuffle(responses)
    _random.shuffle(answers)
    _write_rows(db.metadata.tables[SurveyResponse.__tablename__], responses)
    _write_rows(db.metadata.tables[SurveyAnswer.__tablename__], answers)


def _delete_staged(keys: Sequence[uuid.UUID]) -> None:
    if keys:
        db.session.execute(sa.delete(StagedResponse).where(StagedResponse.id.in_(list(keys))))


def erase_dead_rows(*tables: str) -> None:
    """Physically drop the dead rows a committed flush, rewrite or purge left behind."""
    try:
        rewrite_tables(*tables)
    except sa.exc.SQLAlchemyError:  # the data is committed; a later flush or purge retries
        log.exception("Rewriting survey tables failed; dead rows stay until the next rewrite.")


def flush_staged(survey_id: int) -> int:
    """Append one shuffled batch of all staged answer sets once a full batch waits.

    Returns how many moved (0 while fewer than flush_batch_size() are staged). Runs in its
    own transaction: on any error, or if the process dies half-way, nothing of the batch is
    written and it stays staged.
    """
    if staged_count(survey_id) < flush_batch_size():
        return 0  # nothing to do: no write lock taken, no row version written
    _lock_survey(survey_id)
    try:
        keys, contents = _open_staged(survey_id)
    except sealing.SealError:
        db.session.rollback()
        log.error("Staged survey answers cannot be opened with the configured keys.")
        return 0
    if len(keys) < flush_batch_size():
        db.session.rollback()
        return 0
    _insert_answer_sets(survey_id, [_rows_of(content) for content in contents])
    _delete_staged(keys)
    db.session.commit()
    erase_dead_rows(STAGING_TABLE)
    return len(keys)


def _stored_answer_sets(survey_id: int) -> list[AnswerSet]:
    """Return every answer set in the answer tables, answer sets without answers included."""
    channels: dict[uuid.UUID, Channel] = dict(
        db.session.execute(
            sa.select(SurveyResponse.id, SurveyResponse.channel).where(
                SurveyResponse.survey_id == survey_id
            )
        ).all()
    )
    sets: dict[uuid.UUID, list[Row]] = {response_id: [] for response_id in channels}
    answers = db.session.execute(
        sa.select(
            SurveyAnswer.response_id,
            SurveyAnswer.question_id,
            SurveyAnswer.option_id,
            SurveyAnswer.number,
            SurveyAnswer.text,
            SurveyAnswer.review,
        )
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(SurveyResponse.survey_id == survey_id)
    )
    for response_id, *row in answers:
        sets[response_id].append(tuple(row))  # type: ignore[arg-type]
    return [(channels[response_id], rows) for response_id, rows in sets.items()]


def rewrite_answer_set(
    survey_id: int,
    *,
    min_total: int = 0,
    unless: Callable[[], bool] | None = None,
    before_commit: Callable[[], None] | None = None,
) -> int | None:
    """Write the survey's whole answer set again, staged sets included; return how many moved.

    In one transaction: read every answer set, delete them all, insert them all again with
    fresh keys in shuffled order, delete the staged rows; `before_commit` runs in the same
    transaction (the final release at close). Returns None and changes nothing when fewer than
    `min_total` answer sets exist, when `unless()` is true once the lock is held (a parallel
    close got there first), or when a staged set cannot be opened. Whole-set rewrites are
    O(answers of the survey): they happen at close and for a short time-based flush only.
    """
    _lock_survey(survey_id)
    if unless is not None and unless():
        db.session.rollback()
        return None
    try:
        keys, contents = _open_staged(survey_id)
    except sealing.SealError:
        db.session.rollback()
        log.error("Staged survey answers cannot be opened with the configured keys.")
        return None
    sets = _stored_answer_sets(survey_id) + [_rows_of(content) for content in contents]
    if len(sets) < min_total:
        db.session.rollback()
        return None
    ids = sa.select(SurveyResponse.id).where(SurveyResponse.survey_id == survey_id)
    db.session.execute(sa.delete(SurveyAnswer).where(SurveyAnswer.response_id.in_(ids)))
    db.session.execute(sa.delete(SurveyResponse).where(SurveyResponse.survey_id == survey_id))
    _delete_staged(keys)
    _insert_answer_sets(survey_id, sets)
    if before_commit is not None:
        before_commit()
    db.session.commit()
    erase_dead_rows(*ANSWER_TABLES)
    return len(keys)


@dataclass
class FlushReport:
    """What `flush_due` did: answer sets moved, and surveys whose staged sets must wait."""

    moved: int = 0
    waiting: list[int] = field(default_factory=list)


def _oldest_staged_hour(survey_id: int) -> int | None:
    try:
        _keys, contents = _open_staged(survey_id)
    except sealing.SealError:
        log.error("Staged survey answers cannot be opened with the configured keys.")
        return None
    finally:
        db.session.rollback()
    return min((int(content["h"]) for content in contents), default=None)


def flush_due(now: dt.datetime | None = None) -> FlushReport:
    """Move staged answer sets of open surveys that waited longer than SURVEY_FLUSH_MAX_HOURS.

    A full batch is appended; a short one rewrites the survey's whole answer set so the
    newcomers hide among all others. With fewer than k answer sets in total they stay staged
    (sealed), and the survey is listed in the report.
    """
    now = now or utcnow()
    report = FlushReport()
    survey_ids = list(
        db.session.scalars(
            sa.select(StagedResponse.survey_id)
            .join(Survey, Survey.id == StagedResponse.survey_id)
            .where(Survey.closes_at > now)
            .distinct()
            .order_by(StagedResponse.survey_id)
        )
    )
    db.session.rollback()
    for survey_id in survey_ids:
        moved = flush_staged(survey_id)
        if moved:
            report.moved += moved
            continue
        oldest = _oldest_staged_hour(survey_id)
        if oldest is None or _hour(now) - oldest < flush_max_hours():
            continue
        moved_short = rewrite_answer_set(survey_id, min_total=min_group_size())
        if moved_short is None:
            report.waiting.append(survey_id)
        else:
            report.moved += moved_short
    return report
