"""The staff buttons of windowed items (publish, close): one shape for rounds, surveys, events."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, redirect
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from kldialog.kernel.errors import RuleViolation


def staff_button(
    act: Callable[[], object], *, done: str, back: str, done_url: str | None = None
) -> BaseResponse:
    """Run a staff button's service call behind the CSRF check, then flash and redirect (303).

    A refusal of the service (RuleViolation) is flashed and leads back to `back`; success
    flashes `done` and leads to `done_url` (default: `back`). A bad CSRF token is a 400.
    """
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        act()
    except RuleViolation as error:
        flash(error.message, "danger")
        return redirect(back, 303)
    flash(done, "success")
    return redirect(done_url or back, 303)
