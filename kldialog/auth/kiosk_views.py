"""Kiosk pages (start, finished, switching on and off) and the counter's residency codes.

The rules of a kiosk device (auth/kiosk.py) are enforced here around every request: the idle
timeout before the view, the end after a ballot or survey, `no-store` and autocomplete="off"
after it.
"""

from __future__ import annotations

import secrets

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
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.auth import forms, kiosk, mfa, services, throttle
from kldialog.auth import residency as residency_codes
from kldialog.auth.views import _logout
from kldialog.kernel import pagecache
from kldialog.kernel.actions import completed_participation
from kldialog.kernel.audit import audit
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.extensions import limiter
from kldialog.kernel.params import choice
from kldialog.kernel.secretbox import same_secret

bp = Blueprint("kiosk", __name__)

# Why the finished page is shown (a query value: it names no person and nothing they did).
DONE_REASONS = ("end", "timeout", "ballot", "survey", "logout")
COUNTER_FORM_KEY = "counter_code_form"


# --- the rules around every request of a kiosk device -------------------------------------------


@bp.before_app_request
def _kiosk_guard() -> BaseResponse | None:
    """End an idle person's session before anything of it is used; stamp activity otherwise."""
    if request.endpoint == "static" or not kiosk.is_kiosk():
        return None
    pagecache.bypass()  # nothing of a kiosk is served from or kept in the page cache
    if kiosk.idle_expired():
        # Also for a POST: the next person must not send a form in the previous one's name.
        kiosk.end_person_session()
        return redirect(url_for("kiosk.done", reason="timeout"), 303)
    return None


@bp.after_app_request
def _kiosk_response(response: BaseResponse) -> BaseResponse:
    """On a kiosk: end the session after a ballot, survey or logout; no caching, no autofill."""
    if request.endpoint == "static" or not kiosk.is_kiosk():
        return response
    done = completed_participation()
    logged_out = request.endpoint == "auth.logout"
    if response.status_code in (302, 303) and (done or logged_out):
        kiosk.end_person_session()
        # Changed in place: the security headers are already on this response.
        response.status_code = 303
        response.headers["Location"] = url_for("kiosk.done", reason=done or "logout")
    if kiosk.holds_person_data():
        kiosk.stamp()  # after the view: a login clears the session and starts a new one
    # The back button must not show the previous person's pages from the browser's cache.
    response.headers["Cache-Control"] = "no-store"
    if response.mimetype == "text/html" and not response.direct_passthrough:
        response.set_data(kiosk.without_autocomplete(response.get_data()))
    return response


@bp.app_context_processor
def _kiosk_context() -> dict[str, object]:
    on_kiosk = kiosk.is_kiosk()
    return {
        "kiosk": on_kiosk,
        "kiosk_active": on_kiosk and kiosk.holds_person_data(),
        "kiosk_idle_seconds": kiosk.idle_seconds(),
    }


# --- pages ------------------------------------------------------------------------------------


@bp.get("/kiosk")
def start() -> str | BaseResponse:
    """On a kiosk: the start page for residents. Elsewhere: staff turn the device into one."""
    if kiosk.is_kiosk():
        return render_template("auth/kiosk/start.html", end_form=forms.ButtonForm())
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=url_for("kiosk.start")))
    permissions.require(permissions.can_set_up_kiosk(current_user))
    return render_template("auth/kiosk/setup.html", form=forms.ButtonForm())


@bp.post("/kiosk/enable")
def enable() -> BaseResponse:
    """Turn this device into a kiosk (staff, CSRF token); the staff session ends with it."""
    permissions.require(permissions.can_set_up_kiosk(current_user))
    form = forms.ButtonForm()
    if not form.validate_on_submit():
        flash(_("The form has expired. Please send it again."), "danger")
        return redirect(url_for("kiosk.start"), 303)
    audit(current_user, "kiosk.enable", "kiosk", None)
    _logout()  # commits the audit entry with the new session token
    response = redirect(url_for("kiosk.start"), 303)
    response.set_cookie(
        kiosk.cookie_name(),
        kiosk.new_cookie_value(),
        max_age=kiosk.cookie_max_age(),
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Strict",
    )
    return response


