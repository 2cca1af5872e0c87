"""Account pages: register, confirm, log in/out, passwords, e-mail, terms, my data, delete."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response as BaseResponse

from kldialog import permissions
from kldialog.auth import forms, kiosk, services, sessions, throttle
from kldialog.auth import residency as residency_codes
from kldialog.kernel.errors import RuleViolation, show_rule_violation
from kldialog.kernel.extensions import account_key, limiter
from kldialog.kernel.http import local_path
from kldialog.kernel.secretbox import same_secret
from kldialog.kernel.time import utcnow

bp = Blueprint("auth", __name__)


def load_user(login_id: str) -> services.User | None:
    """Return the account for a session's login id if its session token is still current."""
    user_id, _sep, token = login_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = services.db.session.get(services.User, int(user_id))
    if user is None or user.deleted_at is not None:
        return None
    if not same_secret(token, user.session_token):
        return None  # the password changed since: this session is over
    if sessions.session_expired():
        return None  # absolute lifetime: a login lasts SESSION_ABSOLUTE_HOURS, then ends
    if user.has_mfa and not sessions.mfa_passed():
        return None  # a session that did not give the second factor is not logged in
    if kiosk.is_kiosk() and not permissions.can_log_in_on_kiosk(user):
        return None  # staff, admins and moderators are never logged in on a shared device
    return user


def load_user_from_remember_cookie(req: Any) -> services.User | None:
    """Start a session from a current remember-me token (Flask-Login's request loader)."""
    if kiosk.is_kiosk():
        if sessions.remember_cookie_name() in req.cookies:
            g.remember_cookie = None  # nobody stays logged in on a kiosk: the cookie goes
        return None
    user = sessions.user_for_remember_token(req.cookies.get(sessions.remember_cookie_name()))
    if user is None:
        if sessions.remember_cookie_name() in req.cookies:
            g.remember_cookie = None  # revoked or expired: the browser may drop it
        return None
    login_user(user, fresh=False)
    session.pop("_id", None)  # Flask-Login's hash of IP address and user agent: not stored
    # The token was issued after both factors (and enabling the second factor deletes older
    # ones), so this device has given the code; the new session has its own absolute lifetime.
    sessions.stamp_login(mfa_passed=True)
    return user


@bp.after_app_request
def _set_remember_cookie(response: BaseResponse) -> BaseResponse:
    """Set or delete the remember-me cookie as the request decided (g.remember_cookie)."""
    config = current_app.config
    legacy = config.get("REMEMBER_COOKIE_NAME", "remember_token")
    if legacy in request.cookies:
        # Flask-Login's old cookie (the login id, signed; voided by migration 0021) goes: while
        # it is there, Flask-Login would not ask for ours.
        response.delete_cookie(legacy)
    if "remember_cookie" not in g:
        return response
    if g.remember_cookie is None:
        response.delete_cookie(
            sessions.remember_cookie_name(),
            secure=config["REMEMBER_COOKIE_SECURE"],
            httponly=True,
            samesite=config["REMEMBER_COOKIE_SAMESITE"],
        )
    else:
        response.set_cookie(
            sessions.remember_cookie_name(),
            g.remember_cookie,
            max_age=sessions.remember_days() * 86400,
            secure=config["REMEMBER_COOKIE_SECURE"],
            httponly=True,
            samesite=config["REMEMBER_COOKIE_SAMESITE"],
        )
    return response


def _limit(name: str):  # noqa: ANN202
    """Rate-limit POSTs of a view by the configured rule (read per request)."""
    return limiter.limit(lambda: current_app.config[name], methods=["POST"])


def _login(user: services.User, remember: bool = False, *, mfa_passed: bool = False) -> None:
    """Start a fresh session for user with a new session token and, if asked, a new token.

    An account with a second factor is logged in only with mfa_passed (auth/mfa_views.py);
    load_user refuses its session otherwise, so no caller can skip the code by mistake.
    """
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    # A login rotates the session token: session cookies issued before (another device's,
    # or one copied from this browser) end; devices with "stay logged in" come back through
    # their own remember-me token.
    sessions.rotate_session_token(user)
    sessions.forget_remember_token(request.cookies.get(sessions.remember_cookie_name()))
    if remember and not kiosk.is_kiosk():  # a kiosk never remembers: the box is not even shown
        g.remember_cookie = sessions.issue_remember_token(user)
    elif sessions.remember_cookie_name() in request.cookies:
        g.remember_cookie = None
    services.db.session.commit()
    login_user(user)  # never Flask-Login's own remember cookie: it holds the login id
    session.pop("_id", None)  # Flask-Login's hash of IP address and user agent: not stored
    sessions.stamp_login(mfa_passed=mfa_passed)
    services.set_language(user, str(get_locale() or "de"))


