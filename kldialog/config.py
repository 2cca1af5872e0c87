"""Default, non-secret configuration; instance/config.py and KLDIALOG_* override it."""

from __future__ import annotations


class DefaultConfig:
    """Defaults safe to ship; secrets and deployment facts come from the instance or env."""

    # No SECRET_KEY here on purpose: create_app refuses to start without one in production.
    SQLALCHEMY_DATABASE_URI = "sqlite:///kldialog.sqlite"  # relative: resolved into instance/
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # Branding and the operator's legal details (Impressum); set them in instance/config.py.
    SITE_NAME = "KL.dialog"
    CITY_NAME = "Kaiserslautern"
    OPERATOR_NAME = ""
    OPERATOR_ADDRESS = ""
    OPERATOR_EMAIL = ""
    OPERATOR_PHONE = ""
    OPERATOR_REPRESENTATIVE = ""
    DATA_PROTECTION_OFFICER = ""
    ACCESSIBILITY_CONTACT_EMAIL = ""
    ACCESSIBILITY_REVIEWED_ON = "2026-11-26"

    LANGUAGES = ("de", "en")
    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"

    PROJECTS_PER_PAGE = 20
    MAX_CONTENT_LENGTH = 1024 * 1024  # larger bodies get the 413 page

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # set True behind HTTPS (KLDIALOG_SESSION_COOKIE_SECURE=true)
    SESSION_COOKIE_NAME = "kldialog_session"
    PREFERRED_URL_SCHEME = "http"
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
    PROXY_COUNT = 0

    WTF_CSRF_TIME_LIMIT = (
        None  # the token lives as long as the session; forms left open overnight still work
    )

    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True

    # Demo mode loads the bundled roadmap (and later demo accounts); never set it in production.
    DEMO = False
