"""Paper questionnaires: staff enter returned questionnaires twice into the staged answer path.

Each sheet is parsed by the same rules as an online submission (answering.parse_submission);
two staff accounts type a batch (kernel.double_entry), and once both agree every valid sheet
is staged sealed as one answer set with channel "paper", exactly like an online one: no
participation row (nobody is known), no staff account, no batch, shuffled into the answer
tables in batches of at least k. The batch keeps only its label, the two accounts and counts.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from kldialog.auth.models import User
from kldialog.kernel import double_entry
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.double_entry import EntryBatch, Mismatch, Sheet
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import utcnow
from kldialog.surveys import answering, storage
from kldialog.surveys.models import Channel, Survey
from kldialog.surveys.settings import min_group_size
from kldialog.templating import Localized, localized

log = logging.getLogger(__name__)
_random = random.SystemRandom()
KIND = "survey"  # the double-entry batches of surveys


class SheetsRejected(RuleViolation):
    """Some sheets of an entry break a rule: {sheet index: {question id (0: sheet): message}}."""

    def __init__(self, sheets: dict[int, dict[int, str]]) -> None:
        """Keep the messages by sheet and question."""
        super().__init__(_l("Some questionnaires need your attention. Nothing was saved."))
        self.sheets = sheets


def paper_refusal(survey: Survey) -> str | None:
    """Return why questionnaires cannot be entered now, or None if they can."""
    if not survey.is_open():
        return str(_l("Questionnaires can be entered only while the survey is open."))
    return None


def sheet_form(formdata: MultiDict[str, Any], index: int) -> MultiDict[str, str]:
    """Return one sheet's fields of an entry, without their `s<index>-` prefix."""
    prefix = f"s{index}-"
    return MultiDict(
        [(key[len(prefix) :], str(value)) for key, value in formdata.items(multi=True)
         if key.startswith(prefix)]
    )  # fmt: skip


def read_sheet(survey: Survey, form: MultiDict[str, str]) -> tuple[Sheet, dict[int, str]]:
    """Parse one questionnaire as an online submission; return the sheet and its errors."""
    if form.get("unusable") == "1":
        return {"unusable": True, "answers": []}, {}
    submission = answering.parse_submission(survey, form)
    errors = dict(submission.errors)
    if submission.foreign:
        errors[0] = str(_l("The sheet has answers to questions that are not in this survey."))
    answers = sorted(
        ([a.question_id, a.option_id, a.number, a.text] for a in submission.answers),
        key=lambda r: (r[0], r[1] or 0, r[2] if r[2] is not None else -1, r[3] or ""),
    )
    return {"unusable": False, "answers": answers}, errors


def read_sheets(
    survey: Survey, formdata: MultiDict[str, Any], indices: list[int]
) -> tuple[dict[int, Sheet], dict[int, dict[int, str]], dict[int, MultiDict[str, str]]]:
    """Read the given sheets of an entry: sheets, errors and typed fields by index."""
    sheets, errors, typed = {}, {}, {}
    for index in indices:
        typed[index] = sheet_form(formdata, index)
        sheets[index], found = read_sheet(survey, typed[index])
        if found:
            errors[index] = found
    return sheets, errors, typed


def _refuse(survey: Survey, errors: dict[int, dict[int, str]]) -> None:
    reason = paper_refusal(survey)
    if reason is not None:
        db.session.rollback()
        raise RuleViolation(reason)
    if errors:
        db.session.rollback()
        raise SheetsRejected(errors)


def _refuse_small(sheets: list[Sheet]) -> None:
    """Refuse a batch with fewer than k usable questionnaires.

    The channel is stored with each answer set; fewer than k paper sets could be told apart
    by whoever knows who answered on paper. So paper answers arrive k or more at a time.
    """
    k = min_group_size()
    if sum(1 for sheet in sheets if not sheet["unusable"]) < k:
        db.session.rollback()
        raise RuleViolation(
            _l(
                "A batch needs at least %(k)d usable questionnaires, so that paper answers "
                "hide among each other. Collect more before entering them.",
                k=k,
            )
        )


def enter_first(
    actor: User, survey: Survey, label: str, sheets: list[Sheet], errors: dict[int, dict[int, str]]
) -> EntryBatch:
    """Store the first entry of a new batch of questionnaires."""
    _refuse(survey, errors)
    _refuse_small(sheets)
    batch = double_entry.start(actor, KIND, survey.id, label, sheets)
    audit(actor, "survey_paper.first_entry", "entry_batch", batch.id, survey=survey.id,
          sheets=len(sheets))  # fmt: skip
    db.session.commit()
    return batch


