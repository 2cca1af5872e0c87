"""Priority rounds: voting, results, staff management, and indicator ratings of projects.

Every view reads top to bottom: load → authorize (permissions) → validate (form) → act
(services) → flash and redirect (303).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.kernel.actions import participation_done
from kldialog.kernel.csv import csv_response
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.kernel.extensions import account_key, limiter
from kldialog.kernel.time import local_input_value
from kldialog.permissions import require
from kldialog.priorities import services
from kldialog.priorities.forms import (
    INDICATOR_LABELS,
    ActionForm,
    RatingForm,
    RoundForm,
    parse_ballot,
)
from kldialog.priorities.models import Indicator, Method, PriorityRound
from kldialog.priorities.results import tier_groups
from kldialog.projects import panels
from kldialog.projects import reading as projects
from kldialog.surveys import services as surveys
from kldialog.templating import page_language
from kldialog.windows.models import Eligibility
from kldialog.windows.staff import staff_button

bp = Blueprint("priorities", __name__)

ballot_limit = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_BALLOT"],
    scope="ballot",
    key_func=account_key,
    methods=["POST"],
)


@bp.app_context_processor
def _indicator_labels() -> dict[str, Any]:
    return {"indicator_labels": INDICATOR_LABELS}


def _round_or_404(round_id: int) -> PriorityRound:
    """Return a round this visitor may see (drafts exist only for staff)."""
    round_ = services.get_round(round_id)
    if round_ is None or not permissions.can_view_round(current_user, round_):
        abort(404)
    return round_


# --- public: list, ballot, results -----------------------------------------------------------


@bp.get("/priorities")
def index() -> str:
    """List open, upcoming and closed rounds."""
    rounds = services.public_rounds()
    return render_template(
        "priorities/index.html",
        open_rounds=[r for r in rounds if r.is_open()],
        upcoming=[r for r in rounds if r.is_upcoming()],
        closed=[r for r in rounds if r.is_closed()],
    )


def _render_round(
    round_: PriorityRound,
    form: ActionForm,
    *,
    typed: dict[str, str] | None = None,
    field_errors: dict[int, str] | None = None,
    ballot_error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    entries = services.round_entries(round_)
    current = services.current_choices(round_, current_user)
    if typed is None:
        typed = {str(pid): str(points) for pid, points in (current or {}).items()}
    return (
        render_template(
            "priorities/round.html",
            round=round_,
            method=Method,
            groups=services.ballot_groups(round_, entries, current_user),
            entry_count=len(entries),
            current=current,
            typed=typed,
            field_errors=field_errors or {},
            ballot_error=ballot_error,
            form=form,
            withdraw_form=ActionForm(),
            totals=services.running_totals(round_)
            if round_.is_open() and permissions.can_see_running_totals(current_user, round_)
            else None,
        ),
        status,
    )


@bp.get("/priorities/<int:round_id>")
def show(round_id: int) -> str | BaseResponse | tuple[str, int]:
    """Show a round: rules, the ballot while open, a link to the results once closed."""
    round_ = _round_or_404(round_id)
    if round_.is_closed():
        return redirect(url_for("priorities.results", round_id=round_.id), 303)
    return _render_round(round_, ActionForm())


@bp.post("/priorities/<int:round_id>")
@login_required
@ballot_limit
def vote(round_id: int) -> BaseResponse | tuple[str, int]:
    """Cast or change the person's ballot (the last ballot counts)."""
    round_ = _round_or_404(round_id)
    if round_.is_closed():
        flash(_("This round is closed; ballots can no longer be changed."), "danger")
        return redirect(url_for("priorities.results", round_id=round_.id), 303)
    require(permissions.can_vote(current_user, round_))
    form = ActionForm()
    if not form.validate_on_submit():
        return _render_round(
            round_, form, ballot_error=_("The form has expired. Please send it again."), status=400
        )
    submitted, typed = parse_ballot(round_.method, request.form)
    try:
        first = services.cast_ballot(current_user, round_, submitted)
    except services.BallotRejected as error:
        general = None if error.projects else error.message
        return _render_round(
            round_, form, typed=typed, field_errors=error.projects, ballot_error=general, status=400
        )
    except RuleViolation as error:
        return _render_round(round_, form, typed=typed, ballot_error=error.message, status=400)
    participation_done("ballot")  # a kiosk ends the session here
    flash(
        _("Your ballot is saved. You can change it until the round closes.")
        if first
        else _("Your ballot is changed. The last ballot counts."),
        "success",
    )
    return redirect(url_for("priorities.show", round_id=round_.id, _anchor="my-ballot"), 303)


