"""KL.dialog: citizen participation on a city's digital roadmap."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, abort, current_app, has_request_context, request, session
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from kldialog.config import DEBUG_SECRET_KEY, DefaultConfig
from kldialog.kernel.db import db
from kldialog.kernel.extensions import babel, csrf, limiter, login_manager, migrate
from kldialog.kernel.params import BoundedIntConverter

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "style-src 'self'",
        "script-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
MIN_SECRET_LENGTH = 16


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then KLDIALOG_* (or a test mapping)."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("KLDIALOG_INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    # Before any blueprint registers a route: every <int:...> id is bounded (see kernel.params).
    app.url_map.converters["int"] = BoundedIntConverter
    app.config.from_object(DefaultConfig)
    if config is None:
        app.config.from_pyfile("config.py", silent=True)
        _load_environment(app)
    else:
        app.config.from_mapping(config)
    _configure_logging(app)
    _check_secret_key(app)

    # Operators override page templates (Impressum, Datenschutz, ...) in instance/templates/.
    loaders: list[BaseLoader] = [FileSystemLoader(os.path.join(app.instance_path, "templates"))]
    if app.jinja_loader is not None:
        loaders.append(app.jinja_loader)
    app.jinja_loader = ChoiceLoader(loaders)

    # The kernel's own tables (audit log, disclosure releases) join the metadata here.
    from kldialog.kernel import audit, disclosure  # noqa: F401

    _private_sqlite_file(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir())
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)
    login_manager.init_app(app)
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config["SESSION_COOKIE_SECURE"])
    from kldialog.auth.sessions import configure_cookies

    configure_cookies(app)  # __Host- names when the cookies are HTTPS-only

    _register_blueprints(app)

    from kldialog.kernel.errors import register_error_handlers

    register_error_handlers(app)

    from kldialog.cli import register_commands

    register_commands(app)

    from kldialog.templating import register_template_helpers

    register_template_helpers(app)

    from kldialog.auth.sessions import login_within_lifetime
    from kldialog.kernel.pagecache import init_page_cache

    # Its lookup runs first, before every other hook; its WSGI layer answers hits without Flask.
    init_page_cache(app, SECURITY_HEADERS, login_within_lifetime)

    from kldialog.kernel.static import init_static

    init_static(app, SECURITY_HEADERS)  # hashed URLs, compressed, cached for a year
    app.before_request(_reject_nul_bytes)
    app.after_request(_add_security_headers)
    if app.config["PROXY_COUNT"]:
        # Outermost: the static files and the page cache's WSGI layer see the client's host.
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count
        )
    return app


def _register_blueprints(app: Flask) -> None:
    """Register every feature's blueprint and the account loaders (imported late: no circle)."""
    from kldialog.admin.views import bp as admin_bp
    from kldialog.api.views import bp as api_bp
    from kldialog.auth.kiosk_views import bp as kiosk_bp
    from kldialog.auth.mfa_views import bp as mfa_bp
    from kldialog.auth.views import bp as auth_bp
    from kldialog.auth.views import load_user, load_user_from_remember_cookie
    from kldialog.branding import bp as branding_bp
    from kldialog.comments.views import bp as comments_bp
    from kldialog.council.views import bp as council_bp
    from kldialog.events.views import bp as events_bp
    from kldialog.moderation.views import bp as moderation_bp
    from kldialog.notices.views import bp as notices_bp
    from kldialog.pages.views import bp as pages_bp
    from kldialog.personal_data.views import bp as personal_data_bp
    from kldialog.priorities.paper_views import bp as paper_bp
    from kldialog.priorities.views import bp as priorities_bp
    from kldialog.projects import staff_views as _projects_staff  # noqa: F401  (on projects_bp)
    from kldialog.projects.views import bp as projects_bp
    from kldialog.surveys import staff_views  # noqa: F401  (the builder's routes, on surveys_bp)
    from kldialog.surveys.paper_views import bp as survey_paper_bp
    from kldialog.surveys.views import bp as surveys_bp

    login_manager.user_loader(load_user)
    login_manager.request_loader(load_user_from_remember_cookie)
    login_manager.login_message = None  # the login page itself says what to do
    app.register_blueprint(pages_bp)
    app.register_blueprint(projects_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(mfa_bp)
    app.register_blueprint(kiosk_bp)
    app.register_blueprint(personal_data_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(moderation_bp)
    app.register_blueprint(comments_bp)
    app.register_blueprint(priorities_bp)
    app.register_blueprint(paper_bp)
    app.register_blueprint(survey_paper_bp)
    app.register_blueprint(council_bp)
    app.register_blueprint(surveys_bp)
    app.register_blueprint(branding_bp)
    app.register_blueprint(events_bp)
    app.register_blueprint(notices_bp)
    app.register_blueprint(api_bp)


def _configure_logging(app: Flask) -> None:
    """One line per record at LOG_LEVEL, in LOG_FORMAT, without personal data (kernel.logging)."""
    from flask.logging import default_handler

    from kldialog.kernel.logging import configure_logging

    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    app.logger.removeHandler(default_handler)  # the root handler writes the app's records too


def _load_environment(app: Flask) -> None:
    """Apply KLDIALOG_* variables and the conventional DATABASE_URL."""
    plain_url = os.environ.get("DATABASE_URL")
    if plain_url:
        app.config["DATABASE_URL"] = plain_url
    app.config.from_prefixed_env("KLDIALOG")  # KLDIALOG_DATABASE_URL wins over DATABASE_URL
    url = app.config.get("DATABASE_URL")
    if url:
        app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(str(url))
    if "SECRET_KEY" in app.config and app.config["SECRET_KEY"] is not None:
        app.config["SECRET_KEY"] = str(app.config["SECRET_KEY"])


def normalise_database_url(url: str) -> str:
    """Point plain PostgreSQL URLs at psycopg 3, the driver we install."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _check_secret_key(app: Flask) -> None:
    """Refuse to run in production with a missing or guessable SECRET_KEY."""
    if app.debug or app.testing:
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = DEBUG_SECRET_KEY
        return
    secret = app.config.get("SECRET_KEY") or ""
    if len(secret) < MIN_SECRET_LENGTH:
        raise RuntimeError(
            "KL.dialog needs a SECRET_KEY of at least 16 random characters to run outside "
            "debug and testing. Set it in instance/config.py (SECRET_KEY = '...') or in the "
            "environment (KLDIALOG_SECRET_KEY=...), e.g. from "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`."
        )


def _private_sqlite_file(app: Flask) -> None:
    """Create a missing SQLite database file readable by its owner only (journals follow it)."""
    url = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    if not url.startswith("sqlite:///") or "mode=memory" in url:
        return
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    if not path or path == ":memory:":
        return
    path = os.path.join(app.instance_path, path)  # an absolute path stays as it is
    if os.path.exists(path):
        return
    folder = os.path.dirname(path) or "."
    if os.path.normpath(folder) == os.path.normpath(app.instance_path):
        os.makedirs(folder, mode=0o700, exist_ok=True)
    if not os.path.isdir(folder):
        return  # a wrong path elsewhere stays an error (`flask check` reports it)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _migrations_dir() -> str:
    """Return the repository's migrations/ beside the package, else ./migrations."""
    beside = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")
    return beside if os.path.isdir(beside) else "migrations"


def select_locale() -> str:
    """Use the language the visitor chose; German otherwise, as the city's default."""
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]  # CLI and mail outside a request
    chosen = session.get("lang")
    if chosen in current_app.config["LANGUAGES"]:
        return str(chosen)
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _reject_nul_bytes() -> None:
    """Answer 400 to NUL bytes in parameters, form fields or the path.

    No person types them, and PostgreSQL refuses them in text, which would surface as a 500.
    """
    for values in (request.args, request.form):
        for value in values.listvalues():
            if any("\x00" in item for item in value):
                abort(400)
    if "\x00" in request.path:
        abort(400)


def _add_security_headers(response: Any) -> Any:
    """Send the strict CSP and related headers on every response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if current_app.config["SESSION_COOKIE_SECURE"]:
        # Secure cookies mean the site is served over HTTPS: browsers must not fall back.
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static" and "Cache-Control" not in response.headers:
        # Pages carry a per-session CSRF token: shared caches must not keep them.
        response.headers["Cache-Control"] = "private, no-cache"
    return response
