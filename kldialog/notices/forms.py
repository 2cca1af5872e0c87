"""The notice opt-ins on the account page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField


class NoticeSettingsForm(FlaskForm):
    """Both opt-ins, off unless ticked."""

    openings = BooleanField(_l("E-mail me when a new priority round or survey opens"))
    digest = BooleanField(
        _l("Send me a weekly summary of changes on the projects I follow (one e-mail a week)")
    )
