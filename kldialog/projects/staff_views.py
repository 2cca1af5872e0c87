"""The roadmap's staff console: projects, status and updates, visibility, categories, import.

Registered on the projects blueprint (views.bp); the app factory imports this module. Every
view reads top to bottom: load → authorize (permissions) → validate (form) → act (services) →
flash and redirect (303).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.projects import categories as category_changes
from kldialog.projects import reading, roadmap_io, roadmap_parse, rules
from kldialog.projects import staff as staff_changes
from kldialog.projects.forms import (
    ActionForm,
    CategoryForm,
    ImportForm,
    MoveForm,
    NewProjectForm,
    ProjectForm,
    StaffFilterForm,
    StatusForm,
    UpdateForm,
    english_data,
    percent_value,
)
from kldialog.projects.models import Category, Project, Status, Visibility
from kldialog.projects.views import bp
from kldialog.templating import STATUS_LABELS

STAFF_PER_PAGE = 50


def _staff_project_or_404(project_id: int) -> Project:
    """Return a project of any visibility for the staff console."""
    project = reading.get_project(project_id)
    if project is None:
        abort(404)
    return project


def _told(notified: int, project: Project) -> str:
    """Say how many followers were told by e-mail."""
    if project.state is Visibility.draft:
        return _("The project is a draft, so no e-mail was sent.")
    if not notified:
        return _("No follower was told by e-mail.")
    return ngettext(
        "%(num)d follower was told by e-mail.", "%(num)d followers were told by e-mail.", notified
    )


# --- following ----------------------------------------------------------------------------


# --- staff console: projects --------------------------------------------------------------


@bp.get("/staff/projects")
@login_required
def staff_projects() -> str:
    """List every project, drafts and archived ones too, searchable and paginated."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    form = StaffFilterForm(request.args, meta={"csrf": False})
    notices = []
    if not form.validate():
        for name in form.errors:
            field = form[name]
            notices.append(
                _(
                    "The value given for “%(label)s” was not valid and was ignored.",
                    label=field.label.text,
                )
            )
            field.data = field.default
            field.errors = []
    visibility = Visibility(form.visibility.data) if form.visibility.data else None
    sort = form.sort.data if form.sort.data in reading.STAFF_SORTS else "recent"
    result = reading.find_projects_for_staff(
        query=form.q.data or "",
        visibility=visibility,
        sort=sort,
        page=form.page.data or 1,
        per_page=STAFF_PER_PAGE,
    )
    params = {
        "q": form.q.data,
        "visibility": visibility.value if visibility else None,
        "sort": sort if sort != "recent" else None,
    }
    return render_template(
        "projects/staff/projects.html",
        form=form,
        result=result,
        notices=notices,
        params={key: value for key, value in params.items() if value},
    )


def _category_from(form: Any, categories: list[Category]) -> Category:
    """Return the category a validated form chose."""
    return next(c for c in categories if str(c.id) == form.category.data)


@bp.route("/staff/projects/new", methods=["GET", "POST"])
@login_required
def staff_new_project() -> str | BaseResponse:
    """Create a project; it starts as a draft unless published explicitly."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    categories = reading.all_categories()
    form = NewProjectForm()
    form.set_choices(categories, STATUS_LABELS)
    if form.validate_on_submit():
        try:
            project = staff_changes.create_project(
                current_user,
                title=form.title.data,
                slug=form.slug.data or "",
                summary=form.summary.data or "",
                description=form.description.data or "",
                category=_category_from(form, categories),
                department=form.department.data or "",
                progress=percent_value(form.progress),
                status=Status(form.status.data),
                visibility=Visibility(form.visibility.data),
                english=english_data(form, staff_changes.PROJECT_ENGLISH),
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            if project.state is Visibility.draft:
                message = _(
                    "The project “%(title)s” was saved as a draft. Only staff can see it.",
                    title=project.title,
                )
            else:
                message = _("The project “%(title)s” was created.", title=project.title)
            flash(message, "success")
            return redirect(url_for("projects.staff_edit_project", project_id=project.id), 303)
    return render_template(
        "projects/staff/project_form.html", form=form, project=None, categories=categories
    )


def _project_data(project: Project) -> dict[str, Any]:
    """Return a project's values as the edit form shows them."""
    return {
        "title": project.title,
        "slug": project.slug,
        "summary": project.summary,
        "description": project.description,
        "title_en": project.title_en or "",
        "summary_en": project.summary_en or "",
        "description_en": project.description_en or "",
        "category": str(project.category_id),
        "department": project.department,
        "progress": "" if project.progress is None else str(project.progress),
        "visibility": project.state.value,
    }


