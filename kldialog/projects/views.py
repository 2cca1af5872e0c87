"""Roadmap pages: the public list and project pages, following and unsubscribing.

The staff console is in projects.staff_views, on the same blueprint.

Every view reads top to bottom: load → authorize (permissions) → validate (form) → act
(services) → flash and redirect (303).
"""

from __future__ import annotations

import re

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
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.extensions import csrf
from kldialog.kernel.http import local_path
from kldialog.permissions import can_view_project
from kldialog.projects import following as follows
from kldialog.projects import panels, reading
from kldialog.projects.forms import (
    FollowForm,
    ProjectFilterForm,
)
from kldialog.projects.models import Project, Status
from kldialog.templating import STATUS_LABELS, page_language

bp = Blueprint("projects", __name__)

KNOWN_PARAMETERS = {"q", "category", "status", "sort", "page"}
SLUG_PATTERN = re.compile(r"[a-z0-9-]{1,120}")


@bp.get("/projects")
def index() -> str:
    """List projects, filtered by category, status and text, sorted and paginated."""
    categories = reading.all_categories()
    form = ProjectFilterForm(request.args, meta={"csrf": False})
    form.set_choices(categories, STATUS_LABELS)
    notices = [
        _("The unknown parameter “%(name)s” was ignored.", name=name)
        for name in sorted(set(request.args) - KNOWN_PARAMETERS)
    ]
    form.validate()
    for name, _errors in form.errors.items():
        field = form[name]
        notices.append(
            _(
                "The value given for “%(label)s” was not valid and was ignored.",
                label=field.label.text,
            )
        )
        field.data = field.default
        field.raw_data = []
        field.errors = []  # ignored with a notice, so the page is not an error page
    by_slug = {category.slug: category for category in categories}
    status = Status(form.status.data) if form.status.data else None
    category = by_slug.get(form.category.data or "")
    result = reading.find_projects(
        query=form.q.data or "",
        category=category,
        status=status,
        sort=form.sort.data or "title",
        page=form.page.data or 1,
        per_page=current_app.config["PROJECTS_PER_PAGE"],
        english=page_language() == "en",
    )
    if form.page.data and form.page.data != result.page:
        notices.append(
            _(
                "There is no page %(page)d; showing page %(last)d.",
                page=form.page.data,
                last=result.page,
            )
        )
    # Pagination links repeat only the filters that were understood.
    params = {
        "q": form.q.data,
        "category": category.slug if category else None,
        "status": status.value if status else None,
        "sort": form.sort.data if form.sort.data != "title" else None,
    }
    return render_template(
        "projects/index.html",
        form=form,
        result=result,
        category=category,
        status=status,
        notices=notices,
        params={key: value for key, value in params.items() if value},
    )


@bp.get("/projects/<slug>")
def detail(slug: str) -> str:
    """Show one project: facts, status history ("Stand") and the city's updates."""
    project = reading.get_project_by_slug(slug) if SLUG_PATTERN.fullmatch(slug) else None
    if project is None or not can_view_project(current_user, project):
        abort(404)  # a draft is not "forbidden" to the public: it does not exist yet
    return render_template(
        "projects/detail.html",
        project=project,
        history=reading.project_history(project),
        updates=reading.project_updates(project),
        following=follows.is_following(current_user, project),
        follow_form=FollowForm(),
        **panels.context_for(project),
    )


# --- helpers ------------------------------------------------------------------------------


def _public_project_or_404(slug: str) -> Project:
    """Return the project at /projects/<slug> if this visitor may see it."""
    project = reading.get_project_by_slug(slug) if SLUG_PATTERN.fullmatch(slug) else None
    if project is None or not can_view_project(current_user, project):
        abort(404)
    return project


def _back_to(target: str | None, fallback: str) -> BaseResponse:
    """Redirect (303) to a path on this site, or to the fallback."""
    return redirect(local_path(target) or fallback, code=303)


@bp.post("/projects/<slug>/follow")
def follow(slug: str) -> BaseResponse:
    """Follow a project: e-mail on status changes and news, until unfollowed."""
    project = _public_project_or_404(slug)
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=url_for("projects.detail", slug=slug)), 303)
    permissions.require(permissions.can_follow(current_user, project))
    form = FollowForm()
    if not form.validate_on_submit():
        abort(400)
    if follows.follow_project(current_user, project):
        flash(
            _(
                "You now follow “%(title)s”. We will e-mail you when its status changes "
                "or there is news.",
                title=project.title,
            ),
            "success",
        )
    else:
        flash(_("You already follow this project."), "info")
    return _back_to(form.next.data, url_for("projects.detail", slug=project.slug))


@bp.post("/projects/<slug>/unfollow")
@login_required
def unfollow(slug: str) -> BaseResponse:
    """Stop following a project (always allowed for one's own follow of a visible project).

    A draft answers 404 like a missing slug, so the answer tells nobody that a draft exists;
    a draft sends its followers no mail, and once published it can be unfollowed again.
    """
    project = _public_project_or_404(slug)
    permissions.require(permissions.can_manage_account(current_user))
    form = FollowForm()
    if not form.validate_on_submit():
        abort(400)
    if follows.unfollow_project(current_user, project):
        flash(
            _("You no longer follow “%(title)s”.", title=project.title),
            "success",
        )
    else:
        flash(_("You did not follow this project."), "info")
    return _back_to(form.next.data, url_for("projects.detail", slug=project.slug))


@bp.get("/account/following")
@login_required
def following() -> str:
    """List the projects I follow, each with an unfollow button."""
    permissions.require(permissions.can_manage_account(current_user))
    return render_template(
        "projects/following.html",
        projects=follows.followed_projects(current_user),
        form=FollowForm(),
    )


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the permission; mail programs POST here (RFC 8058)
def unsubscribe(token: str) -> str | tuple[str, int] | BaseResponse:
    """Unfollow from a mail without logging in: GET asks, POST (one click) does it."""
    if request.method == "POST":
        try:
            project = follows.unsubscribe(token)
        except RuleViolation as error:
            return _link_problem(error)
        flash(
            _(
                "You no longer follow “%(title)s” and get no more e-mail about it.",
                title=project.title,
            ),
            "success",
        )
        return redirect(url_for("projects.unsubscribed"), code=303)
    try:
        follow_row = follows.follow_for_token(token)
    except RuleViolation as error:
        return _link_problem(error)
    return render_template("projects/unsubscribe.html", project=follow_row.project, token=token)


def _link_problem(error: RuleViolation) -> tuple[str, int]:
    """Explain why an unsubscribe link does not work (400)."""
    return render_template("projects/unsubscribe_problem.html", message=error.message), 400


@bp.get("/unsubscribed")
def unsubscribed() -> str:
    """Confirm an unsubscription (the flash message says which project)."""
    return render_template("projects/unsubscribed.html")