@bp.post("/kiosk/end")
def end() -> BaseResponse:
    """End the person's session now (the button on every kiosk page, and the countdown)."""
    if not kiosk.is_kiosk():
        return redirect(url_for("pages.home"), 303)
    reason = choice(request.form.get("reason"), ("end", "timeout"), "end")
    if forms.ButtonForm().validate_on_submit():
        kiosk.end_person_session()
        return redirect(url_for("kiosk.done", reason=reason), 303)
    return redirect(url_for("kiosk.start"), 303)


@bp.post("/kiosk/alive")
def alive() -> BaseResponse:
    """Count a keystroke or tap on the page as activity (the countdown script, CSRF header)."""
    if not kiosk.is_kiosk():
        abort(404)
    return make_response("", 204)


@bp.get("/kiosk/done")
def done() -> str | BaseResponse:
    """Show the full-screen "finished" page, once nothing of a person is left here."""
    if kiosk.is_kiosk() and kiosk.holds_person_data():
        return redirect(url_for("kiosk.start"))  # still someone's session: not "finished"
    reason = choice(request.args.get("reason"), DONE_REASONS, "end")
    return render_template("auth/kiosk/done.html", reason=reason)


def _refuse_off(form: forms.KioskOffForm, email: str) -> None:
    """Count a failed attempt like a failed login, with one message for every cause."""
    if throttle.record_failure(email):
        services.send_lock_notice(email)
    form.password.errors = [_("These are not the credentials of a staff account.")]


def _staff_credentials(form: forms.KioskOffForm) -> services.User | None:
    """Return the staff account whose password (and code, if it has one) the form gives."""
    email = services.normalise_email(form.email.data)
    if throttle.locked_until(email):
        form.password.errors = [_("Too many wrong attempts. Please try again later.")]
        return None
    user = services.authenticate(email, form.password.data)
    if user is None or not permissions.can_set_up_kiosk(user):
        _refuse_off(form, email)
        return None
    if user.has_mfa and mfa.check_second_factor(user, form.code.data or "") is None:
        _refuse_off(form, email)
        return None
    return user


@bp.route("/kiosk/disable", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN"],
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 303,
)
def disable() -> str | BaseResponse:
    """Switch kiosk mode off on this device with a staff account's password and code."""
    if not kiosk.is_kiosk():
        return redirect(url_for("kiosk.start"))
    form = forms.KioskOffForm()
    if form.validate_on_submit():
        user = _staff_credentials(form)
        if user is not None:
            audit(user, "kiosk.disable", "kiosk", None)
            kiosk.end_person_session()  # commits the audit entry
            flash(_("Kiosk mode is off. This device is an ordinary browser again."), "success")
            response = redirect(url_for("pages.home"), 303)
            response.delete_cookie(
                kiosk.cookie_name(),
                secure=current_app.config["SESSION_COOKIE_SECURE"],
                httponly=True,
                samesite="Strict",
            )
            return response
    return render_template("auth/kiosk/disable.html", form=form)


# --- residency codes at the counter -------------------------------------------------------------


@bp.route("/staff/counter-code", methods=["GET", "POST"])
@login_required
def counter_code() -> str | BaseResponse:
    """Hand out one residency code after checking an ID; shown once, printable.

    Like the admin's code sheet, the successful POST answers with the code itself (no
    redirect): the plaintext exists only in this response. A one-time form value makes a
    reload refuse instead of issuing a second code.
    """
    permissions.require(permissions.can_issue_counter_code(current_user))
    form = forms.CounterCodeForm()
    if form.validate_on_submit():
        expected = session.pop(COUNTER_FORM_KEY, "")
        if not expected or not same_secret(form.once.data or "", str(expected)):
            flash(
                _("This form was already sent, so no code was issued. Press the button again."),
                "warning",
            )
        else:
            try:
                code = residency_codes.issue_counter_code()
            except RuleViolation as error:
                flash(error.message, "danger")
            else:
                response = make_response(
                    render_template(
                        "auth/kiosk/counter_code.html",
                        code=code,
                        redeem_url=url_for("auth.residency", _external=True),
                    )
                )
                response.headers["Cache-Control"] = "no-store"
                return response
    form.once.data = session[COUNTER_FORM_KEY] = secrets.token_urlsafe(16)
    return render_template("auth/kiosk/counter.html", form=form)