def _batch(survey: Survey, batch_id: int) -> EntryBatch:
    batch = double_entry.get_batch(KIND, survey.id, batch_id, lock=True)
    if batch is None:
        db.session.rollback()
        raise RuleViolation(_l("This batch does not exist."))
    return batch


def enter_second(
    actor: User, survey: Survey, batch_id: int, sheets: list[Sheet],
    errors: dict[int, dict[int, str]],
) -> list[Mismatch]:  # fmt: skip
    """Store the second entry; count the batch when it agrees, else return the differences."""
    reason = paper_refusal(survey)
    if reason is not None:
        raise RuleViolation(reason)
    batch = _batch(survey, batch_id)
    try:
        double_entry.refuse_second(actor, batch)
    except RuleViolation:
        db.session.rollback()
        raise
    _refuse(survey, errors)
    found = double_entry.enter_second(actor, batch, sheets)
    audit(actor, "survey_paper.second_entry", "entry_batch", batch.id, survey=survey.id,
          sheets=len(sheets), differing=len(found))  # fmt: skip
    if not found:
        _count(actor, survey, batch, double_entry.agreed_sheets(batch))
    else:
        db.session.commit()
    return found


def correct_batch(
    actor: User, survey: Survey, batch_id: int, corrected: dict[int, Sheet],
    errors: dict[int, dict[int, str]],
) -> None:  # fmt: skip
    """Settle the differing questionnaires as read from the paper, then count the batch."""
    _refuse(survey, errors)
    batch = _batch(survey, batch_id)
    sheets = double_entry.correct(batch, corrected)
    audit(actor, "survey_paper.corrected", "entry_batch", batch.id, survey=survey.id,
          sheets=len(corrected))  # fmt: skip
    _count(actor, survey, batch, sheets)


def _count(actor: User, survey: Survey, batch: EntryBatch, sheets: list[Sheet]) -> None:
    """Stage every usable sheet as a sealed paper answer set, close the batch, commit, flush."""
    _refuse_small(sheets)  # a correction may have made a sheet unusable
    now = utcnow()
    size = answering.sealed_size(survey)
    usable = [sheet for sheet in sheets if not sheet["unusable"]]
    for sheet in usable:
        records = [{"q": q, "o": o, "n": n, "t": t} for q, o, n, t in sheet["answers"]]
        _random.shuffle(records)
        storage.stage(survey.id, records, size, now, Channel.paper)
    db.session.execute(
        sa.update(Survey)
        .where(Survey.id == survey.id)
        .values(participant_count=Survey.participant_count + len(usable))
    )
    double_entry.finish(batch, accepted=len(usable), invalid=len(sheets) - len(usable))
    # Counts only: nothing of what the questionnaires say.
    audit(actor, "survey_paper.counted", "entry_batch", batch.id, survey=survey.id,
          accepted=len(usable), unusable=len(sheets) - len(usable))  # fmt: skip
    db.session.commit()
    db.session.expire(survey, ["participant_count"])
    try:
        storage.flush_staged(survey.id)
    except Exception:  # the answers are safe in the staging table; the next flush takes them
        db.session.rollback()
        log.exception("Flushing staged survey answers failed; they stay staged.")


def describe(survey: Survey, sheet: Sheet) -> list[tuple[Localized | str, Markup | str]]:
    """Return a sheet as (question, answer) lines, to show two readings side by side."""
    questions = {q.id: q for q in survey.questions()}
    options = {o.id: localized(o, "label") for q in questions.values() for o in q.options}
    lines: list[tuple[Localized | str, Markup | str]] = []
    for q, o, n, t in sheet["answers"]:
        question = questions.get(q)
        title = localized(question, "text") if question is not None else str(q)
        value: Markup | str
        if t is not None:
            value = t
        elif o is not None and n is not None:
            value = escape("%s: %s") % (options.get(o, o), n)  # keeps a German label's lang
        elif o is not None:
            value = escape(options.get(o, o))
        else:
            value = str(n)
        lines.append((title, value))
    return lines


def entry_context(survey: Survey) -> dict[str, Any]:
    """Return what every entry page of a survey needs."""
    return {"questions": survey.questions(), "refusal": paper_refusal(survey)}
