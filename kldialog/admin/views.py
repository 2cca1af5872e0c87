"""Admin pages: accounts (roles, blocks), the audit log and residency codes."""

from __future__ import annotations

import secrets
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
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.admin import forms, services
from kldialog.admin.code_sheet import render_code_sheet
from kldialog.auth import blocking, mfa, residency
from kldialog.auth.models import Role, User
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.kernel.secretbox import same_secret
from kldialog.templating import ROLE_LABELS

bp = Blueprint("admin", __name__, url_prefix="/admin")

DEFAULT_PER_PAGE = 50
# Session key of the one-time value that lets the code form be sent once (see codes()).
CODES_FORM_KEY = "residency_codes_form"


def _per_page() -> int:
    return int(current_app.config.get("ADMIN_PER_PAGE", DEFAULT_PER_PAGE))


@bp.before_request
def _require_login() -> BaseResponse | None:
    """Send anonymous visitors to the login page; refuse everyone without an admin task."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    permissions.require(permissions.can_view_admin_area(current_user))
    return None


def _ignore_invalid_filters(form: FlaskForm) -> list[str]:
    """Validate a GET filter form; drop what is not understood and say so (never an error page)."""
    form.validate()
    notices = []
    for name in list(form.errors):
        field = form[name]
        if name != "page":
            notices.append(
                _(
                    "The value given for “%(label)s” was not valid and was ignored.",
                    label=field.label.text,
                )
            )
        field.data = field.default
        field.raw_data = []
        field.errors = []
    return notices


def _user_or_404(user_id: int) -> User:
    user = services.get_user(user_id)
    if user is None:
        abort(404)
    return user


# --- start page --------------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    """Show the administrative tasks this person may do."""
    return render_template("admin/index.html")


# --- accounts -----------------------------------------------------------------------------------


@bp.get("/users")
def users() -> str:
    """List active accounts: searchable, filterable by role, paginated."""
    permissions.require(permissions.can_manage_users(current_user))
    form = forms.UserSearchForm(request.args)
    notices = _ignore_invalid_filters(form)
    role = Role[form.role.data] if form.role.data else None
    result = services.find_users(
        query=form.q.data or "",
        role=role,
        sort=form.sort.data or "newest",
        page=form.page.data or 1,
        per_page=_per_page(),
    )
    params = {
        "q": form.q.data,
        "role": form.role.data,
        "sort": form.sort.data if form.sort.data != "newest" else None,
    }
    return render_template(
        "admin/users.html",
        form=form,
        result=result,
        notices=notices,
        searched=bool(form.q.data or role),
        params={key: value for key, value in params.items() if value},
    )


def _render_user(
    target: User,
    *,
    roles_form: forms.RolesForm | None = None,
    block_form: forms.BlockForm | None = None,
    unblock_form: forms.UnblockForm | None = None,
    mfa_form: forms.ResetMfaForm | None = None,
) -> str:
    """Render an account's page; a form that failed validation is passed in, the rest are new."""
    submitted = roles_form or block_form or unblock_form or mfa_form
    if roles_form is None:
        roles_form = forms.RolesForm(
            prefix="roles",
            formdata=None,
            data={
                **{role.name: target.has_role(role) for role in services.MANAGED_ROLES},
                "expected": str(target.roles),
            },
        )
    return render_template(
        "admin/user.html",
        target=target,
        name=target.display_name or _("deleted account #%(id)d", id=target.id),
        roles_form=roles_form,
        block_form=block_form or forms.BlockForm(prefix="block", formdata=None),
        unblock_form=unblock_form or forms.UnblockForm(prefix="unblock", formdata=None),
        mfa_form=mfa_form or forms.ResetMfaForm(prefix="mfa", formdata=None),
        # base.html and the error summary read `form`: the page title starts with "Error: ".
        form=submitted,
        managed_roles=services.MANAGED_ROLES,
        recent=services.find_audit_entries(target_type="user", target_id=target.id, per_page=10),
    )


@bp.get("/users/<int:user_id>")
def user_detail(user_id: int) -> str:
    """Show an account: facts, roles, block, latest audit entries, and the forms to change them."""
    permissions.require(permissions.can_manage_users(current_user))
    return _render_user(_user_or_404(user_id))


@bp.post("/users/<int:user_id>/roles")
def change_roles(user_id: int) -> str | BaseResponse:
    """Grant and revoke roles with a reason."""
    permissions.require(permissions.can_manage_users(current_user))
    target = _user_or_404(user_id)
    permissions.require(permissions.can_change_roles(current_user, target))
    form = forms.RolesForm(prefix="roles")
    if form.validate_on_submit():
        try:
            changes = services.change_roles(
                current_user, target, form.wanted_roles(), form.reason.data, form.expected_roles()
            )
        except RuleViolation as error:
            if error.field is None and form.expected_roles() != target.roles:
                # Someone else changed the roles: show the current ones, keep what was typed.
                form.expected.data = str(target.roles)
                flash(error.message, "warning")
            else:
                show_rule_violation(form, error)
        else:
            if not changes:
                flash(_("Nothing changed: the account already has these roles."), "info")
            for role, granted in changes:
                message = (
                    _("Role “%(role)s” granted.", role=ROLE_LABELS[role])
                    if granted
                    else _("Role “%(role)s” revoked.", role=ROLE_LABELS[role])
                )
                flash(message, "success")
            if not permissions.can_manage_users(current_user):
                return redirect(url_for("auth.account"), code=303)  # gave up their own admin role
            return redirect(url_for("admin.user_detail", user_id=target.id), code=303)
    return _render_user(target, roles_form=form)


