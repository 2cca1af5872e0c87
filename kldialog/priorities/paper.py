"""Paper ballots: print sheets with one-time codes, enter returned sheets twice, count them.

A printed code is stored only as a keyed hash (as residency codes are) and is linked to
no one. Returned sheets are typed in batches by two different staff accounts
(kernel.double_entry); a batch counts once both entries agree, and each sheet then passes
the same rules as an online ballot (ballots.check_ballot). A counted sheet keeps its choices
and code hash only: no batch, no time, no staff account. Closing moves them into the ballot
file (channel "paper") and deletes them with the codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from kldialog.auth.models import User
from kldialog.auth.residency import (
    RESIDENCY_CODE_ALPHABET,
    RESIDENCY_CODE_LENGTH,
    format_residency_code,
    is_valid_residency_code,
    normalise_residency_code,
)
from kldialog.kernel import double_entry
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.double_entry import EntryBatch, Mismatch, Sheet
from kldialog.kernel.errors import RuleViolation, number_range
from kldialog.kernel.time import utcnow
from kldialog.priorities.ballots import BallotRejected, check_ballot
from kldialog.priorities.models import (
    InvalidReason,
    PaperBallot,
    PaperCode,
    PriorityRound,
    RoundProject,
    RoundResult,
    RoundState,
)

KIND = "round"  # the double-entry batches of priority rounds
PRINT_MAX = 1000


class SheetsRejected(RuleViolation):
    """Some sheets of an entry break a rule; `sheets` maps their index to the message."""

    def __init__(self, sheets: Mapping[int, str]) -> None:
        """Keep the message of every sheet that is wrong."""
        super().__init__(_l("Some sheets need your attention. Nothing was saved."))
        self.sheets = dict(sheets)


def paper_code_hash(round_id: int, normalised: str) -> str:
    """Return the keyed digest stored for a ballot code (valid for its round only).

    Keyed like residency codes, so a copy of the database without SECRET_KEY cannot be
    searched for codes; the prefix keeps ballot and residency digests apart.
    """
    key = current_app.config["SECRET_KEY"].encode()
    message = f"paper-ballot:{round_id}:{normalised}".encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def paper_refusal(round_: PriorityRound) -> str | None:
    """Return why paper sheets cannot be entered for the round now, or None if they can."""
    if not round_.paper_offered or round_.paper_until is None:
        return str(_l("This round does not offer paper ballots."))
    if round_.state != RoundState.published or not round_.has_started():
        return str(_l("Paper sheets can be entered once the round is published and open."))
    closed = db.session.scalar(sa.select(sa.exists().where(RoundResult.round_id == round_.id)))
    if closed:
        return str(_l("This round is closed; paper sheets can no longer be entered."))
    if utcnow() >= round_.paper_until:
        return str(
            _l(
                "The deadline for paper sheets (%(deadline)s) has passed; "
                "sheets can no longer be entered.",
                deadline=format_datetime(round_.paper_until, "short"),
            )
        )
    return None


def _refuse_unless_accepting(round_: PriorityRound) -> None:
    reason = paper_refusal(round_)
    if reason is not None:
        db.session.rollback()
        raise RuleViolation(reason)


def print_ballots(actor: User, round_: PriorityRound, count: int) -> list[str]:
    """Create `count` one-time ballot codes; return their plaintext (formatted) exactly once."""
    if not round_.paper_offered or round_.result is not None:
        raise RuleViolation(_l("This round does not offer paper ballots."))
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= PRINT_MAX:
        raise RuleViolation(number_range(1, PRINT_MAX), field="count")
    for _attempt in range(3):
        codes: set[str] = set()
        while len(codes) < count:
            codes.add(
                "".join(
                    secrets.choice(RESIDENCY_CODE_ALPHABET) for _ in range(RESIDENCY_CODE_LENGTH)
                )
            )
        db.session.execute(
            sa.insert(PaperCode),
            [{"code_hash": paper_code_hash(round_.id, c), "round_id": round_.id} for c in codes],
        )
        audit(actor, "paper.printed", "priority_round", round_.id, sheets=count)
        try:
            db.session.commit()
        except IntegrityError:  # a clash with an earlier code (about 1 in 10^14): draw again
            db.session.rollback()
            continue
        return [format_residency_code(code) for code in sorted(codes)]
    raise RuleViolation(_l("The codes could not be stored. Please try again."))


def make_sheet(code: str, invalid: str, choices: Mapping[int, int | None]) -> Sheet:
    """Return a sheet as compared and stored: normalised code, reason, choices by id.

    An invalid sheet keeps no marks (they do not count, and two readers need not agree on
    them); unreadable points stay None, so the check can say which field is wrong.
    """
    return {
        "code": normalise_residency_code(code)[:40],
        "invalid": invalid,
        "choices": {}
        if invalid
        else {str(pid): points for pid, points in sorted(choices.items()) if points != 0},
    }


def _allowed(round_: PriorityRound) -> set[int]:
    return set(
        db.session.scalars(
            sa.select(RoundProject.project_id).where(RoundProject.round_id == round_.id)
        )
    )


def _sheet_problem(round_: PriorityRound, sheet: Sheet, allowed: set[int]) -> str | None:
    """Return what is wrong with one sheet on its own, or None."""
    code, reason = sheet["code"], sheet["invalid"]
    if reason and reason not in {r.value for r in InvalidReason}:
        return str(_l("Please choose why the sheet is invalid."))
    if code and not is_valid_residency_code(code):
        return str(
            _l(
                "A ballot code has 12 characters: letters and the digits 2 to 9, "
                "e.g. ABCD-EFGH-JKMN."
            )
        )
    if reason:
        return None
    if not code:
        return str(_l("Enter the ballot code, or mark the sheet invalid (code missing)."))
    try:
        check_ballot(round_, {int(pid): pts for pid, pts in sheet["choices"].items()}, allowed)
    except BallotRejected as error:
        return str(
            _l(
                "%(problem)s Check the entry, or mark the sheet invalid.",
                problem=next(iter(error.projects.values()), error.message),
            )
        )
    return None


def check_sheets(round_: PriorityRound, sheets: list[Sheet]) -> dict[int, str]:
    """Return the problems of an entry by sheet index: rules, code format, unknown or used codes."""
    allowed = _allowed(round_)
    problems: dict[int, str] = {}
    hashes: dict[int, str] = {}
    for index, sheet in enumerate(sheets):
        problem = _sheet_problem(round_, sheet, allowed)
        if problem is not None:
            problems[index] = problem
        elif sheet["code"]:
            digest = paper_code_hash(round_.id, sheet["code"])
            if digest in hashes.values():
                problems[index] = str(_l("This code appears twice in the batch."))
            hashes[index] = digest
    known = set(
        db.session.scalars(
            sa.select(PaperCode.code_hash).where(
                PaperCode.round_id == round_.id, PaperCode.code_hash.in_(set(hashes.values()))
            )
        )
    )
    used = set(
        db.session.scalars(sa.select(PaperBallot.code_hash).where(PaperBallot.code_hash.in_(known)))
    )
    for index, digest in hashes.items():
        if digest not in known:
            problems.setdefault(index, str(_l("This code was not printed for this round.")))
        elif digest in used:
            problems.setdefault(index, str(_l("A sheet with this code has already been counted.")))
    return problems


def _checked(round_: PriorityRound, sheets: list[Sheet]) -> None:
    problems = check_sheets(round_, sheets)
    if problems:
        db.session.rollback()
        raise SheetsRejected(problems)


def enter_first(actor: User, round_: PriorityRound, label: str, sheets: list[Sheet]) -> EntryBatch:
    """Store the first entry of a new batch of returned sheets."""
    _refuse_unless_accepting(round_)
    _checked(round_, sheets)
    batch = double_entry.start(actor, KIND, round_.id, label, sheets)
    audit(actor, "paper.first_entry", "entry_batch", batch.id, round=round_.id, sheets=len(sheets))
    db.session.commit()
    return batch


def _batch(round_: PriorityRound, batch_id: int) -> EntryBatch:
    batch = double_entry.get_batch(KIND, round_.id, batch_id, lock=True)
    if batch is None:
        db.session.rollback()
        raise RuleViolation(_l("This batch does not exist."))
    return batch


def enter_second(
    actor: User, round_: PriorityRound, batch_id: int, sheets: list[Sheet]
) -> list[Mismatch]:
    """Store the second entry; count the batch when it agrees, else return the differences."""
    _refuse_unless_accepting(round_)
    batch = _batch(round_, batch_id)
    try:
        double_entry.refuse_second(actor, batch)
    except RuleViolation:
        db.session.rollback()
        raise
    _checked(round_, sheets)
    found = double_entry.enter_second(actor, batch, sheets)
    audit(
        actor, "paper.second_entry", "entry_batch", batch.id, round=round_.id,
        sheets=len(sheets), differing=len(found),
    )  # fmt: skip
    if not found:
        _count(actor, round_, batch, double_entry.agreed_sheets(batch))
    db.session.commit()
    return found


def correct_batch(
    actor: User, round_: PriorityRound, batch_id: int, corrected: dict[int, Sheet]
) -> None:
    """Settle the differing sheets of a batch as read from the paper, then count the batch."""
    _refuse_unless_accepting(round_)
    batch = _batch(round_, batch_id)
    order = sorted(corrected)
    problems = check_sheets(round_, [corrected[i] for i in order])
    if problems:
        db.session.rollback()
        raise SheetsRejected({order[i]: message for i, message in problems.items()})
    sheets = double_entry.correct(batch, corrected)
    # The corrected sheets were checked alone; the whole batch again (a code twice, say).
    _checked(round_, sheets)
    audit(actor, "paper.corrected", "entry_batch", batch.id, round=round_.id, sheets=len(order))
    _count(actor, round_, batch, sheets)
    db.session.commit()


def _count(actor: User, round_: PriorityRound, batch: EntryBatch, sheets: list[Sheet]) -> None:
    """Turn the agreed sheets into paper ballots and close the batch (no commit)."""
    allowed = _allowed(round_)
    rows: list[dict[str, Any]] = []
    for sheet in sheets:
        digest = paper_code_hash(round_.id, sheet["code"]) if sheet["code"] else None
        if sheet["invalid"]:
            rows.append({"round_id": round_.id, "code_hash": digest, "choices": None,
                         "invalid_reason": InvalidReason(sheet["invalid"])})  # fmt: skip
            continue
        # The same rules as an online ballot, in the one place they live.
        submitted = {int(pid): points for pid, points in sheet["choices"].items()}
        choices = check_ballot(round_, submitted, allowed)
        stored = {str(pid): pts for pid, pts in sorted(choices.items())}
        rows.append(
            {"round_id": round_.id, "code_hash": digest, "invalid_reason": None, "choices": stored}
        )
    invalid = sum(1 for row in rows if row["invalid_reason"] is not None)
    try:
        db.session.execute(sa.insert(PaperBallot), rows)
    except IntegrityError:  # another batch counted one of these codes a moment ago
        db.session.rollback()
        raise RuleViolation(
            _l("A code of this batch was counted in another batch meanwhile. Nothing was saved.")
        ) from None
    double_entry.finish(batch, accepted=len(rows) - invalid, invalid=invalid)
    audit(
        actor, "paper.counted", "entry_batch", batch.id, round=round_.id,
        accepted=len(rows) - invalid, invalid=invalid,
    )  # fmt: skip


def paper_counts(round_: PriorityRound) -> tuple[int, int]:
    """Return (valid, invalid) paper ballots counted so far (one query)."""
    rows = dict(
        db.session.execute(
            sa.select(PaperBallot.invalid_reason.is_(None), sa.func.count())
            .where(PaperBallot.round_id == round_.id)
            .group_by(PaperBallot.invalid_reason.is_(None))
        ).all()
    )
    return int(rows.get(True, 0)), int(rows.get(False, 0))


def paper_ballot_rows(round_id: int, slugs: Mapping[int, str]) -> list[dict[str, int]]:
    """Return the round's valid paper ballots as {project_slug: points} (for closing)."""
    stored = db.session.scalars(
        sa.select(PaperBallot.choices).where(
            PaperBallot.round_id == round_id, PaperBallot.invalid_reason.is_(None)
        )
    )
    return [
        {slugs[int(pid)]: points for pid, points in (choices or {}).items()} for choices in stored
    ]


def erase_paper(round_id: int) -> None:
    """Delete a closing round's paper ballots and codes; erase unfinished batches (no commit)."""
    db.session.execute(sa.delete(PaperBallot).where(PaperBallot.round_id == round_id))
    db.session.execute(sa.delete(PaperCode).where(PaperCode.round_id == round_id))
    double_entry.discard_unfinished(KIND, round_id)
