"""Admin forms: shape checks only; the rules live in auth.services and admin.services."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from kldialog.admin.services import MANAGED_ROLES
from kldialog.auth import blocking, residency
from kldialog.auth.models import Role
from kldialog.kernel.errors import at_most_characters
from kldialog.kernel.params import MAX_ID, BoundedIntegerField, ChoiceField, parse_int
from kldialog.templating import LANGUAGE_NAMES, ROLE_LABELS

REASON_MAX_LENGTH = 500
LONGEST_DATED_BLOCK = dt.timedelta(days=100 * 365)


def strip(value: Any) -> Any:
    """Trim surrounding whitespace from text input."""
    return value.strip() if isinstance(value, str) else value


def reason_field(description: Any) -> TextAreaField:
    """Return the required "reason" field every administrative action has."""
    return TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Please give a reason.")),
            Length(
                max=REASON_MAX_LENGTH,
                message=at_most_characters(REASON_MAX_LENGTH),
            ),
        ],
        filters=[strip],
        description=description,
    )


def account_number(form: Any, field: Any) -> None:
    """Accept an account or object number in the range the database can hold."""
    if field.data is not None and not 1 <= field.data <= MAX_ID:
        raise ValidationError(_l("Please enter a valid number."))


def city_today() -> dt.date:
    """Return today's date in the city's time zone."""
    return dt.datetime.now(ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])).date()


# --- lists (GET forms, no CSRF: they change nothing) -----------------------------------------


class UserSearchForm(FlaskForm):
    """Search and filter the account list."""

    class Meta:
        """Filter forms are GET requests and change nothing."""

        csrf = False

    q = StringField(
        _l("Display name or e-mail address"),
        validators=[Optional(), Length(max=254)],
        filters=[strip],
        description=_l("Part of it is enough; upper and lower case do not matter."),
    )
    role = ChoiceField(
        _l("Role"),
        choices=[SelectChoice("", _l("all roles"))]
        + [SelectChoice(role.name, ROLE_LABELS[role]) for role in MANAGED_ROLES],
        default="",
    )
    sort = ChoiceField(
        _l("Sort"),
        choices=[
            SelectChoice("newest", _l("newest first")),
            SelectChoice("name", _l("by display name")),
        ],
        default="newest",
    )
    page = BoundedIntegerField(validators=[Optional(), NumberRange(1, 100_000)], default=1)


class AuditFilterForm(FlaskForm):
    """Filter the audit log by action, target and actor."""

    class Meta:
        """Filter forms are GET requests and change nothing."""

        csrf = False

    action = StringField(
        _l("Action"),
        validators=[Optional(), Length(max=60)],
        filters=[strip],
        description=_l("The beginning is enough, for example “role.” or “account.block”."),
    )
    target_type = StringField(
        _l("Type of target"),
        validators=[Optional(), Length(max=40)],
        filters=[strip],
        description=_l("For example “user” or “project”."),
    )
    target_id = BoundedIntegerField(_l("Number of target"), validators=[Optional(), account_number])
    actor = BoundedIntegerField(
        _l("Account number of the actor"), validators=[Optional(), account_number]
    )
    page = BoundedIntegerField(validators=[Optional(), NumberRange(1, 100_000)], default=1)


# --- account changes -----------------------------------------------------------------------


class RolesForm(FlaskForm):
    """Grant and revoke roles; one reason for the change goes into the audit log."""

    moderator = BooleanField(ROLE_LABELS[Role.moderator])
    staff = BooleanField(ROLE_LABELS[Role.staff])
    council = BooleanField(ROLE_LABELS[Role.council])
    admin = BooleanField(ROLE_LABELS[Role.admin])
    # The roles as the page showed them: a change by someone else meanwhile is not overwritten.
    expected = HiddenField()
    reason = reason_field(_l("Kept in the audit log. Administrators can read it."))

    def wanted_roles(self) -> Role:
        """Return the managed roles ticked in the form."""
        wanted = Role(0)
        for role in MANAGED_ROLES:
            if self[role.name].data:
                wanted |= role
        return wanted

    def expected_roles(self) -> int | None:
        """Return the roles the form was shown with, or None if the field was tampered with."""
        return parse_int(self.expected.data, 0, 999)


class BlockForm(FlaskForm):
    """Block an account until a date or permanently."""

    duration = RadioField(
        _l("How long?"),
        choices=[
            SelectChoice("until", _l("Until a date")),
            SelectChoice("permanent", _l("Permanently")),
        ],
        default="until",
        validators=[InputRequired(_l("Please choose how long the block lasts."))],
    )
    # No Optional(): it would end the validation chain before validate_until could run.
    until = DateField(
        _l("Blocked until and including"),
        description=_l("Only for “until a date”. The block ends at midnight after this day."),
    )
    reason = reason_field(
        _l(
            "Kept in the audit log. The person can still log in, read, and see, download or "
            "delete their data, but cannot take part."
        )
    )

    def validate_until(self, field: Any) -> None:
        """Require a date from today up to 100 years ahead, but only when blocking until a date."""
        if self.duration.data != "until":
            field.errors[:] = []  # whatever is in the date field does not matter then
            return
        if not (field.raw_data or [""])[0].strip():
            field.errors[:] = []
            raise ValidationError(_l("Please enter the last day of the block."))
        if field.data is None:
            return  # "not a valid date" from parsing stays
        today = city_today()
        if field.data < today:
            raise ValidationError(_l("Please choose today or a later day."))
        if field.data > today + LONGEST_DATED_BLOCK:
            raise ValidationError(_l("For a block longer than 100 years choose “permanently”."))

    def blocked_until(self) -> dt.datetime:
        """Return the end of the block as an aware datetime (midnight after the chosen day)."""
        if self.duration.data == "permanent":
            return blocking.PERMANENT_BLOCK
        zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
        next_day = self.until.data + dt.timedelta(days=1)
        return dt.datetime.combine(next_day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


class UnblockForm(FlaskForm):
    """Lift a block."""

    reason = reason_field(_l("Kept in the audit log."))


class ResetMfaForm(FlaskForm):
    """Remove an account's second factor (a lost phone), with a reason."""

    reason = reason_field(_l("Kept in the audit log. Check who asked before you reset."))