# Session key of a login that gave the password and waits for the second factor. It logs
# nobody in: only auth/mfa_views.second_step turns it into a session (see load_user).
MFA_PENDING = "mfa_pending"


def begin_second_step(user: services.User, *, remember: bool, target: str) -> BaseResponse:
    """Remember that the password was right and ask for the code (nobody is logged in yet)."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    session[MFA_PENDING] = {
        "user": user.id,
        "token": user.session_token,  # a password change meanwhile voids the half login
        "remember": bool(remember),
        "next": target,
        "at": int(utcnow().timestamp()),
    }
    return redirect(url_for("mfa.second_step"), code=303)


def after_login(user: services.User, target: str) -> BaseResponse:
    """Send an account that must enrol in the second factor there first, everyone else on."""
    if permissions.mfa_enrolment_due(user):
        flash(
            _(
                "Your role requires two-factor login. Please set it up now: until then, the "
                "pages of your role stay closed."
            ),
            "warning",
        )
        return redirect(url_for("mfa.setup"), code=303)
    return redirect(target, code=303)


def _logout() -> None:
    """End this session server-side and delete the remember-me cookie; keep the language."""
    user = current_user._get_current_object() if current_user.is_authenticated else None
    sessions.end_session(user, request.cookies.get(sessions.remember_cookie_name()))
    language = session.get("lang")
    logout_user()
    session.clear()
    if language:
        session["lang"] = language
    g.remember_cookie = None


# --- registration and confirmation ------------------------------------------------------


@bp.route("/register", methods=["GET", "POST"])
@_limit("RATELIMIT_REGISTER")
def register() -> str | BaseResponse:
    """Create an account; the same answer whether or not the address is already known."""
    if current_user.is_authenticated:
        return redirect(url_for("auth.account"))
    form = forms.RegisterForm()
    if form.validate_on_submit():
        try:
            services.register_user(
                email=form.email.data,
                password=form.password.data,
                display_name=form.display_name.data,
                language=str(get_locale() or "de"),
            )
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            session["registered_email"] = services.normalise_email(form.email.data)
            return redirect(url_for("auth.check_mail"), code=303)
    return render_template("auth/register.html", form=form)


@bp.get("/register/check-mail")
def check_mail() -> str:
    """Tell the person to open the confirmation mail."""
    return render_template(
        "auth/check_mail.html",
        email=session.get("registered_email"),
        form=forms.EmailOnlyForm(email=session.get("registered_email")),
    )


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str) -> str | tuple[str, int] | BaseResponse:
    """Confirm an address with a button (mail scanners that open links confirm nothing)."""
    form = forms.ButtonForm()
    if form.validate_on_submit():
        try:
            user = services.confirm_email(token)
        except RuleViolation as error:
            return render_template("auth/link_problem.html", message=error.message), 400
        if user.has_mfa and not current_user.is_authenticated:
            response = begin_second_step(user, remember=False, target=url_for("auth.account"))
            flash(_("Thank you: your e-mail address is confirmed."), "success")
            return response
        if not current_user.is_authenticated:
            _login(user)
        # After the login: a fresh session would drop the message and the next step.
        flash(_("Thank you: your e-mail address is confirmed."), "success")
        session["just_confirmed"] = True
        return redirect(url_for("auth.account"), code=303)
    return render_template("auth/confirm.html", form=form)


@bp.route("/confirm", methods=["GET", "POST"])
@_limit("RATELIMIT_MAIL")
def resend_confirmation() -> str | BaseResponse:
    """Send the confirmation link again."""
    form = forms.EmailOnlyForm()
    if form.validate_on_submit():
        services.resend_confirmation(form.email.data)
        session["registered_email"] = services.normalise_email(form.email.data)
        flash(_("If an unconfirmed account has this address, we have sent the link again."), "info")
        return redirect(url_for("auth.check_mail"), code=303)
    return render_template("auth/resend.html", form=form)


# --- login / logout -------------------------------------------------------------------


def _lock_message(until: Any) -> str:
    return _(
        "Too many wrong passwords for this address: logging in with it is paused for "
        "%(minutes)d minutes. You can reset the password at any time.",
        minutes=throttle.minutes_left(until),
    )


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["RATELIMIT_LOGIN"],
    methods=["POST"],
    # Only failures count: many people logging in from one library address are not guessing.
    deduct_when=lambda response: response.status_code != 303,
)
def login() -> str | BaseResponse:
    """Log in with e-mail and password."""
    target = local_path(request.args.get("next")) or url_for("auth.account")
    if current_user.is_authenticated:
        return redirect(target)
    form = forms.LoginForm()
    if form.validate_on_submit():
        email = services.normalise_email(form.email.data)
        locked = throttle.locked_until(email)
        # Unknown addresses lock like known ones: the message reveals no account.
        user = None if locked else services.authenticate(email, form.password.data)
        if locked:
            form.password.errors = [_lock_message(locked)]
        elif user is None:
            if throttle.record_failure(email):
                services.send_lock_notice(email)
                form.password.errors = [_lock_message(throttle.locked_until(email))]
            else:
                # One message for "no such account" and "wrong password": no enumeration.
                form.password.errors = [_("E-mail address or password is not correct.")]
        elif kiosk.is_kiosk() and not permissions.can_log_in_on_kiosk(user):
            form.password.errors = [
                _(
                    "Staff, administrator and moderator accounts cannot log in on this "
                    "device. Please use your own work device."
                )
            ]
        else:
            if user.has_mfa:
                return begin_second_step(user, remember=bool(form.remember.data), target=target)
            _login(user, remember=form.remember.data)
            if not user.is_confirmed:
                flash(_("Please confirm your e-mail address with the link we sent you."), "warning")
            return after_login(user, target)
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> BaseResponse:
    """Log out (a POST, so no link or image can log anyone out)."""
    form = forms.ButtonForm()
    if form.validate_on_submit():
        _logout()
        flash(_("You are logged out."), "success")
    return redirect(url_for("pages.home"), code=303)


@bp.post("/account/logout-everywhere")
@login_required
def logout_everywhere() -> BaseResponse:
    """End every session and every "stay logged in" of the account, this one included."""
    permissions.require(permissions.can_manage_account(current_user))
    form = forms.ButtonForm()
    if form.validate_on_submit():
        sessions.end_all_sessions(current_user._get_current_object())
        _logout()
        flash(_("You are logged out on every device."), "success")
        return redirect(url_for("auth.login"), code=303)
    return redirect(url_for("auth.account"), code=303)


# --- passwords ------------------------------------------------------------------------------


@bp.route("/password/forgot", methods=["GET", "POST"])
@_limit("RATELIMIT_MAIL")
def forgot_password() -> str | BaseResponse:
    """Send a reset link; the answer never reveals whether the address has an account."""
    form = forms.EmailOnlyForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        flash(
            _("If an account has this address, we have sent a link to reset the password."),
            "info",
        )
        return redirect(url_for("auth.login"), code=303)
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@_limit("RATELIMIT_MAIL")
def reset_password(token: str) -> str | tuple[str, int] | BaseResponse:
    """Choose a new password from a reset link."""
    try:
        services.user_for_reset(token)
    except RuleViolation as error:
        return render_template("auth/link_problem.html", message=error.message), 400
    form = forms.NewPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.reset_password(token, form.password.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            throttle.clear(user.address)  # the owner proved the mailbox: the lock ends
            if user.has_mfa:  # the mailbox is one factor; the code is still asked for
                response = begin_second_step(user, remember=False, target=url_for("auth.account"))
            else:
                _login(user)
                response = after_login(user, url_for("auth.account"))
            flash(_("Your new password is set. Other devices have been logged out."), "success")
            return response
    return render_template("auth/reset_password.html", form=form)


# --- the account ----------------------------------------------------------------------------


@bp.get("/account")
@login_required
def account() -> str:
    """Show the account: name, address, roles, and what one can do with it."""
    permissions.require(permissions.can_manage_account(current_user))
    welcome = bool(session.pop("just_confirmed", False))
    return render_template("auth/account.html", logout_form=forms.ButtonForm(), welcome=welcome)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> str | BaseResponse:
    """Change the password; other sessions end."""
    permissions.require(permissions.can_manage_account(current_user))
    form = forms.ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current_password.data, form.password.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            # This device keeps its session (it gave the second factor if the account has one).
            _login(current_user._get_current_object(), mfa_passed=sessions.mfa_passed())
            flash(_("Your password is changed. Other devices have been logged out."), "success")
            return redirect(url_for("auth.account"), code=303)
    return render_template("auth/change_password.html", form=form)


@bp.route("/account/email", methods=["GET", "POST"])
@login_required
@_limit("RATELIMIT_MAIL")
def change_email() -> str | BaseResponse:
    """Ask for a new address; it counts once confirmed from its mailbox."""
    permissions.require(permissions.can_manage_account(current_user))
    form = forms.ChangeEmailForm()
    if form.validate_on_submit():
        try:
            sent = services.request_email_change(current_user, form.password.data, form.email.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            if not sent:  # kernel.mail has said so; the form stays to try again
                return redirect(url_for("auth.change_email"), code=303)
            flash(
                _(
                    "We have sent a link to %(email)s. Your address changes when you open it.",
                    email=services.normalise_email(form.email.data),
                ),
                "info",
            )
            return redirect(url_for("auth.account"), code=303)
    return render_template("auth/change_email.html", form=form)


@bp.route("/account/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str) -> str | tuple[str, int] | BaseResponse:
    """Confirm a new address with a button."""
    form = forms.ButtonForm()
    if form.validate_on_submit():
        try:
            services.confirm_email_change(token)
        except RuleViolation as error:
            return render_template("auth/link_problem.html", message=error.message), 400
        flash(_("Your new e-mail address is confirmed."), "success")
        return redirect(url_for("auth.account"), code=303)
    return render_template("auth/confirm.html", form=form, new_address=True)


@bp.route("/account/terms", methods=["GET", "POST"])
@login_required
def accept_terms() -> str | BaseResponse:
    """Accept the current terms of use (asked again when they change)."""
    permissions.require(permissions.can_manage_account(current_user))
    form = forms.AcceptTermsForm()
    if form.validate_on_submit():
        services.accept_terms(current_user)
        flash(_("Thank you. You can take part again."), "success")
        return redirect(url_for("auth.account"), code=303)
    return render_template("auth/terms.html", form=form)


# --- residency verification ----------------------------------------------------------------------


@bp.route("/account/residency", methods=["GET", "POST"])
@login_required
@limiter.limit(
    lambda: current_app.config["RATELIMIT_CODE"],
    methods=["POST"],
    key_func=account_key,
    deduct_when=lambda response: response.status_code != 303,  # a redeemed code is no guess
)
@limiter.limit(
    lambda: current_app.config["RATELIMIT_CODE_ADDRESS"],
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 303,
)
def residency() -> str | BaseResponse:
    """Verify residency with the one-time code the city posted (rate limited against guessing)."""
    permissions.require(permissions.can_manage_account(current_user))
    form = forms.ResidencyCodeForm()
    if request.method == "POST":
        if current_user.is_verified:
            flash(_("Your residency is already verified."), "info")
            return redirect(url_for("auth.account"), code=303)
        permissions.require(permissions.can_redeem_residency_code(current_user))
    if form.validate_on_submit():
        try:
            residency_codes.redeem_residency_code(current_user, form.code.data)
        except RuleViolation as error:
            show_rule_violation(form, error)
        else:
            flash(_("Thank you: your residency is verified."), "success")
            return redirect(url_for("auth.account"), code=303)
    return render_template("auth/residency.html", form=form)


# --- e-mail preferences --------------------------------------------------------------------------


@bp.post("/account/notifications")
@login_required
def notifications() -> BaseResponse:
    """Switch the e-mail about replies to one's comments on or off (default: off)."""
    permissions.require(permissions.can_manage_account(current_user))
    form = forms.NotificationForm()
    if form.validate_on_submit():
        services.set_notify_replies(current_user, bool(form.notify_replies.data))
        if form.notify_replies.data:
            flash(_("We will e-mail you when someone replies to your comments."), "success")
        else:
            flash(_("We will not e-mail you about replies to your comments."), "success")
    return redirect(url_for("auth.account", _anchor="notifications-title"), code=303)
