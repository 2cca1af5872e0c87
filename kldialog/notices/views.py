"""Notice opt-ins on the account page and the one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.extensions import csrf
from kldialog.notices import preferences
from kldialog.notices.forms import NoticeSettingsForm
from kldialog.notices.models import NoticeKind, NoticePreference

bp = Blueprint("notices", __name__)


@bp.app_context_processor
def _account_settings() -> dict[str, Any]:
    # A function, so only the account page (which calls it) reads the row.
    return {"notice_settings": _current_settings}


def _current_settings() -> NoticePreference:
    return preferences.preference_of(current_user)


@bp.post("/account/notices")
@login_required
def settings() -> BaseResponse:
    """Save the opt-ins for opening notices and the weekly digest (default: both off)."""
    permissions.require(permissions.can_manage_account(current_user))
    form = NoticeSettingsForm()
    if form.validate_on_submit():
        preferences.set_preferences(
            current_user, openings=bool(form.openings.data), digest=bool(form.digest.data)
        )
        flash(_("Your e-mail settings for notices are saved."), "success")
    return redirect(url_for("auth.account", _anchor="notices-title"), code=303)


@bp.route("/notices/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the permission; mail programs POST here (RFC 8058)
def unsubscribe(token: str) -> str | tuple[str, int] | BaseResponse:
    """Stop one kind of notice without logging in: GET asks, POST (one click) does it."""
    try:
        if request.method == "POST":
            kind = preferences.unsubscribe(token)
            flash(_kind_stopped(kind), "success")
            return redirect(url_for("notices.unsubscribed"), code=303)
        _user, kind = preferences.read_token(token)
    except RuleViolation as error:
        return render_template("notices/unsubscribe_problem.html", message=error.message), 400
    return render_template("notices/unsubscribe.html", kind=kind, token=token)


def _kind_stopped(kind: NoticeKind) -> str:
    if kind == NoticeKind.digest:
        return _("You will get no more weekly summaries.")
    return _("You will get no more e-mail when a priority round or survey opens.")


@bp.get("/notices/unsubscribed")
def unsubscribed() -> str:
    """Confirm the unsubscription (the flash message says which kind)."""
    return render_template("notices/unsubscribed.html")