@bp.post("/users/<int:user_id>/block")
def block(user_id: int) -> str | BaseResponse:
    """Block an account until a date or permanently, with a reason."""
    permissions.require(permissions.can_manage_users(current_user))
    target = _user_or_404(user_id)
    permissions.require(permissions.can_block(current_user, target))
    form = forms.BlockForm(prefix="block")
    if form.validate_on_submit():
        try:
            blocking.block_user(current_user, target, form.blocked_until(), form.reason.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The account is blocked."), "success")
            return redirect(url_for("admin.user_detail", user_id=target.id), code=303)
    return _render_user(target, block_form=form)


@bp.post("/users/<int:user_id>/unblock")
def unblock(user_id: int) -> str | BaseResponse:
    """Lift an account's block, with a reason."""
    permissions.require(permissions.can_manage_users(current_user))
    target = _user_or_404(user_id)
    permissions.require(permissions.can_block(current_user, target))
    form = forms.UnblockForm(prefix="unblock")
    if form.validate_on_submit():
        try:
            blocking.unblock_user(current_user, target, form.reason.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("The block is lifted."), "success")
            return redirect(url_for("admin.user_detail", user_id=target.id), code=303)
    return _render_user(target, unblock_form=form)


@bp.post("/users/<int:user_id>/reset-mfa")
def reset_mfa(user_id: int) -> str | BaseResponse:
    """Remove an account's second factor (lost phone and codes), with a reason; audited."""
    permissions.require(permissions.can_manage_users(current_user))
    target = _user_or_404(user_id)
    permissions.require(permissions.can_reset_mfa(current_user, target))
    form = forms.ResetMfaForm(prefix="mfa")
    if form.validate_on_submit():
        try:
            mfa.reset(current_user, target, form.reason.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("Two-factor login of this account is reset."), "success")
            return redirect(url_for("admin.user_detail", user_id=target.id), code=303)
    return _render_user(target, mfa_form=form)


# --- audit log ------------------------------------------------------------------------------------


@bp.get("/audit")
def audit() -> str:
    """Show the append-only audit log, newest first, filtered and paginated."""
    permissions.require(permissions.can_read_audit_log(current_user))
    form = forms.AuditFilterForm(request.args)
    notices = _ignore_invalid_filters(form)
    result = services.find_audit_entries(
        action=form.action.data or "",
        target_type=form.target_type.data or "",
        target_id=form.target_id.data,
        actor_id=form.actor.data,
        page=form.page.data or 1,
        per_page=_per_page(),
    )
    params: dict[str, Any] = {
        "action": form.action.data,
        "target_type": form.target_type.data,
        "target_id": form.target_id.data,
        "actor": form.actor.data,
    }
    return render_template(
        "admin/audit.html",
        form=form,
        result=result,
        targets=services.audit_targets(result.items),
        notices=notices,
        filtered=any(value is not None and value != "" for value in params.values()),
        params={key: value for key, value in params.items() if value not in (None, "")},
    )


# --- residency codes --------------------------------------------------------------------------


@bp.route("/codes", methods=["GET", "POST"])
def codes() -> str | BaseResponse:
    """Generate residency codes and show them once as a printable sheet; count unused ones.

    The successful POST answers with the sheet itself instead of redirecting (the one
    deliberate exception to POST-redirect-GET): the plaintext codes exist only in this
    response, never in the database or the session, so there is nothing a GET could show
    later. `Cache-Control: no-store` keeps them out of caches, and a one-time form value
    makes a reload of the sheet refuse instead of generating a second batch.
    """
    permissions.require(permissions.can_manage_residency_codes(current_user))
    form = forms.ResidencyCodesForm()
    if request.method == "GET":
        form.batch.data = forms.city_today().isoformat()
    if form.validate_on_submit():
        expected = session.pop(CODES_FORM_KEY, "")
        if not expected or not same_secret(form.once.data or "", str(expected)):
            flash(
                _(
                    "This form was already sent or opened again in another window, so no codes "
                    "were generated. Check the entries and send the form again."
                ),
                "warning",
            )
        else:
            try:
                codes = residency.generate_residency_codes(
                    current_user, form.count_value(), form.batch.data
                )
            except RuleViolation as error:
                show_rule_violation(form, error)
            else:
                batch = residency.clean_batch_label(form.batch.data)
                response = make_response(render_code_sheet(codes, batch, form.language.data))
                response.headers["Cache-Control"] = "no-store"
                return response
    form.once.data = session[CODES_FORM_KEY] = secrets.token_urlsafe(16)
    return render_template("admin/codes.html", form=form, batches=services.unused_codes_by_batch())