# --- residency codes -----------------------------------------------------------------------


class ResidencyCodesForm(FlaskForm):
    """Generate a batch of residency codes to print."""

    count = StringField(
        _l("Number of codes"),
        validators=[DataRequired(_l("Please enter how many codes you need."))],
        filters=[strip],
        description=_l("1 to 5,000. Each code is printed on a page of its own."),
    )
    batch = StringField(
        _l("Name of the batch"),
        validators=[
            DataRequired(_l("Please name the batch.")),
            Length(max=residency.RESIDENCY_BATCH_MAX_LENGTH),
        ],
        filters=[strip],
        description=_l(
            "For example the date or the mailing, so you can tell batches apart. "
            "It is never linked to the people who redeem the codes."
        ),
    )
    language = SelectField(
        _l("Language of the letters"),
        validators=[InputRequired(_l("Please choose the language of the letters."))],
    )
    # A one-time value from the form page: reloading the printed sheet must not make a second batch.
    once = HiddenField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Offer the site's languages for the letters, the city's own language first."""
        super().__init__(*args, **kwargs)
        self.language.choices = [
            SelectChoice(code, LANGUAGE_NAMES.get(code, code))
            for code in current_app.config["LANGUAGES"]
        ]
        if not self.language.data:
            self.language.data = current_app.config["BABEL_DEFAULT_LOCALE"]

    def validate_count(self, field: Any) -> None:
        """Accept a whole number from 1 to the maximum."""
        maximum = residency.RESIDENCY_CODES_MAX
        if parse_int(field.data, 1, maximum) is None:
            raise ValidationError(
                _l("Please enter a whole number from 1 to %(max)s.", max=format_decimal(maximum))
            )

    def count_value(self) -> int:
        """Return the validated number of codes."""
        return parse_int(self.count.data, 1, residency.RESIDENCY_CODES_MAX) or 0
