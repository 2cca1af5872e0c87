"""Home page and the footer pages (Impressum, Datenschutz, Nutzungsbedingungen, ...)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, session, url_for
from flask_babel import get_locale
from flask_login import current_user
from werkzeug.wrappers import Response

from kldialog.auth.services import set_language
from kldialog.kernel.http import local_path
from kldialog.pages.forms import LanguageForm
from kldialog.projects import reading as roadmap

bp = Blueprint("pages", __name__)

LEGAL_PAGES = {
    "impressum": "impressum",
    "datenschutz": "datenschutz",
    "barrierefreiheit": "barrierefreiheit",
    "leichte-sprache": "leichte_sprache",
    "nutzungsbedingungen": "nutzungsbedingungen",
}


@bp.get("/")
def home() -> str:
    """Show what KL.dialog is and the roadmap at a glance."""
    return render_template(
        "pages/home.html",
        overview=roadmap.roadmap_overview(),
        latest=roadmap.latest_status_changes(),
    )


@bp.get(
    "/<any(impressum, datenschutz, barrierefreiheit, 'leichte-sprache', nutzungsbedingungen):name>"
)
def legal(name: str) -> str:
    """Show one of the pages a German public website must have, in the visitor's language.

    Long legal prose is written per language rather than split into gettext snippets; an
    operator overrides a page with instance/templates/pages/<page>.<lang>.html.
    """
    page = LEGAL_PAGES[name]
    language = str(get_locale() or "de")
    return render_template([f"pages/{page}.{language}.html", f"pages/{page}.de.html"])


@bp.post("/language")
def language() -> Response:
    """Remember the chosen language in the session and return to the page."""
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    session["lang"] = form.lang.data
    if current_user.is_authenticated:
        set_language(current_user, form.lang.data)  # mail to this person follows the choice
    return redirect(local_path(form.next.data) or url_for("pages.home"), code=303)


@bp.get("/healthz")
def health() -> tuple[str, int, dict[str, str]]:
    """Answer load balancers (and `make bench`'s baseline) without touching the database."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}
