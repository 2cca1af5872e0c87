"""The city's digital roadmap: categories, projects, status history and updates."""

from flask import Blueprint

bp = Blueprint("projects", __name__)

from . import views  # noqa: E402,F401  (registers the routes on bp)
