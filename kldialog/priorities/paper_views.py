"""Staff pages for paper ballots: print sheets, enter returned sheets twice, correct, count.

Every view reads top to bottom: load → authorize (permissions) → validate (form) → act
(priorities.paper) → flash and redirect (303).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.kernel import double_entry
from kldialog.kernel.double_entry import BatchState, EntryBatch
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.kernel.secretbox import same_secret
from kldialog.permissions import require
from kldialog.priorities import paper
from kldialog.priorities import rounds as reading
from kldialog.priorities.models import InvalidReason, Method, PriorityRound
from kldialog.priorities.paper_forms import (
    INVALID_LABELS,
    BatchForm,
    EntryForm,
    PrintForm,
    read_sheets,
    typed_of,
)

bp = Blueprint("paper", __name__, url_prefix="/staff/rounds/<int:round_id>/paper")
PRINT_FORM_KEY = "paper_print_once"


def _round(round_id: int) -> PriorityRound:
    """Return a round that offers paper, for staff who may enter it; else 403/404."""
    require(permissions.can_manage_rounds(current_user))
    round_ = reading.get_round(round_id)
    if round_ is None or not round_.paper_offered:
        abort(404)
    require(permissions.can_enter_paper(current_user, round_))
    return round_


def _batch(round_: PriorityRound, batch_id: int) -> EntryBatch:
    batch = double_entry.get_batch(paper.KIND, round_.id, batch_id)
    if batch is None:
        abort(404)
    return batch


def _overview(
    round_: PriorityRound,
    print_form: PrintForm | None = None,
    batch_form: BatchForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    print_form = print_form or PrintForm(formdata=None)
    print_form.once.data = session[PRINT_FORM_KEY] = secrets.token_urlsafe(16)
    valid, invalid = paper.paper_counts(round_)
    return (
        render_template(
            "priorities/paper.html",
            round=round_,
            print_form=print_form,
            batch_form=batch_form or BatchForm(formdata=None),
            batches=double_entry.batches_of(paper.KIND, round_.id),
            valid=valid,
            invalid=invalid,
            refusal=paper.paper_refusal(round_),
            state=BatchState,
        ),
        status,
    )


@bp.get("")
@login_required
def overview(round_id: int) -> tuple[str, int]:
    """Show the round's paper rules, the print form, and its batches with their state."""
    return _overview(_round(round_id))


@bp.post("/print")
@login_required
def print_sheets(round_id: int) -> BaseResponse | tuple[str, int]:
    """Create one-time codes and answer with the printable sheets (shown only this once).

    As with residency codes the sheets are the POST's answer, never stored: only the codes'
    hashes are. `no-store` keeps them out of caches; the one-time value refuses a reload.
    """
    round_ = _round(round_id)
    form = PrintForm()
    if not form.validate_on_submit():
        return _overview(round_, print_form=form, status=400)
    expected = session.pop(PRINT_FORM_KEY, "")
    if not expected or not same_secret(form.once.data or "", str(expected)):
        flash(_("This form was already sent, so no sheets were printed. Send it again."), "warning")
        return _overview(round_, print_form=form, status=400)
    try:
        codes = paper.print_ballots(current_user, round_, int(form.count.data or 0))
    except RuleViolation as error:
        show_rule_violation(form, error)
        return _overview(round_, print_form=form, status=400)
    entries = reading.round_entries(round_)
    with force_locale(form.language.data):
        page = render_template(
            "priorities/paper_sheets.html", round=round_, codes=codes, entries=entries,
            method=Method, language=form.language.data,
        )  # fmt: skip
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


def _grid(
    round_: PriorityRound,
    *,
    template: str,
    indices: list[int],
    typed: list[dict[str, str]] | None = None,
    problems: dict[int, str] | None = None,
    status: int = 200,
    **context: Any,
) -> tuple[str, int]:
    """Render an entry page with one row of fields per sheet index."""
    return (
        render_template(
            template,
            round=round_,
            entries=reading.round_entries(round_),
            method=Method,
            indices=indices,
            typed=typed or [{} for _i in indices],
            problems=problems or {},
            reasons=INVALID_LABELS,
            reason_values=InvalidReason,
            form=EntryForm(),
            **context,
        ),
        status,
    )