@bp.route("/staff/projects/<int:project_id>", methods=["GET", "POST"])
@login_required
def staff_edit_project(project_id: int) -> str | BaseResponse:
    """Edit a project's texts, category, progress and visibility; links to the other actions."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    project = _staff_project_or_404(project_id)
    categories = reading.all_categories()
    form = ProjectForm(data=_project_data(project))
    form.set_choices(categories, STATUS_LABELS)
    if form.validate_on_submit():
        try:
            changed = staff_changes.edit_project(
                current_user,
                project,
                title=form.title.data,
                slug=form.slug.data or "",
                summary=form.summary.data or "",
                description=form.description.data or "",
                category=_category_from(form, categories),
                department=form.department.data or "",
                progress=percent_value(form.progress),
                visibility=Visibility(form.visibility.data),
                english=english_data(form, staff_changes.PROJECT_ENGLISH),
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            if changed:
                flash(_("Your changes to the project were saved."), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return redirect(url_for("projects.staff_edit_project", project_id=project.id), 303)
    return render_template(
        "projects/staff/project_form.html",
        form=form,
        project=project,
        categories=categories,
        history=reading.project_history(project),
        updates=reading.project_updates(project),
    )


@bp.route("/staff/projects/<int:project_id>/status", methods=["GET", "POST"])
@login_required
def staff_change_status(project_id: int) -> str | BaseResponse:
    """Change the status with a reason and date for the public history."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    project = _staff_project_or_404(project_id)
    form = StatusForm(data={"author": project.department})
    form.set_choices(project.status, STATUS_LABELS)
    if form.validate_on_submit():
        new_status = Status(form.status.data)
        try:
            notified = staff_changes.change_project_status(
                current_user,
                project,
                status=new_status,
                reason=form.reason.data,
                changed_on=form.changed_on.data,
                author=form.author.data or "",
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(
                _("The status is now “%(status)s”.", status=STATUS_LABELS[new_status])
                + " "
                + _told(notified, project),
                "success",
            )
            return redirect(url_for("projects.staff_edit_project", project_id=project.id), 303)
    return render_template("projects/staff/status.html", form=form, project=project)


@bp.route("/staff/projects/<int:project_id>/updates/new", methods=["GET", "POST"])
@login_required
def staff_post_update(project_id: int) -> str | BaseResponse:
    """Post dated news about a project; followers get it by e-mail."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    project = _staff_project_or_404(project_id)
    form = UpdateForm(data={"author": project.department})
    if form.validate_on_submit():
        try:
            notified = staff_changes.post_project_update(
                current_user,
                project,
                title=form.title.data,
                body=form.body.data or "",
                published_on=form.published_on.data,
                author=form.author.data or "",
                english=english_data(form, ("title_en", "body_en")),
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The update was published.") + " " + _told(notified, project), "success")
            return redirect(url_for("projects.staff_edit_project", project_id=project.id), 303)
    return render_template("projects/staff/update.html", form=form, project=project)


@bp.route(
    "/staff/projects/<int:project_id>/visibility/<any(draft, published, archived):target>",
    methods=["GET", "POST"],
)
@login_required
def staff_set_visibility(project_id: int, target: str) -> str | BaseResponse:
    """Publish, archive, unarchive or withdraw a project, after a confirmation page."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    project = _staff_project_or_404(project_id)
    visibility = Visibility(target)
    form = ActionForm()
    if form.validate_on_submit():
        try:
            staff_changes.set_project_visibility(current_user, project, visibility)
        except RuleViolation as error:
            flash(error.message, "info")
        else:
            flash(VISIBILITY_DONE[visibility], "success")
        return redirect(url_for("projects.staff_edit_project", project_id=project.id), 303)
    return render_template(
        "projects/staff/visibility.html", form=form, project=project, target=visibility
    )


VISIBILITY_DONE = {
    Visibility.published: _l("The project is published: everyone can see it now."),
    Visibility.archived: _l("The project is archived. Its page stays readable with a notice."),
    Visibility.draft: _l("The project is a draft again. Only staff can see it."),
}


# --- staff console: categories ------------------------------------------------------------


def _category_or_404(category_id: int) -> Category:
    """Return a category or answer 404."""
    category = category_changes.get_category(category_id)
    if category is None:
        abort(404)
    return category


@bp.route("/staff/categories", methods=["GET", "POST"])
@login_required
def staff_categories() -> str | BaseResponse:
    """List categories in roadmap order with their project counts; add a new one."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            category = category_changes.create_category(
                current_user, form.name.data, form.name_en.data or ""
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The category “%(name)s” was added.", name=category.name), "success")
            return redirect(url_for("projects.staff_categories"), code=303)
    return render_template(
        "projects/staff/categories.html",
        form=form,
        rows=category_changes.categories_with_counts(),
        move_form=MoveForm(),
    )


@bp.route("/staff/categories/<int:category_id>", methods=["GET", "POST"])
@login_required
def staff_edit_category(category_id: int) -> str | BaseResponse:
    """Rename a category (its address stays the same)."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    category = _category_or_404(category_id)
    form = CategoryForm(data={"name": category.name, "name_en": category.name_en or ""})
    if form.validate_on_submit():
        try:
            renamed = category_changes.rename_category(
                current_user, category, form.name.data, form.name_en.data or ""
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            if renamed:
                flash(_("The category is now called “%(name)s”.", name=category.name), "success")
            else:
                flash(_("Nothing was changed."), "info")
            return redirect(url_for("projects.staff_categories"), code=303)
    return render_template("projects/staff/category.html", form=form, category=category)


@bp.post("/staff/categories/<int:category_id>/move")
@login_required
def staff_move_category(category_id: int) -> BaseResponse:
    """Move a category one place up or down in the roadmap order."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    category = _category_or_404(category_id)
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    offset = -1 if form.direction.data == "up" else 1
    if category_changes.move_category(current_user, category, offset):
        flash(_("“%(name)s” was moved.", name=category.name), "success")
    else:
        flash(_("“%(name)s” cannot move further.", name=category.name), "info")
    return redirect(url_for("projects.staff_categories", _anchor=f"category-{category.id}"), 303)


@bp.route("/staff/categories/<int:category_id>/delete", methods=["GET", "POST"])
@login_required
def staff_delete_category(category_id: int) -> str | BaseResponse:
    """Delete an empty category, after a confirmation page."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    category = _category_or_404(category_id)
    form = ActionForm()
    if form.validate_on_submit():
        name = category.name
        try:
            category_changes.delete_category(current_user, category)
        except RuleViolation as error:
            flash(error.message, "danger")
        else:
            flash(_("The category “%(name)s” was deleted.", name=name), "success")
        return redirect(url_for("projects.staff_categories"), code=303)
    count = dict((c.id, n) for c, n in category_changes.categories_with_counts()).get(
        category.id, 0
    )
    return render_template(
        "projects/staff/delete_category.html", form=form, category=category, count=count
    )


# --- staff console: import and export -----------------------------------------------------


@bp.route("/staff/roadmap/import", methods=["GET", "POST"])
@login_required
def staff_import() -> str | BaseResponse:
    """Check or import a roadmap file (all or nothing); links to the exports."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    form = ImportForm()
    problems: list[str] = []
    preview = None
    if form.validate_on_submit():
        upload = form.file.data
        filename = upload.filename or ""
        try:
            roadmap, fmt = roadmap_parse.read_roadmap_upload(
                upload.read(),
                filename,
                as_of=form.as_of.data or "",
                author=rules.clean_line(form.author.data),
                status_reason=rules.clean_text(form.status_reason.data),
            )
            if form.run.data:
                report = roadmap_io.import_roadmap_upload(
                    current_user, roadmap, filename=filename, fmt=fmt
                )
            else:
                preview = roadmap_io.preview_roadmap_import(roadmap)
        except roadmap_parse.RoadmapError as error:
            problems = error.problems
            form.file.errors = [
                *form.file.errors,
                ngettext(
                    "The file has %(num)d problem. Nothing was imported.",
                    "The file has %(num)d problems. Nothing was imported.",
                    len(problems),
                ),
            ]
        else:
            if preview is None:
                flash(
                    _(
                        "Imported. Projects new: %(created)d, changed: %(updated)d, "
                        "unchanged: %(unchanged)d. New categories: %(categories)d.",
                        created=report.created,
                        updated=report.updated,
                        unchanged=report.unchanged,
                        categories=report.categories_created,
                    ),
                    "success",
                )
                return redirect(url_for("projects.staff_import"), code=303)
    return render_template(
        "projects/staff/import.html", form=form, problems=problems, preview=preview
    )


@bp.get("/staff/roadmap/export.<any(json, csv):fmt>")
@login_required
def staff_export(fmt: str) -> Response:
    """Download the whole roadmap (drafts and archived included) as JSON or CSV."""
    permissions.require(permissions.can_manage_roadmap(current_user))
    stamp = dt.date.today().isoformat()
    if fmt == "json":
        body = json.dumps(roadmap_io.export_roadmap_json(), ensure_ascii=False, indent=2) + "\n"
        mimetype = "application/json"
    else:
        body = roadmap_io.export_roadmap_csv()
        mimetype = "text/csv"
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="roadmap-{stamp}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )
