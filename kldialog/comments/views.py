"""Comment pages: the discussion on a project, replies, edit, delete, support, report, close.

Every view reads top to bottom: load → authorize (permissions) → validate (form) → act
(services) → flash and redirect (303) back to the comment.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
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
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.comments import services
from kldialog.comments.forms import REASON_LABELS, ButtonForm, CloseForm, CommentForm, ReportForm
from kldialog.comments.models import Comment, ReportReason
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.kernel.extensions import account_key, limiter
from kldialog.kernel.params import choice, page_number
from kldialog.projects import panels
from kldialog.projects import threads as projects
from kldialog.projects.models import Project

bp = Blueprint("comments", __name__)
bp.add_app_template_global(services.render_body, "render_comment")


# --- rate limit per account -----------------------------------------------------------------


@bp.errorhandler(429)
def _too_many(_limit: Any) -> BaseResponse:
    """Say clearly why a comment was not accepted and what to do (nothing was saved)."""
    body = render_template(
        "errors/error.html",
        code=429,
        title=_l("Too many comments"),
        text=_l(
            "You have written several comments in a short time, so this one was not saved. "
            "Please wait a few minutes and try again. Copy your text before you leave this page."
        ),
    )
    return make_response(body, 429)


comment_limit = limiter.shared_limit(
    lambda: current_app.config["RATELIMIT_COMMENT"],
    scope="comment-post",
    key_func=account_key,
    methods=["POST"],
)


# --- loading --------------------------------------------------------------------------------


def _project_or_404(slug: str) -> Project:
    project = projects.get_project_by_slug(slug) if len(slug) <= 120 else None
    if project is None or not permissions.can_view_project(current_user, project):
        abort(404)
    return project


def _comment_or_404(comment_id: int) -> tuple[Comment, Project]:
    """Return a comment this visitor may see and its project, or answer 404."""
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        abort(404)
    project = projects.project_of_thread(comment.thread_id)
    if project is None or not permissions.can_view_project(current_user, project):
        abort(404)  # comments of drafts do not exist for the public
    if not services.is_visible_to(
        comment, current_user, moderator=permissions.can_moderate(current_user)
    ):
        abort(404)
    return comment, project


def _back_to(comment: Comment, project: Project) -> BaseResponse:
    """Redirect (303) to the comment: on the project page, or a reply on its comment's page."""
    if comment.parent_id:
        url = url_for(
            "comments.show", comment_id=comment.parent_id, _anchor=f"comment-{comment.id}"
        )
    else:
        url = url_for("projects.detail", slug=project.slug, _anchor=f"comment-{comment.id}")
    return redirect(url, code=303)


@panels.register
def discussion_context(project: Project) -> dict[str, Any]:
    """Return what templates/comments/_thread.html needs on the project page."""
    sort = choice(request.args.get("sort"), services.SORTS, "newest")
    page = page_number(request.args.get("page"))
    thread = project.thread
    discussion = (
        services.thread_page(thread, current_user, sort=sort, page=page) if thread else None
    )
    return {
        "discussion": discussion,
        "thread": thread,
        "comment_sort": sort,
        "comment_form": CommentForm(formdata=None),
        "button_form": ButtonForm(formdata=None),
        "close_form": CloseForm(formdata=None),
    }


def _form_page(
    template: str, project: Project, form: Any, status: int = 200, **context: Any
) -> tuple[str, int]:
    return render_template(template, project=project, form=form, **context), status


# --- writing --------------------------------------------------------------------------------


@bp.post("/projects/<slug>/comments")
@login_required
@comment_limit
def post(slug: str) -> str | tuple[str, int] | BaseResponse:
    """Write a comment on a project (opens the project's discussion with the first one)."""
    project = _project_or_404(slug)
    permissions.require(permissions.can_comment(current_user, project.thread))
    form = CommentForm()
    if form.validate_on_submit():
        try:
            thread = projects.thread_of(project, create=True)
            comment = services.post_comment(current_user, thread, form.body.data)
        except RuleViolation as error:
            db.session.rollback()
            show_rule_violation(form, error)
        else:
            _flash_posted(comment)
            return _back_to(comment, project)
    return _form_page("comments/write.html", project, form, 422)


def _flash_posted(comment: Comment) -> None:
    if comment.status.value == "pending":
        flash(
            _("Thank you. Your comment waits for a moderator and is shown after approval."),
            "info",
        )
    else:
        flash(_("Thank you. Your comment is published."), "success")


@bp.route("/comments/<int:comment_id>/reply", methods=["GET", "POST"])
@login_required
@comment_limit
def reply(comment_id: int) -> str | tuple[str, int] | BaseResponse:
    """Answer a comment (a reply to a reply answers its comment: one level only)."""
    comment, project = _comment_or_404(comment_id)
    parent = comment
    if comment.parent_id:
        parent = db.session.get_one(Comment, comment.parent_id)
    thread = project.thread
    if thread is None:  # a comment always has its thread; a project without one has none
        abort(404)
    permissions.require(permissions.can_reply(current_user, parent, thread))
    form = CommentForm()
    if form.validate_on_submit():
        try:
            new = services.post_comment(current_user, thread, form.body.data, parent=comment)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            _flash_posted(new)
            return _back_to(new, project)
    status = 422 if form.errors else 200
    return _form_page("comments/reply.html", project, form, status, comment=parent)


