"""Staff pages for paper questionnaires: print one, enter returned ones twice, correct, count.

Every view reads top to bottom: load → authorize (permissions) → validate (form) → act
(surveys.paper) → flash and redirect (303).
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.kernel import double_entry
from kldialog.kernel.double_entry import BatchForm, BatchState, EntryBatch
from kldialog.kernel.errors import RuleViolation
from kldialog.permissions import require
from kldialog.surveys import paper, services
from kldialog.surveys.models import QuestionKind, Survey

bp = Blueprint("survey_paper", __name__, url_prefix="/staff/surveys/<int:survey_id>/paper")


def _survey(survey_id: int) -> Survey:
    """Return a published survey for staff who may enter its questionnaires; else 403/404."""
    require(permissions.can_manage_surveys(current_user))
    survey = services.get_survey(survey_id)
    if survey is None or survey.state.value != "published":
        abort(404)
    require(permissions.can_enter_survey_paper(current_user, survey))
    return survey


def _overview(survey: Survey, batch_form: BatchForm | None = None, status: int = 200) -> Any:
    return (
        render_template(
            "surveys/staff/paper.html", survey=survey, state=BatchState,
            batch_form=batch_form or BatchForm(formdata=None),
            batches=double_entry.batches_of(paper.KIND, survey.id),
            refusal=paper.paper_refusal(survey),
        ),
        status,
    )  # fmt: skip


@bp.get("")
@login_required
def overview(survey_id: int) -> Any:
    """Show the print links, the form for a new batch, and the batches with their state."""
    return _overview(_survey(survey_id))


@bp.get("/print")
@login_required
def print_questionnaire(survey_id: int) -> Any:
    """Show the questionnaire to print, in the chosen language (no secrets on it)."""
    survey = _survey(survey_id)
    language = str(request.args.get("language", ""))
    if language not in current_app.config["LANGUAGES"]:
        language = current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(language):
        return render_template(
            "surveys/paper_print.html", survey=survey, kind=QuestionKind, language=language
        )


def _grid(survey: Survey, template: str, indices: list[int], **context: Any) -> Any:
    """Render an entry page with one questionnaire per sheet index."""
    context.setdefault("typed", {})
    context.setdefault("problems", {})
    status = context.pop("status", 200)
    return (
        render_template(
            template, survey=survey, indices=indices, kind=QuestionKind, form=FlaskForm(),
            questions=survey.questions(), **context,
        ),
        status,
    )  # fmt: skip


@bp.route("/batches/new", methods=["GET", "POST"])
@login_required
def new_batch(survey_id: int) -> BaseResponse | Any:
    """Enter a new batch of returned questionnaires for the first time."""
    survey = _survey(survey_id)
    batch_form = BatchForm(request.values)
    if not batch_form.validate():
        return _overview(survey, batch_form=batch_form, status=400)
    indices = list(range(int(batch_form.sheets.data or 0)))
    page = "surveys/staff/paper_entry.html"
    if request.method == "GET":
        return _grid(survey, page, indices, batch_form=batch_form)
    if not FlaskForm().validate_on_submit():
        abort(400)
    sheets, errors, typed = paper.read_sheets(survey, request.form, indices)
    try:
        batch = paper.enter_first(
            current_user, survey, batch_form.label.data or "", [sheets[i] for i in indices], errors
        )
    except paper.SheetsRejected as error:
        return _grid(survey, page, indices, batch_form=batch_form, typed=typed,
                     problems=error.sheets, status=400)  # fmt: skip
    except RuleViolation as error:
        flash(error.message, "danger")
        return redirect(url_for("survey_paper.overview", survey_id=survey.id), 303)
    flash(
        _(
            "The first entry of batch “%(label)s” is saved. A different staff account now "
            "enters the same sheets once more.",
            label=batch.label,
        ),
        "success",
    )
    return redirect(url_for("survey_paper.overview", survey_id=survey.id), 303)


def _batch(survey: Survey, batch_id: int) -> EntryBatch:
    batch = double_entry.get_batch(paper.KIND, survey.id, batch_id)
    if batch is None:
        abort(404)
    return batch


def _batch_page(survey: Survey, batch: EntryBatch, **context: Any) -> Any:
    found = double_entry.mismatches(batch) if batch.state == BatchState.mismatch else []
    indices = [m.index for m in found] if found else list(range(batch.sheets))
    differences = [
        (m.index, paper.describe(survey, m.first), paper.describe(survey, m.second),
         m.first["unusable"], m.second["unusable"])
        for m in found
    ]  # fmt: skip
    return _grid(
        survey, "surveys/staff/paper_batch.html", context.pop("indices", indices), batch=batch,
        state=BatchState, differences=differences,
        own_first=batch.first_by_id == current_user.id, **context,
    )  # fmt: skip


@bp.get("/batches/<int:batch_id>")
@login_required
def batch(survey_id: int, batch_id: int) -> Any:
    """Show a batch: the second entry, the differences to settle, or its counts."""
    survey = _survey(survey_id)
    return _batch_page(survey, _batch(survey, batch_id))


@bp.post("/batches/<int:batch_id>")
@login_required
def enter(survey_id: int, batch_id: int) -> BaseResponse | Any:
    """Make the second entry of a batch, or settle its differences as read from the paper."""
    survey = _survey(survey_id)
    batch_ = _batch(survey, batch_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    back = url_for("survey_paper.batch", survey_id=survey.id, batch_id=batch_.id)
    settling = batch_.state == BatchState.mismatch
    indices = (
        [m.index for m in double_entry.mismatches(batch_)]
        if settling
        else list(range(batch_.sheets))
    )
    sheets, errors, typed = paper.read_sheets(survey, request.form, indices)
    try:
        if settling:
            paper.correct_batch(current_user, survey, batch_.id, sheets, errors)
            flash(_("The differences are settled and the batch is counted."), "success")
        elif paper.enter_second(current_user, survey, batch_.id, [sheets[i] for i in indices],
                                errors):  # fmt: skip
            flash(_("The two entries differ. Check the sheets shown and settle them."), "warning")
            return redirect(back, 303)
        else:
            flash(_("Both entries agree. The batch is counted."), "success")
    except paper.SheetsRejected as error:
        return _batch_page(survey, _batch(survey, batch_id), indices=indices, typed=typed,
                           problems=error.sheets, status=400)  # fmt: skip
    except RuleViolation as error:
        flash(error.message, "danger")
        return redirect(back, 303)
    return redirect(url_for("survey_paper.overview", survey_id=survey.id), 303)
