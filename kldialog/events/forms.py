"""Event forms: the staff editor, cancelling, the summary, and registering by e-mail.

Forms check shape only (required, lengths, dates that exist); the rules (capacity, states,
https links, the waiting list) live in events.staff and events.registrations.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    RadioField,
    SelectChoice,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
)

from kldialog.kernel.errors import at_most_characters, number_range
from kldialog.kernel.params import BoundedIntegerField, IdsField
from kldialog.windows.forms import window_fields, window_utc

# The languages an event can be held in; names of languages, shown in the reader's language.
EVENT_LANGUAGES = {"de": _l("German"), "en": _l("English")}
MAX_CAPACITY = 100_000


class EventForm(FlaskForm):
    """Create or change an event (times in the site's time zone)."""

    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Please give the event a title.")),
            Length(max=200, message=at_most_characters(200)),
        ],
    )
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), Length(max=5000, message=at_most_characters(5000))],
        description=_l("What happens, for whom, and how people can take part."),
    )
    starts_at, ends_at = window_fields(
        start="starts_at",
        start_label=_l("Starts (local time)"),
        start_example=_l("Please enter date and time, e.g. 2026-12-15 18:00."),
        end_label=_l("Ends (local time)"),
        end_example=_l("Please enter date and time, e.g. 2026-12-15 20:00."),
        order_message=_l("The event must end after it starts."),
    )
    language = RadioField(
        _l("Language of the event"),
        choices=[SelectChoice(code, label) for code, label in EVENT_LANGUAGES.items()],
        default="de",
        validators=[InputRequired(_l("Please choose the language of the event."))],
    )
    place = StringField(
        _l("Place"),
        validators=[Optional(), Length(max=300, message=at_most_characters(300))],
        description=_l("Address and room. Leave it empty for an event that is only online."),
    )
    step_free = BooleanField(_l("Step-free access"))
    hearing_loop = BooleanField(_l("Hearing loop"))
    sign_language = BooleanField(_l("Sign language interpreting on request"))
    accessibility_note = TextAreaField(
        _l("Further notes on accessibility"),
        validators=[Optional(), Length(max=500, message=at_most_characters(500))],
        description=_l("For example the nearest accessible toilet or how to ask for help."),
    )
    online_url = StringField(
        _l("Online link"),
        validators=[Optional(), Length(max=500, message=at_most_characters(500))],
        description=_l("A web address starting with https://, if people can join online."),
    )
    capacity = BoundedIntegerField(
        _l("Places"),
        validators=[
            Optional(),
            NumberRange(1, MAX_CAPACITY, number_range(1, MAX_CAPACITY)),
        ],
        description=_l(
            "Leave it empty for no limit. When all places are taken, a waiting list opens."
        ),
    )
    project_ids = IdsField(
        _l("Related projects"),
        validate_choice=False,  # the service names the problem
        description=_l("The event is shown on the pages of these projects."),
    )

    def times(self) -> tuple[dt.datetime, dt.datetime]:
        """Return start and end in UTC."""
        return window_utc(self.starts_at, self.ends_at)


class CancelForm(FlaskForm):
    """Cancel an event; the reason goes into the mail to everyone registered."""

    reason = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=1000, message=at_most_characters(1000))],
        description=_l("Sent to everyone who registered, and shown on the event page."),
    )


class SummaryForm(FlaskForm):
    """The short summary published after the event."""

    summary = TextAreaField(
        _l("Summary"),
        validators=[
            DataRequired(_l("Please write the summary.")),
            Length(max=3000, message=at_most_characters(3000)),
        ],
        description=_l(
            "What was discussed and what happens next. It appears on the event page and in the "
            "updates of the related projects."
        ),
    )


class EmailRegistrationForm(FlaskForm):
    """Register without an account: an e-mail address and nothing else."""

    email = EmailField(
        _l("E-mail address"),
        validators=[
            DataRequired(_l("Please enter your e-mail address.")),
            Length(max=254, message=at_most_characters(254)),
        ],
        description=_l("We send you a link to confirm. Nothing else is asked."),
    )


class ButtonForm(FlaskForm):
    """A button that changes state: the CSRF token only."""
