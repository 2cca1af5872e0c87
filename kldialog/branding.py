"""A city's look without code: logo, favicon and primary colour from config and instance/."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request, send_from_directory
from flask import url_for as flask_url_for

bp = Blueprint("branding", __name__)

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# WCAG 2.1 AA for normal text: white text on a primary button and primary links on white.
MIN_CONTRAST = 4.5
YEAR = 60 * 60 * 24 * 365


def branding_folder(app: Flask | None = None) -> str:
    """Return instance/branding/, where an operator puts the logo and favicon."""
    return os.path.join((app or current_app).instance_path, "branding")


def primary_colour(app: Flask | None = None) -> str | None:
    """Return the configured primary colour if it is a #RRGGBB value, else None."""
    value = str((app or current_app).config.get("BRAND_PRIMARY_COLOR") or "").strip()
    return value.lower() if HEX_COLOUR.match(value) else None


def contrast_ratio(first: str, second: str) -> float:
    """Return the WCAG contrast ratio of two #RRGGBB colours (1 to 21)."""
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour: str) -> float:
    """Return the WCAG relative luminance of a #RRGGBB colour."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def theme_css(colour: str) -> str:
    """Return the stylesheet that puts the primary colour into KERN's action tokens."""
    # The selector of KERN's light theme as base.html sets it, more specific than KERN's own, so
    # the order of stylesheets does not matter; hover and active shades are mixed from it.
    return f":root[data-kern-theme=light] {{\n  --kern-color-action-default: {colour};\n}}\n"


def _file_url(config_key: str) -> str | None:
    """Return the URL of a configured file in instance/branding/, versioned by its content."""
    name = str(current_app.config.get(config_key) or "")
    if not name:
        return None
    path = os.path.join(branding_folder(), name)
    try:
        stat = os.stat(path)
    except OSError:
        return None  # `flask check` reports the missing file; the page keeps the defaults
    version = hashlib.sha256(f"{stat.st_mtime_ns}:{stat.st_size}".encode()).hexdigest()[:12]
    return flask_url_for("branding.file", filename=name, v=version)


@bp.app_context_processor
def _branding() -> dict[str, Any]:
    colour = primary_colour()
    return {
        "brand_logo_url": _file_url("BRAND_LOGO"),
        "brand_favicon_url": _file_url("BRAND_FAVICON"),
        "brand_theme_url": flask_url_for("branding.theme", v=colour[1:]) if colour else None,
    }


@bp.get("/branding/theme.css")
def theme() -> Response:
    """Serve the colour override; 404 while no valid BRAND_PRIMARY_COLOR is set."""
    colour = primary_colour()
    if colour is None:
        abort(404)
    response = Response(theme_css(colour), mimetype="text/css")
    response.headers["Cache-Control"] = _cache_control()
    return response


@bp.get("/branding/<path:filename>")
def file(filename: str) -> Response:
    """Serve a file from instance/branding/ (send_from_directory refuses paths outside it)."""
    response = send_from_directory(branding_folder(), filename, max_age=0)
    response.headers["Cache-Control"] = _cache_control()
    return response


def _cache_control() -> str:
    """Cache versioned URLs for a year; an unversioned one only briefly."""
    return f"public, max-age={YEAR}, immutable" if request.args.get("v") else "public, max-age=3600"
