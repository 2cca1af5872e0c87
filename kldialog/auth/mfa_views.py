"""Two-factor pages: the second step of logging in, setting it up, recovery codes, switching off."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
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
from kldialog.auth import forms, mfa, services, throttle
from kldialog.auth.views import MFA_PENDING, _login, after_login
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.kernel.extensions import limiter
from kldialog.kernel.secretbox import same_secret
from kldialog.kernel.time import utcnow

bp = Blueprint("mfa", __name__)

# Session keys: the sealed secret being set up, and the sealed recovery codes shown once.
SETUP = "mfa_setup"
NEW_CODES = "mfa_new_codes"
# Minutes between the right password and the code; then the password is asked again.
PENDING_MINUTES = 10
# Pages of the roles that need a second factor: an account still without one is sent to set
# it up first. The predicates (permissions.has_role) refuse these roles anywhere else too.
PRIVILEGED_PREFIXES = ("/staff", "/admin", "/moderation")


def _throttle_key(user: services.User) -> str:
    # Codes count per account, in the login throttle's storage and tiers (auth/throttle.py).
    return f"mfa:{user.id}"


def is_privileged_path(path: str) -> bool:
    """Return whether a path is a role page (whole first segment: /moderationsbericht is not)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PRIVILEGED_PREFIXES)


@bp.before_app_request
def _enrol_first() -> BaseResponse | None:
    """Send an account whose role needs a second factor to set it up before its role's pages."""
    if not is_privileged_path(request.path):
        return None
    if current_user.is_authenticated and permissions.mfa_enrolment_due(current_user):
        flash(
            _(
                "Your role requires two-factor login. Please set it up now: until then, the "
                "pages of your role stay closed."
            ),
            "warning",
        )
        return redirect(url_for("mfa.setup"), code=303)
    return None


def _pending() -> tuple[services.User, dict[str, Any]] | None:
    """Return the account and data of a login waiting for its code, if it is still valid."""
    pending = session.get(MFA_PENDING)
    if not isinstance(pending, dict):
        return None
    user_id, token, started = pending.get("user"), pending.get("token"), pending.get("at")
    if not (isinstance(user_id, int) and isinstance(token, str) and isinstance(started, int)):
        return None
    if not 0 <= utcnow().timestamp() - started <= PENDING_MINUTES * 60:
        return None
    user = services.db.session.get(services.User, user_id)
    if user is None or user.deleted_at is not None:
        return None
    if not same_secret(token, user.session_token):  # the password changed meanwhile
        return None
    if not user.has_mfa:
        return None
    return user, pending


def _code_lock_message(until: Any) -> str:
    return _(
        "Too many wrong codes: logging in to this account is paused for %(minutes)d minutes.",
        minutes=throttle.minutes_left(until),
    )


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN"],
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 303,
)
def second_step() -> str | BaseResponse:
    """Ask for the code after the right password; only then does the session log in."""
    if current_user.is_authenticated:
        return redirect(url_for("auth.account"))
    found = _pending()
    if found is None:
        session.pop(MFA_PENDING, None)
        flash(_("Please log in again."), "info")
        return redirect(url_for("auth.login"), code=303)
    user, pending = found
    form = forms.SecondFactorForm()
    if form.validate_on_submit():
        key = _throttle_key(user)
        locked = throttle.locked_until(key)
        used = None if locked else mfa.check_second_factor(user, form.code.data)
        if locked:
            form.code.errors = [_code_lock_message(locked)]
        elif used is None:
            if throttle.record_failure(key):
                form.code.errors = [_code_lock_message(throttle.locked_until(key))]
            else:
                form.code.errors = [mfa.code_problem()]
        else:
            target = str(pending.get("next") or url_for("auth.account"))
            # _login rotates the session token and starts a fresh session marked as having
            # given the second factor (the half login's session data are dropped).
            _login(user, remember=bool(pending.get("remember")), mfa_passed=True)
            if used == "recovery":
                flash(
                    _(
                        "You used a recovery code; %(num)d are left. If you lost your phone, "
                        "set up two-factor login again.",
                        num=mfa.recovery_codes_left(user),
                    ),
                    "warning",
                )
            if not user.is_confirmed:
                flash(_("Please confirm your e-mail address with the link we sent you."), "warning")
            return after_login(user, target)
    return render_template("auth/second_step.html", form=form, demo_code=mfa.demo_code(user))


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def setup() -> str | BaseResponse:
    """Set up two-factor login (QR code, then a first code), or show that it is on."""
    permissions.require(permissions.can_manage_account(current_user))
    user = current_user._get_current_object()
    if user.has_mfa:
        if request.method == "POST":
            return redirect(url_for("mfa.setup"), code=303)
        return _render_status(user, forms.DisableMfaForm(formdata=None))
    secret = mfa.open_setup(user, session.get(SETUP))
    if secret is None:
        secret = mfa.new_secret()
        session[SETUP] = mfa.seal_setup(user, secret)
    form = forms.EnableMfaForm()
    if form.validate_on_submit():
        try:
            codes = mfa.enable(user, secret, form.code.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            # Other sessions ended with the new session token; this one goes on, with the code.
            _login(user, mfa_passed=True)
            session[NEW_CODES] = mfa.seal_codes(user, codes)
            flash(_("Two-factor login is on."), "success")
            return redirect(url_for("mfa.recovery_codes"), code=303)
    title = _("QR code for your authenticator app")
    return render_template(
        "auth/mfa_setup.html",
        form=form,
        qr=mfa.qr_svg(mfa.provisioning_uri(user, secret), title),
        secret=mfa.grouped(secret),
        required=mfa.is_required_for(user),
    )


def _render_status(user: services.User, disable_form: forms.DisableMfaForm) -> str:
    return render_template(
        "auth/mfa_status.html",
        form=disable_form if disable_form.errors else None,
        disable_form=disable_form,
        left=mfa.recovery_codes_left(user),
    )


@bp.get("/account/two-factor/recovery-codes")
@login_required
def recovery_codes() -> str | BaseResponse:
    """Show the new recovery codes once (they are stored hashed only)."""
    permissions.require(permissions.can_manage_account(current_user))
    codes = mfa.open_codes(current_user, session.pop(NEW_CODES, None))
    if not codes:
        return redirect(url_for("mfa.setup"))
    return render_template("auth/mfa_recovery_codes.html", codes=codes)


@bp.post("/account/two-factor/disable")
@login_required
def disable() -> str | BaseResponse:
    """Switch one's own second factor off with the password and a code (not if required)."""
    permissions.require(permissions.can_manage_account(current_user))
    user = current_user._get_current_object()
    if not user.has_mfa:
        return redirect(url_for("mfa.setup"), code=303)
    permissions.require(permissions.can_disable_mfa(user))
    form = forms.DisableMfaForm()
    if form.validate_on_submit():
        key = _throttle_key(user)
        locked = throttle.locked_until(key)
        if locked:
            form.code.errors = [_code_lock_message(locked)]
        else:
            try:
                mfa.disable(user, services.check_password(user, form.password.data), form.code.data)
            except RuleViolation as error:
                if error.field == "code":
                    throttle.record_failure(key)
                show_rule_violation(form, error)
            else:
                _login(user)  # the session no longer depends on a second factor
                flash(_("Two-factor login is off."), "success")
                return redirect(url_for("auth.account"), code=303)
    return _render_status(user, form)