@bp.post("/priorities/<int:round_id>/withdraw")
@login_required
@ballot_limit
def withdraw(round_id: int) -> BaseResponse:
    """Withdraw the person's ballot while the round is open."""
    round_ = _round_or_404(round_id)
    require(permissions.can_vote(current_user, round_))
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        removed = services.withdraw_ballot(current_user, round_)
    except RuleViolation as error:
        flash(error.message, "danger")
        return redirect(url_for("priorities.show", round_id=round_.id), 303)
    if removed:
        flash(_("Your ballot is withdrawn. It no longer counts."), "success")
    else:
        flash(_("You had no ballot in this round."), "info")
    return redirect(url_for("priorities.show", round_id=round_.id), 303)


def _published_result(round_: PriorityRound) -> Any:
    """Return the round's published result for a download, else 404 (open or in preparation)."""
    result = services.result_of(round_)
    if result is None:
        abort(404)
    return result


@bp.get("/priorities/<int:round_id>/results")
def results(round_id: int) -> str | BaseResponse:
    """Show the frozen results with tiers, intervals, charts, tables and the ballot file hash."""
    round_ = _round_or_404(round_id)
    if not round_.is_closed():
        return redirect(url_for("priorities.show", round_id=round_.id), 303)
    result = services.result_of(round_)
    if result is None:  # ended, waiting for the cron or staff to close it
        return render_template("priorities/preparing.html", round=round_)
    data = services.round_result_data(result)
    services.add_english_names([data], page_language())
    for day in data["participation"]:
        day["day"] = dt.date.fromisoformat(day["day"])
    groups = tier_groups(data.get("projects", []), data["method"])
    # Points shares are small numbers: scale the bars to the largest so they can be compared.
    bars = [p["bar"] for _tier, members in groups for p in members]
    bar_max = max(bars) if data["method"] == Method.points.value and bars else 1.0
    return render_template(
        "priorities/results.html",
        round=round_,
        result=result,
        data=data,
        groups=groups,
        bar_max=bar_max,
        method=Method,
        details=permissions.is_council(current_user),
    )


@bp.get("/priorities/<int:round_id>/results.json")
def results_json(round_id: int) -> BaseResponse:
    """Download the aggregated results as JSON."""
    round_ = _round_or_404(round_id)
    result = _published_result(round_)
    data = services.round_result_data(result)
    data["round"] = {"id": round_.id, "title": round_.title}
    data["ballot_file_sha256"] = None if data["suppressed"] else result.ballot_sha256
    data["note"] = "self-selected participants, not a representative survey"
    response = Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="round-{round_.id}-results.json"'
    )
    return response


@bp.get("/priorities/<int:round_id>/results.csv")
def results_csv(round_id: int) -> BaseResponse:
    """Download the aggregated results per project as CSV."""
    round_ = _round_or_404(round_id)
    result = _published_result(round_)
    return csv_response(
        services.results_csv_rows(services.round_result_data(result)),
        f"round-{round_.id}-results.csv",
    )


@bp.get("/priorities/<int:round_id>/ballots.json")
def ballot_file(round_id: int) -> BaseResponse:
    """Download the anonymous ballot file exactly as hashed (not published below k ballots)."""
    round_ = _round_or_404(round_id)
    result = _published_result(round_)
    if json.loads(result.results).get("suppressed"):
        abort(404)
    response = make_response(result.ballot_file.encode("utf-8"))
    response.mimetype = "application/json"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="round-{round_.id}-ballots.json"'
    )
    return response


# --- indicator ratings -------------------------------------------------------------------------


@bp.post("/projects/<slug>/rating")
@login_required
@ballot_limit
def rate(slug: str) -> BaseResponse | tuple[str, int]:
    """Rate a project on the council's two indicators (changeable at any time)."""
    project = projects.get_project_by_slug(slug) if len(slug) <= 120 else None
    if project is None or not permissions.can_view_project(current_user, project):
        abort(404)
    require(permissions.can_rate(current_user, project))
    form = RatingForm()
    if not form.validate_on_submit():
        flash(_("Please choose values from 1 to 5."), "danger")
        return redirect(url_for("projects.detail", slug=project.slug, _anchor="rating"), 303)
    services.rate_project(current_user, project, form.scores())
    flash(_("Thank you, your rating is saved. You can change it at any time."), "success")
    return redirect(url_for("projects.detail", slug=project.slug, _anchor="rating"), 303)


@panels.register
def rating_context(project: Any) -> dict[str, Any]:
    """Return what the project page needs: rating box, open rounds and surveys about it."""
    mine = services.my_ratings(current_user, project)
    form = RatingForm(
        formdata=None,
        benefit=str(mine[Indicator.benefit]) if Indicator.benefit in mine else None,
        data_care=str(mine[Indicator.data_care]) if Indicator.data_care in mine else None,
    )
    return {
        "rating_form": form,
        "my_ratings": mine,
        "rating_summary": services.rating_summaries([project.id])[project.id],
        "rating_min_group": current_app.config["RATING_MIN_GROUP_SIZE"],
        "project_rounds": services.open_rounds_for_project(project),
        "project_surveys": surveys.open_surveys_for_project(project),
    }


