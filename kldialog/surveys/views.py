"""Survey pages: list, answering (page by page, drafts only in the form), results, staff builder.

Every view reads top to bottom: load → authorize (permissions) → validate → act (services) →
flash and redirect (303). The answers of earlier pages travel with the form as hidden fields:
nothing about an unfinished survey is stored on the server, in the database or in the cookie.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.kernel.actions import participation_done
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.params import choice, parse_int
from kldialog.kernel.time import utcnow
from kldialog.surveys import (
    answering,
    crosstabs,
    results,
    services,
)
from kldialog.surveys.forms import (
    CrosstabForm,
)
from kldialog.surveys.models import Question, QuestionKind, Survey, SurveySection
from kldialog.templating import Localized, localized

bp = Blueprint("surveys", __name__)


def _survey_or_404(survey_id: int) -> Survey:
    survey = services.get_survey(survey_id)
    if survey is None or not permissions.can_view_survey(current_user, survey):
        abort(404)
    return survey


# --- residents: list, answer, thanks ------------------------------------------------------------


@bp.get("/surveys")
def index() -> str:
    """List open surveys, and closed ones with their results."""
    surveys = services.surveys_for_list(current_user, staff=False)
    answered = answering.participated_survey_ids(current_user)
    now = utcnow()
    return render_template(
        "surveys/index.html",
        open_surveys=[s for s in surveys if s.is_open(now)],
        upcoming=[s for s in surveys if not s.is_open(now) and not s.has_ended(now)],
        closed=[s for s in surveys if s.has_ended(now)],
        answered=answered,
    )


class PageState:
    """Where a person is in a survey: the page, what they entered, and the errors to show."""

    def __init__(
        self,
        survey: Survey,
        values: MultiDict[str, str] | None = None,
        page: int = 0,
        errors: dict[int, str] | None = None,
    ) -> None:
        """Keep the answers entered so far (from the form), the page and the errors."""
        self.survey = survey
        self.sections: list[SurveySection] = [s for s in survey.sections if s.questions]
        self.values = values if values is not None else MultiDict()
        self.page = max(0, min(page, len(self.sections) - 1)) if self.sections else 0
        self.errors = errors or {}

    @property
    def section(self) -> SurveySection | None:
        """Return the page being shown."""
        return self.sections[self.page] if self.sections else None

    @property
    def is_last(self) -> bool:
        """Return whether this is the last page."""
        return self.page >= len(self.sections) - 1

    def carried(self) -> list[tuple[str, str]]:
        """Return the answers of the other pages, to send along as hidden fields."""
        shown = set()
        if self.section is not None:
            for question in self.section.questions:
                shown.update(answering.question_fields(question))
        own = {
            name
            for section in self.sections
            for question in section.questions
            for name in answering.question_fields(question)
        }
        return [
            (name, value)
            for name, values in self.values.lists()
            if name in own and name not in shown
            for value in values
        ]

    def value(self, name: str) -> str:
        """Return the value typed or chosen for a field."""
        return self.values.get(name, "")

    def chosen(self, name: str, value: Any) -> bool:
        """Return whether a choice is selected."""
        return str(value) in self.values.getlist(name)

    @property
    def form_errors(self) -> dict[int, str]:
        """Return the errors (the page title reads "Error: ..." when there are some)."""
        return self.errors


def _answer_page(state: PageState, *, preview: bool, status: int = 200) -> tuple[str, int]:
    return (
        render_template(
            "surveys/answer.html",
            survey=state.survey,
            state=state,
            preview=preview,
            # base.html prefixes the title with "Error:" when form.errors is set.
            form={"errors": state.errors} if state.errors else None,
            can_answer=preview or answering.can_still_answer(current_user, state.survey),
            answered=not preview and answering.has_participated(current_user, state.survey),
            kind=QuestionKind,
        ),
        status,
    )


def _navigate(survey: Survey, *, preview: bool) -> str | BaseResponse | tuple[str, int]:
    """Handle Back, Next and Send on a survey page (the same for the preview)."""
    values = MultiDict(
        [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token",)]
    )
    action = choice(values.pop("action", None), ("back", "next", "send"), "next")
    state = PageState(survey, values, parse_int(values.pop("page", None)) or 0)
    if state.section is None:
        abort(404)
    if action == "back":
        state.page = max(0, state.page - 1)
        return _answer_page(state, preview=preview)
    submission = answering.parse_submission(survey, values)
    errors = submission.errors_for(state.section.questions)
    if errors:
        state.errors = errors
        return _answer_page(state, preview=preview, status=422)
    if action != "send" or not state.is_last:
        # "Next" on the last page (or no button at all) shows that page again: there is no
        # page after it, and only "Send" stores the answers.
        state.page = min(state.page + 1, len(state.sections) - 1)
        return _answer_page(state, preview=preview)
    # Send: the first page with errors (hidden fields may have been changed) is shown again.
    for number, section in enumerate(state.sections):
        errors = submission.errors_for(section.questions)
        if errors:
            state.page, state.errors = number, errors
            return _answer_page(state, preview=preview, status=422)
    if preview:
        flash(_("Preview: these answers would be accepted. Nothing was saved."), "success")
        return redirect(url_for("surveys.preview", survey_id=survey.id), 303)
    try:
        answering.submit_survey(current_user, survey, submission)
    except answering.AnswerErrors as error:
        state.errors = error.errors
        return _answer_page(state, preview=preview, status=422)
    except RuleViolation as error:
        flash(error.message, "danger")
        return redirect(url_for("surveys.show", survey_id=survey.id), 303)
    participation_done("survey")  # a kiosk ends the session here
    return redirect(url_for("surveys.thanks", survey_id=survey.id), 303)


@bp.route("/surveys/<int:survey_id>", methods=["GET", "POST"])
def show(survey_id: int) -> str | BaseResponse | tuple[str, int]:
    """Show the introduction, what is stored, and the first page; POST moves through pages."""
    survey = _survey_or_404(survey_id)
    if request.method == "POST":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.path), 303)
        if not permissions.can_answer_survey(current_user, survey):
            flash(_("This survey is not open for your answers. Nothing was saved."), "danger")
            return redirect(url_for("surveys.show", survey_id=survey.id), 303)
        return _navigate(survey, preview=False)
    return _answer_page(PageState(survey), preview=False)


@bp.get("/surveys/<int:survey_id>/thanks")
@login_required
def thanks(survey_id: int) -> str:
    """Thank the person and repeat what was stored."""
    survey = _survey_or_404(survey_id)
    if not answering.has_participated(current_user, survey):
        abort(404)
    return render_template("surveys/thanks.html", survey=survey)


# --- results ------------------------------------------------------------------------------------


def _percent(share: float | None) -> str:
    return "" if share is None else format_percent(share, format="#,##0 %")


def _label(row: dict[str, Any]) -> Localized | str:
    """Return a result row's label: an option's own text in the page's language, or ours."""
    return localized(row, "label") if row.get("option") else row["label"]


