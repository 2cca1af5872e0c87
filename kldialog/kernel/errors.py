"""User-facing errors: RuleViolation and the site's error pages."""

from __future__ import annotations

from typing import Any

from flask import Flask, flash, render_template
from flask_babel import LazyString, format_decimal
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

ERROR_TEXTS = {
    400: (
        _l("Bad request"),
        _l(
            "The request could not be understood. "
            "Please check the address or the form and try again."
        ),
    ),
    403: (_l("Access denied"), _l("You are not allowed to open this page or to do this.")),
    404: (
        _l("Page not found"),
        _l("There is no page at this address. It may have moved, or the address contains a typo."),
    ),
    405: (
        _l("Method not allowed"),
        _l("This address cannot be used like this. Please use the links and buttons on the site."),
    ),
    413: (
        _l("Too much data"),
        _l("What you sent is larger than we accept. Please shorten it and try again."),
    ),
    429: (
        _l("Too many requests"),
        _l("You sent many requests in a short time. Please wait a moment and try again."),
    ),
    500: (
        _l("Something went wrong on our side"),
        _l("The error has been logged. Please try again later. Nothing you entered was saved."),
    ),
}


def at_most_characters(limit: int) -> LazyString:
    """Return "Please use at most 2.000 characters." with the number in the reader's locale."""
    return _l("Please use at most %(max)s characters.", max=LazyString(format_decimal, limit))


def number_range(low: int, high: int) -> LazyString:
    """Return "Please enter a number from 1 to 5.000." with locale-formatted numbers."""
    return _l(
        "Please enter a number from %(low)s to %(high)s.",
        low=LazyString(format_decimal, low),
        high=LazyString(format_decimal, high),
    )


class RuleViolation(Exception):
    """A business rule refused the action; the message is safe to show to the person."""

    def __init__(self, message: object, *, field: str | None = None) -> None:
        """Keep the message and, when it concerns one form field, that field's name."""
        super().__init__(str(message))
        self.message = str(message)
        self.field = field


def show_rule_violation(form: Any, error: RuleViolation) -> None:
    """Put a service's refusal next to its form field, or on top of the page."""
    if error.field and error.field in form:
        form[error.field].errors = [*form[error.field].errors, error.message]
    else:
        flash(error.message, "danger")


def _render_error(code: int, message: str | None = None) -> tuple[str, int]:
    """Render the error page for an HTTP status in the site layout."""
    title, text = ERROR_TEXTS.get(code, ERROR_TEXTS[500])
    return render_template("errors/error.html", code=code, title=title, text=message or text), code


def register_error_handlers(app: Flask) -> None:
    """Show every handled error code with the site layout, in the visitor's language."""

    def handle_http(error: HTTPException) -> tuple[str, int]:
        code = error.code or 500
        if code not in ERROR_TEXTS:
            return error  # type: ignore[return-value]  # let Werkzeug answer odd codes itself
        return _render_error(code)

    def handle_csrf(error: CSRFError) -> tuple[str, int]:
        return _render_error(
            400,
            str(
                _l(
                    "The form had expired or was sent twice. Please go back, reload the page "
                    "and send the form again."
                )
            ),
        )

    def handle_500(error: InternalServerError) -> tuple[str, int]:
        return _render_error(500)

    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(InternalServerError, handle_500)