# --- staff -----------------------------------------------------------------------------------


@bp.get("/staff/rounds")
@login_required
def staff_rounds() -> str:
    """List all rounds with their state for staff."""
    require(permissions.can_manage_rounds(current_user))
    return render_template("priorities/staff_rounds.html", rounds=services.all_rounds())


def _round_form_choices(form: RoundForm) -> list[Any]:
    candidates = services.ballot_candidates()
    form.projects.choices = [(project.id, project.title) for project in candidates]
    return candidates


def _fields(form: RoundForm) -> services.RoundFields:
    opens_at, closes_at = form.window()
    max_choices, budget, max_per_project = form.numbers()
    paper_offered, paper_until = form.paper()
    return services.RoundFields(
        title=form.title.data.strip(),
        explanation=(form.explanation.data or "").strip(),
        method=Method(form.method.data),
        max_choices=max_choices,
        budget=budget,
        max_per_project=max_per_project,
        eligibility=Eligibility(form.eligibility.data),
        show_running_totals=bool(form.show_running_totals.data),
        opens_at=opens_at,
        closes_at=closes_at,
        project_ids=list(dict.fromkeys(form.projects.data or [])),
        title_en=(form.title_en.data or "").strip() or None,
        explanation_en=(form.explanation_en.data or "").strip() or None,
        paper_offered=paper_offered,
        paper_until=paper_until,
    )


def _render_round_form(
    form: RoundForm, round_: PriorityRound | None, candidates: list[Any], status: int = 200
) -> tuple[str, int]:
    return (
        render_template(
            "priorities/staff_round_form.html",
            form=form,
            round=round_,
            candidates=candidates,
            frozen=round_ is not None and services.is_frozen(round_),
            publish_form=ActionForm(),
        ),
        status,
    )


@bp.route("/staff/rounds/new", methods=["GET", "POST"])
@login_required
def staff_new_round() -> BaseResponse | tuple[str, int]:
    """Create a round (saved as a draft)."""
    require(permissions.can_manage_rounds(current_user))
    form = RoundForm()
    candidates = _round_form_choices(form)
    if request.method == "GET":
        form.projects.data = services.default_project_ids()
    if form.validate_on_submit():
        try:
            round_ = services.create_round(current_user, _fields(form))
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The round was saved as a draft. Publish it when it is ready."), "success")
            return redirect(url_for("priorities.staff_edit_round", round_id=round_.id), 303)
    return _render_round_form(form, None, candidates, 400 if form.errors else 200)


@bp.route("/staff/rounds/<int:round_id>", methods=["GET", "POST"])
@login_required
def staff_edit_round(round_id: int) -> BaseResponse | tuple[str, int]:
    """Change a round; method and projects are frozen after the first ballot."""
    require(permissions.can_manage_rounds(current_user))
    round_ = services.get_round(round_id)
    if round_ is None:
        abort(404)
    form = RoundForm(obj=None if request.method == "POST" else round_)
    candidates = _round_form_choices(form)
    if request.method == "GET":
        form.method.data = round_.method.value
        form.eligibility.data = round_.eligibility.value
        form.opens_at.data = local_input_value(round_.opens_at)
        form.closes_at.data = local_input_value(round_.closes_at)
        if round_.paper_until is not None:
            form.paper_until.data = local_input_value(round_.paper_until)
        form.projects.data = [entry.project_id for entry in round_.entries]
    if form.validate_on_submit():
        try:
            services.update_round(current_user, round_, _fields(form))
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The round was saved."), "success")
            return redirect(url_for("priorities.staff_edit_round", round_id=round_.id), 303)
    return _render_round_form(form, round_, candidates, 400 if form.errors else 200)


@bp.post("/staff/rounds/<int:round_id>/publish")
@login_required
def staff_publish_round(round_id: int) -> BaseResponse:
    """Publish a draft round."""
    require(permissions.can_manage_rounds(current_user))
    round_ = services.get_round(round_id)
    if round_ is None:
        abort(404)
    return staff_button(
        lambda: services.publish_round(current_user, round_),
        done=_("The round is published. It accepts ballots from its opening time."),
        back=url_for("priorities.staff_edit_round", round_id=round_.id),
    )


@bp.post("/staff/rounds/<int:round_id>/close")
@login_required
def staff_close_round(round_id: int) -> BaseResponse:
    """Close an ended round now (instead of waiting for `flask rounds close-due`)."""
    require(permissions.can_manage_rounds(current_user))
    round_ = services.get_round(round_id)
    if round_ is None:
        abort(404)
    return staff_button(
        lambda: services.close_ended_round(current_user, round_),
        done=_("The round is closed and its results are published."),
        back=url_for("priorities.staff_edit_round", round_id=round_.id),
        done_url=url_for("priorities.results", round_id=round_.id),
    )