@bp.route("/comments/<int:comment_id>/edit", methods=["GET", "POST"])
@login_required
def edit(comment_id: int) -> str | tuple[str, int] | BaseResponse:
    """Change one's own comment within the edit window."""
    comment, project = _comment_or_404(comment_id)
    if not permissions.can_edit_comment(current_user, comment):
        if permissions.can_delete_comment(current_user, comment):
            flash(_("The time for changes has passed. You can still delete the comment."), "danger")
            return _back_to(comment, project)
        abort(403)
    form = CommentForm(data={"body": comment.body})
    if form.validate_on_submit():
        try:
            services.edit_comment(current_user, comment, form.body.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("Your comment is changed."), "success")
            return _back_to(comment, project)
    status = 422 if form.errors else 200
    return _form_page("comments/edit.html", project, form, status, comment=comment)


@bp.route("/comments/<int:comment_id>/delete", methods=["GET", "POST"])
@login_required
def delete(comment_id: int) -> str | tuple[str, int] | BaseResponse:
    """Withdraw one's own comment after a confirmation page."""
    comment, project = _comment_or_404(comment_id)
    permissions.require(permissions.can_delete_comment(current_user, comment))
    form = ButtonForm()
    if form.validate_on_submit():
        services.delete_own_comment(current_user, comment)
        flash(_("Your comment is deleted. Replies to it stay."), "success")
        return _back_to(comment, project)
    return _form_page("comments/delete.html", project, form, comment=comment)


@bp.post("/comments/<int:comment_id>/support")
@login_required
def support(comment_id: int) -> BaseResponse:
    """Add one's +1 to a comment (once)."""
    comment, project = _comment_or_404(comment_id)
    permissions.require(permissions.can_support(current_user, comment))
    if not ButtonForm().validate_on_submit():
        abort(400)
    services.support_comment(current_user, comment)
    flash(_("You support this comment."), "success")
    return _back_to(comment, project)


@bp.post("/comments/<int:comment_id>/unsupport")
@login_required
def unsupport(comment_id: int) -> BaseResponse:
    """Take one's +1 back."""
    comment, project = _comment_or_404(comment_id)
    permissions.require(permissions.can_manage_account(current_user))
    if not ButtonForm().validate_on_submit():
        abort(400)
    services.withdraw_support(current_user, comment)
    flash(_("You no longer support this comment."), "success")
    return _back_to(comment, project)


@bp.route("/comments/<int:comment_id>/report", methods=["GET", "POST"])
@login_required
def report(comment_id: int) -> str | tuple[str, int] | BaseResponse:
    """Report a comment to the moderators (once per person)."""
    comment, project = _comment_or_404(comment_id)
    permissions.require(permissions.can_report(current_user, comment))
    form = ReportForm()
    if form.validate_on_submit():
        try:
            services.report_comment(
                current_user, comment, ReportReason(form.reason.data), form.text.data or ""
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
            if not error.field:
                return _back_to(comment, project)  # e.g. already reported: the flash says so
        else:
            flash(_("Thank you. The moderators will look at the comment."), "success")
            return _back_to(comment, project)
    status = 422 if form.errors else 200
    return _form_page(
        "comments/report.html", project, form, status, comment=comment, reasons=REASON_LABELS
    )


# --- reading --------------------------------------------------------------------------------


@bp.get("/comments/<int:comment_id>")
def show(comment_id: int) -> str:
    """Show a comment with all its replies (paginated), e.g. from a notification mail."""
    comment, project = _comment_or_404(comment_id)
    if comment.parent_id:
        return redirect(  # type: ignore[return-value]
            url_for("comments.show", comment_id=comment.parent_id, _anchor=f"comment-{comment.id}")
        )
    result = services.reply_page(comment, current_user, page=page_number(request.args.get("page")))
    return render_template(
        "comments/show.html",
        project=project,
        comment=comment,
        replies=result,
        thread=project.thread,
        button_form=ButtonForm(formdata=None),
    )


# --- closing a discussion -------------------------------------------------------------------


@bp.post("/projects/<slug>/discussion/<any(close, open):action>")
@login_required
def close(slug: str, action: str) -> str | tuple[str, int] | BaseResponse:
    """Close a project's discussion with a note why, or open it again."""
    project = _project_or_404(slug)
    permissions.require(permissions.can_close_discussion(current_user))
    form = CloseForm()
    if form.validate_on_submit():
        try:
            thread = projects.thread_of(project, create=True)
            services.set_thread_closed(
                current_user, thread, action == "close", form.note.data or ""
            )
        except RuleViolation as error:
            db.session.rollback()
            show_rule_violation(form, error)
        else:
            if action == "close":
                flash(_("The discussion is closed."), "success")
            else:
                flash(_("The discussion is open again."), "success")
            return redirect(
                url_for("projects.detail", slug=project.slug, _anchor="discussion"), code=303
            )
    return _form_page("comments/close.html", project, form, 422)
