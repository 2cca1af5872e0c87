"""Moderation forms: shape checks only; the rules live in moderation.services."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from kldialog.kernel.errors import at_most_characters
from kldialog.moderation.models import Action

REASON_MAX_LENGTH = 1000
APPEAL_MAX_LENGTH = 2000
MAX_BLOCK_DAYS = 3650

# What the buttons say (the log uses MODERATION_ACTION_LABELS, which say what happened).
ACTION_CHOICES = {
    Action.approve: _l("Approve (publish)"),
    Action.hide: _l("Hide with this reason"),
    Action.restore: _l("Restore (publish again)"),
    Action.dismiss: _l("Dismiss the reports"),
    Action.block: _l("Block the author"),
    Action.appeal_upheld: _l("Uphold the appeal (restore)"),
    Action.appeal_rejected: _l("Reject the appeal (stays hidden)"),
}
# Reasons moderators give most often: choosing one fills the reason text, which stays editable.
PRESET_REASONS = {
    "insult": _l("Insult or personal attack"),
    "discrimination": _l("Discriminating or inciting content"),
    "personal_data": _l("Contains personal data of other people"),
    "spam": _l("Advertising or spam"),
    "off_topic": _l("Not about this project"),
    "fine": _l("Checked: the comment keeps to the rules"),
}

BULK_ACTIONS = (Action.approve, Action.hide, Action.restore, Action.dismiss)


def strip(value: Any) -> Any:
    """Trim surrounding whitespace from text input."""
    return value.strip() if isinstance(value, str) else value


def reason_field() -> TextAreaField:
    """Return the required reason every moderation action has."""
    return TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Please give a reason. It is shown to the author.")),
            Length(max=REASON_MAX_LENGTH, message=at_most_characters(REASON_MAX_LENGTH)),
        ],
        filters=[strip],
        description=_l(
            "Shown to the author; when you hide a comment, also to everyone in its place."
        ),
    )


class DecisionForm(FlaskForm):
    """Decide about one comment: one action, one reason, a duration for blocks."""

    action = RadioField(
        _l("Decision"),
        choices=[],
        validators=[DataRequired(_l("Please choose what to do."))],
    )
    preset = SelectField(
        _l("Common reason"),
        choices=[SelectChoice("", _l("– choose, or write your own below –"))]
        + [SelectChoice(key, label) for key, label in PRESET_REASONS.items()],
        validators=[Optional()],
        description=_l("Fills in the reason; you can still change the text."),
    )
    reason = reason_field()
    block_days = IntegerField(
        _l("Block for how many days"),
        validators=[
            Optional(),
            NumberRange(1, MAX_BLOCK_DAYS, _l("Please block for 1 to 3,650 days, or permanently.")),
        ],
        description=_l("Only for blocks: 1 to 3,650 days. Leave empty and tick “permanently”."),
    )
    permanent = BooleanField(_l("Block permanently"))

    def set_actions(self, actions: list[Action]) -> None:
        """Offer the actions that fit the comment's state."""
        self.action.choices = [SelectChoice(a.value, ACTION_CHOICES[a]) for a in actions]

    def validate(self, extra_validators: Any = None) -> bool:
        """Require a number of days or "permanently" for blocks, not both."""
        if not self.reason.data and self.preset.data in PRESET_REASONS:
            # Without JavaScript the chosen common reason is the reason.
            self.reason.data = str(PRESET_REASONS[self.preset.data])
        valid = super().validate(extra_validators)
        if valid and self.action.data == Action.block.value:
            if self.block_days.data is None and not self.permanent.data:
                self.block_days.errors = [
                    _l("Please enter a number of days or tick “permanently”.")
                ]
                return False
            if self.block_days.data is not None and self.permanent.data:
                self.block_days.errors = [
                    _l("Please enter a number of days or tick “permanently”, not both.")
                ]
                return False
        return valid


class BulkForm(FlaskForm):
    """One action with one reason for the comments ticked in the queue."""

    action = SelectField(
        _l("Action for the selected comments"),
        choices=[SelectChoice(a.value, ACTION_CHOICES[a]) for a in BULK_ACTIONS],
        validators=[DataRequired()],
    )
    reason = reason_field()


class KeywordForm(FlaskForm):
    """Add a word or phrase to the keyword list."""

    word = StringField(
        _l("Word or phrase"),
        validators=[DataRequired(_l("Please enter a word or phrase.")), Length(max=100)],
        filters=[strip],
        description=_l(
            "Comments containing it wait in the queue. Upper and lower case do not matter."
        ),
    )


class AppealForm(FlaskForm):
    """An author's one appeal against the hiding of their comment."""

    text = TextAreaField(
        _l("Why should the comment be shown again?"),
        validators=[
            DataRequired(_l("Please explain in 10 to 2,000 characters.")),
            Length(10, APPEAL_MAX_LENGTH, _l("Please explain in 10 to 2,000 characters.")),
        ],
        filters=[strip],
        description=_l("You can appeal once. A moderator will look at it again."),
    )
