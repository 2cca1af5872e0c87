"""Account forms: shape checks only (lengths, formats); rules live in auth.services."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from kldialog.auth import residency, services


def valid_email(form: Any, field: Any) -> None:
    """Check the address format (the confirmation mail proves it is real)."""
    if field.data and not services.is_valid_email(services.normalise_email(field.data)):
        raise ValidationError(_l("Please enter an e-mail address like name@example.org."))


class PasswordPolicy:
    """Check length and the list of common passwords, never composition rules."""

    def __call__(self, form: Any, field: Any) -> None:
        """Raise with a clear message if the password is too short or too common."""
        email = getattr(getattr(form, "email", None), "data", "") or ""
        name = getattr(getattr(form, "display_name", None), "data", "") or ""
        problem = services.password_problem(field.data or "", email=email, display_name=name)
        if problem:
            raise ValidationError(problem)


def display_name_rules(form: Any, field: Any) -> None:
    """Check a display name: 3–30 characters, no e-mail or web addresses."""
    problem = services.display_name_problem(services.clean_display_name(field.data or ""))
    if problem:
        raise ValidationError(problem)


EMAIL = [
    DataRequired(_l("Please enter your e-mail address.")),
    Length(max=254, message=_l("An e-mail address has at most 254 characters.")),
    valid_email,
]


class RegisterForm(FlaskForm):
    """Create an account."""

    email = EmailField(_l("E-mail address"), validators=EMAIL)
    display_name = StringField(
        _l("Display name"),
        validators=[DataRequired(_l("Please choose a display name.")), display_name_rules],
        description=_l(
            "Shown with your contributions. Use a pseudonym if you like; no real name needed."
        ),
    )
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(_l("Please choose a password.")), PasswordPolicy()],
        description=_l(
            "At least 12 characters. A few unrelated words are easy to remember and hard to guess."
        ),
    )
    accept_terms = BooleanField(
        _l("I accept the terms of use and have read the privacy notice."),
        validators=[DataRequired(_l("Please accept the terms of use to create an account."))],
    )


class LoginForm(FlaskForm):
    """Log in."""

    email = EmailField(_l("E-mail address"), validators=EMAIL)
    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(_l("Please enter your password.")),
            Length(max=1000, message=_l("Please use at most 1,000 characters.")),
        ],
    )
    remember = BooleanField(_l("Stay logged in on this device for 30 days"))


class EmailOnlyForm(FlaskForm):
    """Ask for an address (password reset, resend confirmation)."""

    email = EmailField(_l("E-mail address"), validators=EMAIL)


class NewPasswordForm(FlaskForm):
    """Set a new password from a reset link."""

    password = PasswordField(
        _l("New password"),
        validators=[InputRequired(_l("Please choose a password.")), PasswordPolicy()],
        description=_l("At least 12 characters."),
    )


class ChangePasswordForm(FlaskForm):
    """Change the password while logged in."""

    current_password = PasswordField(
        _l("Current password"),
        validators=[
            InputRequired(_l("Please enter your current password.")),
            Length(max=1000, message=_l("Please use at most 1,000 characters.")),
        ],
    )
    password = PasswordField(
        _l("New password"),
        validators=[InputRequired(_l("Please choose a password.")), PasswordPolicy()],
        description=_l(
            "At least 12 characters. You stay logged in here; other devices are logged out."
        ),
    )


class ChangeEmailForm(FlaskForm):
    """Change the e-mail address (confirmed from the new mailbox first)."""

    email = EmailField(_l("New e-mail address"), validators=EMAIL)
    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(_l("Please enter your password.")),
            Length(max=1000, message=_l("Please use at most 1,000 characters.")),
        ],
    )


class DeleteAccountForm(FlaskForm):
    """Delete the account for good."""

    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(_l("Please enter your password.")),
            Length(max=1000, message=_l("Please use at most 1,000 characters.")),
        ],
    )
    confirm = BooleanField(
        _l("I understand that this cannot be undone."),
        validators=[DataRequired(_l("Please confirm that you want to delete your account."))],
    )


class AcceptTermsForm(FlaskForm):
    """Accept a new version of the terms."""

    accept_terms = BooleanField(
        _l("I accept the terms of use and have read the privacy notice."),
        validators=[DataRequired(_l("Please accept the terms of use to take part."))],
    )


class ButtonForm(FlaskForm):
    """A button that changes state (logout, confirm, follow): CSRF token only."""


def residency_code_shape(form: Any, field: Any) -> None:
    """Check that a code has 12 allowed characters (spaces, dashes and case do not matter)."""
    if field.data and not residency.is_valid_residency_code(
        residency.normalise_residency_code(field.data)
    ):
        raise ValidationError(
            _l(
                "A code has 12 characters: letters and the digits 2 to 9, "
                "for example ABCD-EFGH-JKMN. Please check your letter."
            )
        )


class ResidencyCodeForm(FlaskForm):
    """Verify residency with the one-time code from the city's letter."""

    code = StringField(
        _l("Residency code"),
        validators=[
            DataRequired(_l("Please enter the code from your letter.")),
            Length(max=40, message=_l("A code has 12 characters. Please check your letter.")),
            residency_code_shape,
        ],
        description=_l(
            "As printed in the letter, for example ABCD-EFGH-JKMN. "
            "Upper or lower case and the dashes do not matter."
        ),
    )


class NotificationForm(FlaskForm):
    """E-mail preferences beyond the account mail that is always sent."""

    notify_replies = BooleanField(_l("E-mail me when someone replies to my comments"))


CODE = [
    DataRequired(_l("Please enter the code.")),
    Length(max=40, message=_l("A code has at most 40 characters.")),
]


class SecondFactorForm(FlaskForm):
    """The second step of logging in: a code from the app or a recovery code."""

    code = StringField(
        _l("Code"),
        validators=CODE,
        description=_l(
            "The six digits your authenticator app shows now, or one of your recovery codes."
        ),
    )


class EnableMfaForm(FlaskForm):
    """Confirm the new secret with a first code from the app."""

    code = StringField(
        _l("Code from the app"),
        validators=CODE,
        description=_l("The six digits the app shows after adding the account."),
    )


class DisableMfaForm(FlaskForm):
    """Switch two-factor login off: the password and a current code."""

    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(_l("Please enter your password.")),
            Length(max=1000, message=_l("Please use at most 1,000 characters.")),
        ],
    )
    code = StringField(
        _l("Code"),
        validators=CODE,
        description=_l("The six digits your app shows now, or one of your recovery codes."),
    )


class KioskOffForm(FlaskForm):
    """Switch kiosk mode off on this device: a staff account's password and code."""

    email = EmailField(_l("E-mail address"), validators=EMAIL)
    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(_l("Please enter your password.")),
            Length(max=1000, message=_l("Please use at most 1,000 characters.")),
        ],
    )
    code = StringField(
        _l("Code"),
        validators=[Length(max=40, message=_l("A code has at most 40 characters."))],
        description=_l("The six digits your authenticator app shows now."),
    )


class CounterCodeForm(FlaskForm):
    """Hand out one residency code; `once` keeps a reload from issuing a second one."""

    once = HiddenField()
