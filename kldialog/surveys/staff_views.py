"""Staff survey pages: the builder (settings, pages, questions), preview, text review, CSV.

Registered on the surveys blueprint (views.bp). Views only load, authorize, call the
service and map its errors to fields or messages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.kernel.params import parse_int
from kldialog.kernel.time import local_input_value
from kldialog.projects.reading import project_choices
from kldialog.surveys import builder, export, results, retention, review, services, settings
from kldialog.surveys.forms import (
    KIND_LABELS,
    ActionForm,
    QuestionForm,
    SectionForm,
    SurveyForm,
)
from kldialog.surveys.models import Question, QuestionKind, Survey
from kldialog.surveys.views import PageState, _answer_page, _navigate, bp
from kldialog.templating import localized
from kldialog.windows.models import Eligibility
from kldialog.windows.staff import staff_button

# --- staff: builder -----------------------------------------------------------------------------


def _staff_survey_or_404(survey_id: int) -> Survey:
    permissions.require(permissions.can_manage_surveys(current_user))
    survey = services.get_survey(survey_id)
    if survey is None:
        abort(404)
    return survey


@bp.get("/staff/surveys")
@login_required
def staff_index() -> str:
    """List every survey for staff, drafts included."""
    permissions.require(permissions.can_manage_surveys(current_user))
    return render_template(
        "surveys/staff/index.html", surveys=services.surveys_for_list(current_user, staff=True)
    )


@bp.route("/staff/surveys/new", methods=["GET", "POST"])
@login_required
def staff_new() -> str | BaseResponse:
    """Create a draft survey."""
    permissions.require(permissions.can_manage_surveys(current_user))
    form = SurveyForm()
    form.project_ids.choices = project_choices()
    if form.validate_on_submit():
        opens_at, closes_at = form.window()
        try:
            survey = builder.create_survey(
                current_user,
                title=form.title.data,
                intro=form.intro.data or "",
                title_en=form.title_en.data or "",
                intro_en=form.intro_en.data or "",
                opens_at=opens_at,
                closes_at=closes_at,
                eligibility=Eligibility(form.eligibility.data),
                project_ids=form.project_ids.data or [],
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The survey was created as a draft. Now add questions."), "success")
            return redirect(url_for("surveys.staff_edit", survey_id=survey.id), 303)
    return render_template("surveys/staff/survey_form.html", form=form, survey=None)


@bp.route("/staff/surveys/<int:survey_id>", methods=["GET", "POST"])
@login_required
def staff_edit(survey_id: int) -> str | BaseResponse:
    """Change a survey's settings; lists pages and questions with their actions."""
    survey = _staff_survey_or_404(survey_id)
    form = SurveyForm(
        data={
            "title": survey.title,
            "intro": survey.intro,
            "title_en": survey.title_en or "",
            "intro_en": survey.intro_en or "",
            "opens_at": local_input_value(survey.opens_at),
            "closes_at": local_input_value(survey.closes_at),
            "eligibility": survey.eligibility.value,
            "project_ids": [p.id for p in survey.projects],
        }
    )
    form.project_ids.choices = project_choices()
    if form.validate_on_submit():
        opens_at, closes_at = form.window()
        try:
            builder.update_survey(
                current_user,
                survey,
                title=form.title.data,
                intro=form.intro.data or "",
                title_en=form.title_en.data or "",
                intro_en=form.intro_en.data or "",
                opens_at=opens_at,
                closes_at=closes_at,
                eligibility=Eligibility(form.eligibility.data),
                project_ids=form.project_ids.data or [],
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The survey settings were saved."), "success")
            return redirect(url_for("surveys.staff_edit", survey_id=survey.id), 303)
    return render_template(
        "surveys/staff/survey_form.html",
        form=form,
        survey=survey,
        action_form=ActionForm(),
        preparing=results.is_preparing(survey),
        section_form=SectionForm(formdata=None, prefix="section"),
        kind_labels=KIND_LABELS,
    )


def _question_data(question: Question) -> dict[str, Any]:
    return {
        "section_id": question.section_id,
        "kind": question.kind.value,
        "text": question.text,
        "text_en": question.text_en or "",
        "help_text": question.help_text,
        "help_text_en": question.help_text_en or "",
        "options": "\n".join(option.label for option in question.options),
        "options_en": "\n".join(option.label_en or "" for option in question.options).strip(),
        "is_required": question.is_required,
        "has_other": question.has_other,
        "min_choices": question.min_choices,
        "max_choices": question.max_choices,
        "scale_low_label": question.scale_low_label,
        "scale_high_label": question.scale_high_label,
        "scale_low_label_en": question.scale_low_label_en or "",
        "scale_high_label_en": question.scale_high_label_en or "",
        "is_randomised": question.is_randomised,
    }


@bp.route("/staff/surveys/<int:survey_id>/questions/new", methods=["GET", "POST"])
@bp.route("/staff/surveys/<int:survey_id>/questions/<int:question_id>", methods=["GET", "POST"])
@login_required
def staff_question(survey_id: int, question_id: int | None = None) -> str | BaseResponse:
    """Add a question or change one (only before the first answer)."""
    survey = _staff_survey_or_404(survey_id)
    question = None
    if question_id is not None:
        question = next((q for q in survey.questions() if q.id == question_id), None)
        if question is None:
            abort(404)
    if survey.is_frozen:
        flash(
            _("People have already answered, so the questions are frozen. Create a new version."),
            "warning",
        )
        return redirect(url_for("surveys.staff_edit", survey_id=survey.id), 303)
    if question is not None:
        form = QuestionForm(data=_question_data(question))
    else:
        section = parse_int(request.args.get("section"), 1) or survey.sections[-1].id
        form = QuestionForm(data={"section_id": section})
    form.section_id.choices = [
        (s.id, localized(s, "title") if s.title else _("Page %(number)d", number=n))
        for n, s in enumerate(survey.sections, start=1)
    ]
    if form.validate_on_submit():
        try:
            builder.save_question(
                current_user,
                survey,
                question,
                section_id=form.section_id.data,
                kind=QuestionKind(form.kind.data),
                text=form.text.data,
                help_text=form.help_text.data or "",
                is_required=form.is_required.data,
                min_choices=form.min_choices.data,
                max_choices=form.max_choices.data,
                scale_low_label=form.scale_low_label.data or "",
                scale_high_label=form.scale_high_label.data or "",
                has_other=form.has_other.data,
                is_randomised=form.is_randomised.data,
                options=(form.options.data or "").splitlines(),
                text_en=form.text_en.data or "",
                options_en=(form.options_en.data or "").splitlines(),
                help_text_en=form.help_text_en.data or "",
                scale_low_label_en=form.scale_low_label_en.data or "",
                scale_high_label_en=form.scale_high_label_en.data or "",
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The question was saved."), "success")
            return redirect(
                url_for("surveys.staff_edit", survey_id=survey.id, _anchor="questions"), 303
            )
    return render_template(
        "surveys/staff/question_form.html", form=form, survey=survey, question=question
    )


def _staff_question_or_404(survey: Survey, question_id: int) -> Question:
    question = next((q for q in survey.questions() if q.id == question_id), None)
    if question is None:
        abort(404)
    return question


def _back_to_builder(survey: Survey, anchor: str = "questions") -> BaseResponse:
    return redirect(url_for("surveys.staff_edit", survey_id=survey.id, _anchor=anchor), 303)


@bp.post("/staff/surveys/<int:survey_id>/questions/<int:question_id>/move/<any(up, down):where>")
@login_required
def staff_move(survey_id: int, question_id: int, where: str) -> BaseResponse:
    """Move a question one place up or down."""
    survey = _staff_survey_or_404(survey_id)
    question = _staff_question_or_404(survey, question_id)
    if ActionForm().validate_on_submit():
        try:
            builder.move_question(current_user, survey, question, -1 if where == "up" else 1)
        except RuleViolation as error:
            flash(error.message, "danger")
    return redirect(
        url_for("surveys.staff_edit", survey_id=survey.id, _anchor=f"question-{question.id}"), 303
    )


@bp.route(
    "/staff/surveys/<int:survey_id>/questions/<int:question_id>/delete", methods=["GET", "POST"]
)
@login_required
def staff_delete_question(survey_id: int, question_id: int) -> str | BaseResponse:
    """Ask, then delete a question."""
    survey = _staff_survey_or_404(survey_id)
    question = _staff_question_or_404(survey, question_id)
    form = ActionForm()
    if form.validate_on_submit():
        try:
            builder.delete_question(current_user, survey, question)
        except RuleViolation as error:
            flash(error.message, "danger")
        else:
            flash(_("The question was deleted."), "success")
        return _back_to_builder(survey)
    return render_template(
        "surveys/staff/delete_question.html", survey=survey, question=question, form=form
    )


@bp.post("/staff/surveys/<int:survey_id>/sections")
@login_required
def staff_add_section(survey_id: int) -> BaseResponse:
    """Add a page at the end."""
    survey = _staff_survey_or_404(survey_id)
    form = SectionForm(prefix="section")
    if form.validate_on_submit():
        try:
            builder.add_section(
                current_user, survey, form.title.data or "", form.title_en.data or ""
            )
        except RuleViolation as error:
            flash(error.message, "danger")
        else:
            flash(_("A page was added."), "success")
    else:
        for errors in form.errors.values():
            for message in errors:
                flash(message, "danger")
    return _back_to_builder(survey)


@bp.post("/staff/surveys/<int:survey_id>/sections/<int:section_id>/delete")
@login_required
def staff_delete_section(survey_id: int, section_id: int) -> BaseResponse:
    """Delete an empty page."""
    survey = _staff_survey_or_404(survey_id)
    section = next((s for s in survey.sections if s.id == section_id), None)
    if section is None:
        abort(404)
    if ActionForm().validate_on_submit():
        try:
            builder.delete_section(current_user, survey, section)
        except RuleViolation as error:
            flash(error.message, "danger")
        else:
            flash(_("The page was deleted."), "success")
    return _back_to_builder(survey)


@bp.post("/staff/surveys/<int:survey_id>/close")
@login_required
def staff_close(survey_id: int) -> BaseResponse:
    """Close an ended survey now (instead of waiting for `flask surveys flush`)."""
    survey = _staff_survey_or_404(survey_id)
    return staff_button(
        lambda: retention.close_ended_survey(current_user, survey),
        done=_("The survey is closed and its final results are released."),
        back=url_for("surveys.staff_edit", survey_id=survey.id),
        done_url=url_for("surveys.results", survey_id=survey.id),
    )


@bp.post("/staff/surveys/<int:survey_id>/<any(publish, unpublish, 'new-version'):what>")
@login_required
def staff_state(survey_id: int, what: str) -> BaseResponse:
    """Publish, take back to draft, or copy as a new version."""
    survey = _staff_survey_or_404(survey_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        if what == "publish":
            builder.publish_survey(current_user, survey)
            flash(_("The survey is published."), "success")
        elif what == "unpublish":
            builder.unpublish_survey(current_user, survey)
            flash(_("The survey is a draft again."), "success")
        else:
            copy = builder.copy_survey(current_user, survey)
            flash(
                _("A new version was created as a draft. You can change its questions."), "success"
            )
            return redirect(url_for("surveys.staff_edit", survey_id=copy.id), 303)
    except RuleViolation as error:
        flash(error.message, "danger")
    return redirect(url_for("surveys.staff_edit", survey_id=survey.id), 303)


@bp.route("/staff/surveys/<int:survey_id>/preview", methods=["GET", "POST"])
@login_required
def preview(survey_id: int) -> str | BaseResponse | tuple[str, int]:
    """Show the survey exactly as residents will see it; answers are checked, never saved."""
    survey = _staff_survey_or_404(survey_id)
    if request.method == "POST":
        return _navigate(survey, preview=True)
    return _answer_page(PageState(survey), preview=True)


@bp.route("/staff/surveys/<int:survey_id>/texts", methods=["GET", "POST"])
@login_required
def staff_texts(survey_id: int) -> str | BaseResponse:
    """Review free-text answers: publish or reject each (published only above k)."""
    survey = _staff_survey_or_404(survey_id)
    form = ActionForm()
    if form.validate_on_submit():
        decisions = {
            key.removeprefix("answer-"): value
            for key, value in request.form.items()
            if key.startswith("answer-") and value in ("published", "rejected", "pending")
        }
        try:
            count = review.review_texts(current_user, survey, decisions)
        except RuleViolation as error:
            flash(error.message, "danger")
        else:
            flash(_("%(count)d answers were reviewed.", count=count), "success")
        return redirect(url_for("surveys.staff_texts", survey_id=survey.id), 303)
    return render_template(
        "surveys/staff/texts.html",
        survey=survey,
        form=form,
        groups=review.texts_for_review(survey),
        k=settings.min_group_size(),
    )


@bp.get("/staff/surveys/<int:survey_id>/answers.csv", endpoint="export")
@login_required
def export_answers(survey_id: int) -> Response | BaseResponse:
    """Download the anonymous answer table, k-filtered, one shuffled row per answer set."""
    survey = _staff_survey_or_404(survey_id)
    permissions.require(permissions.can_export_survey(current_user, survey))
    if settings.dp_epsilon():
        abort(404)  # with differential privacy on, raw tables would undo the noise
    try:
        body = export.export_csv(survey)
    except RuleViolation as error:
        flash(error.message, "warning")
        return redirect(url_for("surveys.results", survey_id=survey.id), 303)
    stamp = dt.date.today().isoformat()
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="survey-{survey.id}-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
