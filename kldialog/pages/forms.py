"""The language switch: a POST form, so it works without JavaScript and carries CSRF."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import AnyOf, DataRequired, Length


class LanguageForm(FlaskForm):
    """Choose the interface language and go back to the page one came from."""

    lang = HiddenField(validators=[DataRequired(), AnyOf(["de", "en"])])
    next = HiddenField(validators=[Length(max=2000)])
