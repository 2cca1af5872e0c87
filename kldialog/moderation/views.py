"""Moderation pages: the queue, one item, the log, keywords; authors' decisions; the report."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.comments.models import Comment, CommentStatus, Keyword, ReportReason
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.kernel.pagination import Page, page_count
from kldialog.kernel.params import page_number, parse_int
from kldialog.kernel.time import utcnow
from kldialog.moderation import forms, services
from kldialog.moderation.models import Action

bp = Blueprint("moderation", __name__)

PER_PAGE = 25
LOG_PER_PAGE = 50
FILTER_LABELS = {
    "all": _l("All"),
    "pending": _l("Waiting for review"),
    "reported": _l("Reported"),
    "appeals": _l("Appeals"),
}
REPORT_REASON_LABELS = {
    ReportReason.spam: _l("spam"),
    ReportReason.offensive: _l("offensive"),
    ReportReason.off_topic: _l("off-topic"),
    ReportReason.personal_data: _l("personal data"),
    ReportReason.other: _l("other"),
}
COMMENT_STATUS_LABELS = {
    CommentStatus.pending: _l("waiting for review"),
    CommentStatus.published: _l("published"),
    CommentStatus.hidden: _l("hidden"),
}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {
        "report_reason_labels": REPORT_REASON_LABELS,
        "report_reason_names": {r.value: label for r, label in REPORT_REASON_LABELS.items()},
        "comment_status_labels": COMMENT_STATUS_LABELS,
        "filter_labels": FILTER_LABELS,
    }


def moderator_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send anonymous visitors to the login page; refuse everyone who does not moderate."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
        permissions.require(permissions.can_moderate(current_user))
        return view(*args, **kwargs)

    return wrapped


def _page_number() -> int:
    return page_number(request.args.get("page"))


def _comment_or_404(comment_id: int) -> Comment:
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        abort(404)
    return comment


# --- the queue --------------------------------------------------------------------------------


@bp.get("/moderation")
@moderator_required
def queue() -> str:
    """List the comments waiting for a decision, oldest first, filtered and paginated."""
    filter_by = request.args.get("filter", "all")
    notices = []
    if filter_by not in services.QUEUE_FILTERS:
        notices.append(_("The filter given was not valid and was ignored."))
        filter_by = "all"
    return _render_queue(filter_by, _page_number(), forms.BulkForm(formdata=None), notices)


def _render_queue(
    filter_by: str, page: int, bulk_form: forms.BulkForm, notices: list[str], selected=()
) -> str:
    items, total = services.queue(filter_by, page, PER_PAGE)
    if page > page_count(total, PER_PAGE):
        page = page_count(total, PER_PAGE)
        items, total = services.queue(filter_by, page, PER_PAGE)
    now = utcnow()
    return render_template(
        "moderation/queue.html",
        items=items,
        result=Page(items=items, total=total, page=page, per_page=PER_PAGE),
        filter_by=filter_by,
        filters=services.QUEUE_FILTERS,
        projects=services.projects_by_thread(i.comment.thread_id for i in items),
        ages={i.comment.id: now - i.comment.created_at for i in items},
        form=bulk_form,
        selected=set(selected),
        notices=notices,
        params={"filter": filter_by} if filter_by != "all" else {},
    )


@bp.post("/moderation/bulk")
@moderator_required
def bulk() -> str | BaseResponse:
    """Apply one action with one reason to the ticked comments."""
    filter_by = request.form.get("filter", "all")
    if filter_by not in services.QUEUE_FILTERS:
        filter_by = "all"
    page = page_number(request.form.get("page"))
    form = forms.BulkForm()
    ids = sorted({i for i in map(parse_int, request.form.getlist("ids")) if i})[:500]
    comments = (
        list(db.session.scalars(sa.select(Comment).where(Comment.id.in_(ids)))) if ids else []
    )
    valid = form.validate_on_submit()
    if not comments:
        flash(_("Please select at least one comment."), "danger")
        valid = False
    if valid:
        try:
            decisions = services.decide(
                current_user,
                comments,
                Action(form.action.data),
                form.reason.data,
                seen=_seen_versions(c.id for c in comments),
            )
        except RuleViolation as error:
            db.session.rollback()
            show_rule_violation(form, error)
        else:
            flash(
                _(
                    "Decided about %(num)s comments: %(action)s.",
                    num=len(decisions),
                    action=forms.ACTION_CHOICES[Action(form.action.data)],
                ),
                "success",
            )
            params: dict[str, Any] = {"filter": filter_by} if filter_by != "all" else {}
            return redirect(url_for("moderation.queue", **params), code=303)
    return _render_queue(filter_by, page, form, [], selected=[c.id for c in comments])


def _seen_versions(ids: Iterable[int], *, single: bool = False) -> dict[int, str]:
    """Return the comment versions the deciding page was drawn with (hidden form fields)."""
    seen = {}
    for comment_id in ids:
        value = request.form.get("seen" if single else f"seen-{comment_id}")
        if value is not None:
            seen[comment_id] = value[:200]
    return seen


# --- one item ----------------------------------------------------------------------------------


def _render_item(comment: Comment, form: forms.DecisionForm | None = None) -> str:
    item = services.details_for([comment])[0]
    actions = services.offered_actions(current_user, item)
    if form is None:
        form = forms.DecisionForm(formdata=None)
        form.set_actions(actions)
    parent = db.session.get(Comment, comment.parent_id) if comment.parent_id else None
    project = services.projects_by_thread([comment.thread_id]).get(comment.thread_id)
    return render_template(
        "moderation/item.html",
        comment=comment,
        item=item,
        parent=parent,
        project=project,
        form=form,
        history=services.decisions_on(comment),
        age=utcnow() - comment.created_at,
    )


@bp.get("/moderation/comments/<int(max=2147483647):comment_id>")
@moderator_required
def item(comment_id: int) -> str:
    """Show a comment in its context with reports, appeal, author history and the actions."""
    return _render_item(_comment_or_404(comment_id))


@bp.post("/moderation/comments/<int(max=2147483647):comment_id>")
@moderator_required
def decide(comment_id: int) -> str | BaseResponse:
    """Decide about one comment with a reason."""
    comment = _comment_or_404(comment_id)
    form = forms.DecisionForm()
    form.set_actions(services.offered_actions(current_user, services.details_for([comment])[0]))
    if form.validate_on_submit():
        action = Action(form.action.data)
        days = form.block_days.data if action is Action.block and not form.permanent.data else None
        try:
            services.decide(
                current_user,
                [comment],
                action,
                form.reason.data,
                block_days=days,
                seen=_seen_versions([comment.id], single=True),
            )
        except RuleViolation as error:
            db.session.rollback()
            comment = _comment_or_404(comment_id)
            show_rule_violation(form, error)
        else:
            flash(_("Decision saved: %(action)s.", action=forms.ACTION_CHOICES[action]), "success")
            return _next_item(comment.id)
    return _render_item(comment, form)


def _next_item(decided_id: int) -> BaseResponse:
    """Go on to the oldest item still waiting, or back to the queue when it is empty."""
    waiting, _total = services.queue("all", 1, 2)
    following = [i.comment.id for i in waiting if i.comment.id != decided_id]
    if not following:
        flash(_("The queue is empty: nothing more to decide."), "info")
        return redirect(url_for("moderation.queue"), code=303)
    flash(_("Here is the next comment in the queue."), "info")
    return redirect(url_for("moderation.item", comment_id=following[0]), code=303)


# --- the log -------------------------------------------------------------------------------------


@bp.get("/moderation/log")
@moderator_required
def log() -> str:
    """Show the append-only moderation log, newest first."""
    page = _page_number()
    return render_template("moderation/log.html", result=services.decision_log(page, LOG_PER_PAGE))


# --- keywords ---------------------------------------------------------------------------


@bp.route("/moderation/keywords", methods=["GET", "POST"])
@moderator_required
def keywords() -> str | BaseResponse:
    """List, add and remove the words that send comments to the queue."""
    form = forms.KeywordForm() if request.method == "POST" else forms.KeywordForm(formdata=None)
    if form.validate_on_submit():
        try:
            services.add_keyword(current_user, form.word.data)
        except RuleViolation as error:
            db.session.rollback()
            show_rule_violation(form, error)
        else:
            flash(_("“%(word)s” is on the list.", word=form.word.data), "success")
            return redirect(url_for("moderation.keywords"), code=303)
    return render_template(
        "moderation/keywords.html",
        form=form,
        keywords=services.keywords(),
        remove_form=forms.FlaskForm(),
    )


@bp.post("/moderation/keywords/<int(max=2147483647):keyword_id>/remove")
@moderator_required
def remove_keyword(keyword_id: int) -> BaseResponse:
    """Take a word off the list."""
    keyword = db.session.get(Keyword, keyword_id)
    if keyword is None:
        abort(404)
    form = forms.FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    services.remove_keyword(current_user, keyword)
    flash(_("“%(word)s” is no longer on the list.", word=keyword.word), "success")
    return redirect(url_for("moderation.keywords"), code=303)


# --- authors -------------------------------------------------------------------------------------


def _render_my_decisions(forms_by_comment: dict[int, forms.AppealForm] | None = None) -> str:
    decisions = services.decisions_about(current_user)
    entries: dict[int, dict[str, Any]] = {}
    for decision in decisions:
        entry = entries.setdefault(
            decision.comment_id, {"comment": decision.comment, "decisions": []}
        )
        entry["decisions"].append(decision)
    appeals = services.appeals_for(entries)
    for comment_id, entry in entries.items():
        entry["appeal"] = appeals.get(comment_id)
        if entry["appeal"] is None and permissions.can_appeal(current_user, entry["comment"]):
            entry["form"] = (forms_by_comment or {}).get(comment_id) or forms.AppealForm(
                prefix=f"appeal-{comment_id}", formdata=None
            )
    failed = next(iter((forms_by_comment or {}).values()), None)
    projects = services.projects_by_thread(e["comment"].thread_id for e in entries.values())
    return render_template(
        "moderation/my_decisions.html",
        entries=list(entries.values()),
        projects=projects,
        form=failed,
    )


@bp.get("/account/moderation")
@login_required
def my_decisions() -> str:
    """Show the decisions about my comments, and the appeal form for hidden ones."""
    permissions.require(permissions.can_manage_account(current_user))
    return _render_my_decisions()


@bp.post("/account/moderation/<int(max=2147483647):comment_id>/appeal")
@login_required
def appeal(comment_id: int) -> str | BaseResponse:
    """Appeal once against the hiding of my comment."""
    comment = db.session.get(Comment, comment_id)
    if comment is None or comment.author_id != current_user.id:
        abort(404)  # someone else's comment does not exist here (its id says nothing)
    permissions.require(permissions.can_appeal(current_user, comment))
    form = forms.AppealForm(prefix=f"appeal-{comment_id}")
    if form.validate_on_submit():
        try:
            services.appeal(current_user, comment, form.text.data)
        except RuleViolation as error:
            db.session.rollback()
            if error.field == "text":
                form.text.errors = [*form.text.errors, error.message]
            else:
                flash(error.message, "danger")
                return redirect(url_for("moderation.my_decisions"), code=303)
        else:
            flash(_("Your appeal has been sent. A moderator will look at it."), "success")
            return redirect(url_for("moderation.my_decisions"), code=303)
    return _render_my_decisions({comment_id: form})


# --- the public report -------------------------------------------------------------------------


@bp.get("/moderationsbericht")
def report() -> str:
    """Show per month what moderation did, without personal data."""
    months = services.monthly_report()
    return render_template(
        "moderation/report.html",
        months=months,
        hours={
            r.month: format_decimal(r.median_hours, "#,##0.0")
            if r.median_hours is not None
            else None
            for r in months
        },
    )


@bp.get("/moderationsbericht.json")
def report_json() -> Response:
    """Offer the moderation report as a JSON download."""
    body = json.dumps(
        services.report_as_dict(services.monthly_report()), ensure_ascii=False, indent=2
    )
    response = Response(body, mimetype="application/json")
    response.headers["Content-Disposition"] = "attachment; filename=moderationsbericht.json"
    return response