def _project_ids(round_: PriorityRound) -> list[int]:
    return sorted(entry.project_id for entry in round_.entries)


@bp.route("/batches/new", methods=["GET", "POST"])
@login_required
def new_batch(round_id: int) -> BaseResponse | tuple[str, int]:
    """Enter a new batch of returned sheets for the first time."""
    round_ = _round(round_id)
    batch_form = BatchForm(request.values)
    if not batch_form.validate():
        return _overview(round_, batch_form=batch_form, status=400)
    count = int(batch_form.sheets.data or 0)
    indices = list(range(count))
    context: dict[str, Any] = {"batch_form": batch_form, "batch": None}
    if request.method == "GET":
        return _grid(round_, template="priorities/paper_entry.html", indices=indices, **context)
    if not EntryForm().validate_on_submit():
        abort(400)
    sheets, typed = read_sheets(round_.method, _project_ids(round_), request.form, count)
    try:
        batch = paper.enter_first(current_user, round_, batch_form.label.data or "", sheets)
    except paper.SheetsRejected as error:
        return _grid(round_, template="priorities/paper_entry.html", indices=indices,
                     typed=typed, problems=error.sheets, status=400, **context)  # fmt: skip
    except RuleViolation as error:
        flash(error.message, "danger")
        return redirect(url_for("paper.overview", round_id=round_.id), 303)
    flash(
        _(
            "The first entry of batch “%(label)s” is saved. A different staff account now "
            "enters the same sheets once more.",
            label=batch.label,
        ),
        "success",
    )
    return redirect(url_for("paper.overview", round_id=round_.id), 303)


def _batch_page(round_: PriorityRound, batch: EntryBatch, **grid: Any) -> tuple[str, int]:
    mismatched = double_entry.mismatches(batch) if batch.state == BatchState.mismatch else []
    if batch.state == BatchState.mismatch:
        indices = [m.index for m in mismatched]
    else:
        indices = list(range(batch.sheets))
    return _grid(
        round_, template="priorities/paper_batch.html",
        indices=grid.pop("indices", indices), batch=batch, state=BatchState,
        mismatches=[(m.index, typed_of(m.first), typed_of(m.second)) for m in mismatched],
        own_first=batch.first_by_id == current_user.id, **grid,
    )  # fmt: skip


@bp.get("/batches/<int:batch_id>")
@login_required
def batch(round_id: int, batch_id: int) -> tuple[str, int]:
    """Show a batch: the second entry, the differences to correct, or its counts."""
    round_ = _round(round_id)
    return _batch_page(round_, _batch(round_, batch_id))


@bp.post("/batches/<int:batch_id>")
@login_required
def enter(round_id: int, batch_id: int) -> BaseResponse | tuple[str, int]:
    """Make the second entry of a batch, or settle its differences as read from the paper."""
    round_ = _round(round_id)
    batch_ = _batch(round_, batch_id)
    if not EntryForm().validate_on_submit():
        abort(400)
    ids = _project_ids(round_)
    back = url_for("paper.batch", round_id=round_.id, batch_id=batch_.id)
    try:
        if batch_.state == BatchState.mismatch:
            indices = [m.index for m in double_entry.mismatches(batch_)]
            read = read_sheets(round_.method, ids, request.form, batch_.sheets)
            sheets, typed = read[0], [read[1][i] for i in indices]
            paper.correct_batch(current_user, round_, batch_.id, {i: sheets[i] for i in indices})
            flash(_("The differences are settled and the batch is counted."), "success")
        else:
            sheets, typed = read_sheets(round_.method, ids, request.form, batch_.sheets)
            indices = list(range(batch_.sheets))
            if paper.enter_second(current_user, round_, batch_.id, sheets):
                flash(
                    _("The two entries differ. Check the sheets shown and settle them."), "warning"
                )
                return redirect(back, 303)
            flash(_("Both entries agree. The batch is counted."), "success")
    except paper.SheetsRejected as error:
        db_batch = _batch(round_, batch_id)
        return _batch_page(round_, db_batch, indices=indices, typed=typed,
                           problems=error.sheets, status=400)  # fmt: skip
    except RuleViolation as error:
        flash(error.message, "danger")
        return redirect(back, 303)
    return redirect(url_for("paper.overview", round_id=round_.id), 303)