def _with_content(message: str, **values: Any) -> Markup:
    """Fill a translated sentence with content that may be German on an English page (lang)."""
    return escape(message) % values  # escape() gives Markup, whose % escapes each value


def _summary(entry: dict[str, Any]) -> str:
    """Return the one-sentence finding of a question's results in the reader's language."""
    if entry["suppressed"]:
        return _("Fewer people answered than the minimum group size: no results are shown.")
    if entry.get("withheld") == "dp":
        return _("Not released: with differential privacy only noisy counts are published.")
    if entry.get("withheld") == "small_groups":
        return _(
            "Average places are not shown: some places were given by fewer people than the "
            "minimum group size, and the averages would reveal them."
        )
    if entry["rr"] is not None:
        rr = entry["rr"]
        return _(
            "Estimated share of “yes”: %(share)s (95 %% interval %(low)s to %(high)s).",
            share=_percent(rr["share"]),
            low=_percent(rr["low"]),
            high=_percent(rr["high"]),
        )
    rows = entry["rows"]
    if entry["kind"] == QuestionKind.ranking.value and rows:
        return _with_content(_("Ranked highest on average: “%(label)s”."), label=_label(rows[0]))
    if entry["mean"] is not None and entry["kind"] == QuestionKind.scale.value:
        return _(
            "Average %(mean)s on the scale from 1 to 5.",
            mean=format_decimal(round(entry["mean"]["mean"], 1)),
        )
    visible = [row for row in rows if row["count"] is not None]
    if visible:
        top = max(visible, key=lambda row: row["count"])
        return _with_content(
            _("Chosen most often: “%(label)s” (%(share)s)."),
            label=_label(top),
            share=_percent(top["share"]),
        )
    if entry["kind"] in (QuestionKind.short_text.value, QuestionKind.long_text.value):
        return _("Free-text answers are published after review, only when enough exist.")
    return _("Every count is below the minimum group size and hidden.")


def _crosstab_form(survey: Survey) -> tuple[CrosstabForm, dict[int, Question]]:
    """Return the cross-tab form with its choices, and the questions it may use by id."""
    form = CrosstabForm(request.args)
    usable = {q.id: q for q in crosstabs.crosstab_questions(survey)}
    choices = [(q.id, localized(q, "text")) for q in usable.values()]
    form.first.choices = choices
    form.second.choices = choices
    return form, usable


@bp.get("/surveys/<int:survey_id>/results", endpoint="results")
def results_page(survey_id: int) -> str | tuple[str, int]:
    """Show the released counts, shares and intervals (groups below k hidden); cross-tabs."""
    survey = _survey_or_404(survey_id)
    if not permissions.can_view_survey_results(current_user, survey):
        # Not yet: say when, instead of a bare "access denied".
        return render_template("surveys/results_pending.html", survey=survey), 403
    data = results.survey_results(survey)
    english = results.question_texts_en(survey)
    for entry in data["questions"]:
        entry["summary"] = _summary(entry)
        entry["text_en"] = english.get(entry["id"])
    form, usable = _crosstab_form(survey)
    table = None
    notice = None
    if "first" in request.args:
        valid = form.validate()
        first = usable.get(form.first.data) if valid else None
        second = usable.get(form.second.data) if valid else None
        if survey.purged_at is not None:
            notice = _("The raw answers have been deleted: no new cross-tabulations.")
        elif first is None or second is None or first.id == second.id:
            notice = _("Please choose two different questions.")
        else:
            table = crosstabs.crosstab(survey, first, second)
    return render_template(
        "surveys/results.html",
        survey=survey,
        data=data,
        crosstab_form=form,
        crosstab=table,
        crosstab_notice=notice,
        percent=_percent,
        kind=QuestionKind,
    )
