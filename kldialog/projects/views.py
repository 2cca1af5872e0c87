"""Public roadmap pages: the filterable project list and one page per project."""

from __future__ import annotations

import re

from flask import abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from kldialog.permissions import can_view_project
from kldialog.projects import bp, services
from kldialog.projects.forms import ProjectFilterForm
from kldialog.projects.models import Status
from kldialog.templating import STATUS_LABELS

KNOWN_PARAMETERS = {"q", "category", "status", "sort", "page"}
SLUG_PATTERN = re.compile(r"[a-z0-9-]{1,120}")


@bp.get("/projects")
def index() -> str:
    """List projects, filtered by category, status and text, sorted and paginated."""
    categories = services.all_categories()
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
    result = services.find_projects(
        query=form.q.data or "",
        category=category,
        status=status,
        sort=form.sort.data or "title",
        page=form.page.data or 1,
        per_page=current_app.config["PROJECTS_PER_PAGE"],
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
    project = services.get_project_by_slug(slug) if SLUG_PATTERN.fullmatch(slug) else None
    if not can_view_project(current_user, project):
        abort(404)  # a draft is not "forbidden" to the public: it does not exist yet
    return render_template(
        "projects/detail.html",
        project=project,
        history=services.project_history(project),
        updates=services.project_updates(project),
    )
