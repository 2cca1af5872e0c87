"""Home, the legally required footer pages, language choice and the health check."""

from flask import Blueprint

bp = Blueprint("pages", __name__)

from . import views  # noqa: E402,F401  (registers the routes on bp)
