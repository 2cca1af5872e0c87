"""My data (as a page and as a file) and deleting the account: pages over every feature."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.auth import forms
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.personal_data import letter, services

bp = Blueprint("personal_data", __name__)


@bp.get("/account/data")
@login_required
def my_data() -> str:
    """Show everything stored about me, readably (DSGVO Art. 15)."""
    permissions.require(permissions.can_manage_account(current_user))
    sections = letter.readable(services.export_user_data(current_user))
    return render_template("personal_data/my_data.html", sections=sections)


@bp.get("/account/data.json")
@login_required
def my_data_json() -> Response:
    """Download everything stored about me as JSON (DSGVO Art. 20)."""
    permissions.require(permissions.can_manage_account(current_user))
    body = json.dumps(services.export_user_data(current_user), ensure_ascii=False, indent=2)
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="kldialog-meine-daten.json"',
            "Cache-Control": "no-store",
        },
    )


@bp.route("/account/delete", methods=["GET", "POST"])
@login_required
def delete_account() -> str | BaseResponse:
    """Delete the account after the password; explains first what happens."""
    permissions.require(permissions.can_manage_account(current_user))
    form = forms.DeleteAccountForm()
    if form.validate_on_submit():
        try:
            services.delete_account(current_user, form.password.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            language = session.get("lang")
            logout_user()
            session.clear()
            if language:
                session["lang"] = language
            flash(_("Your account and your personal data have been deleted."), "success")
            return redirect(url_for("pages.home"), code=303)
    return render_template("personal_data/delete_account.html", form=form)
