"""Comment forms: shape checks only; lengths and the rest are business rules in services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from kldialog.comments.models import ReportReason


class CommentForm(FlaskForm):
    """A comment, reply or edit. No maxlength: too long text comes back with a message."""

    body = TextAreaField(
        _l("Your comment"),
        validators=[DataRequired(_l("Please write a comment."))],
        description=_l(
            "Plain text; line breaks are kept and web addresses become links. Please be civil "
            "and do not share personal data."
        ),
    )


class ButtonForm(FlaskForm):
    """A button without fields (support, delete): only the CSRF token."""


REASON_LABELS = {
    ReportReason.spam: _l("Spam or advertising"),
    ReportReason.offensive: _l("Offensive, insulting or unlawful"),
    ReportReason.off_topic: _l("Off-topic"),
    ReportReason.personal_data: _l("Contains personal data"),
    ReportReason.other: _l("Something else (please describe)"),
}


class ReportForm(FlaskForm):
    """Report a comment to the moderators."""

    reason = RadioField(
        _l("Why do you report this comment?"),
        choices=[SelectChoice(reason.value, label) for reason, label in REASON_LABELS.items()],
        validators=[InputRequired(_l("Please choose a reason."))],
    )
    text = TextAreaField(
        _l("Details"),
        validators=[Length(max=1000)],
        description=_l("Required for “Something else”. At most 1,000 characters."),
    )


class CloseForm(FlaskForm):
    """Close or reopen a discussion, with a note."""

    note = TextAreaField(
        _l("Why is the discussion closed?"),
        validators=[Length(max=1000)],
        description=_l("Shown above the discussion."),
    )
