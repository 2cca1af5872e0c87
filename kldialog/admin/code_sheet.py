"""The printable letters of a batch of residency codes (the admin page and `flask codes`)."""

from __future__ import annotations

from flask import render_template, url_for
from flask_babel import force_locale


def render_code_sheet(codes: list[str], batch: str, language: str) -> str:
    """Render the printable letters for a batch of codes (also used by `flask codes generate`)."""
    with force_locale(language):
        return render_template(
            "admin/code_sheet.html",
            codes=codes,
            batch=batch,
            redeem_url=url_for("auth.residency", _external=True),
        )
