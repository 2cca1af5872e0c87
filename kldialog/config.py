"""Default, non-secret configuration; instance/config.py and KLDIALOG_* override it."""

from __future__ import annotations

# Put in place in debug and test runs only; `flask check` reports it as an error.
DEBUG_SECRET_KEY = "insecure-key-for-debug-and-tests-only"  # noqa: S105


class DefaultConfig:
    """Defaults safe to ship; secrets and deployment facts come from the instance or env."""

    # No SECRET_KEY here on purpose: create_app refuses to start without one in production.
    SQLALCHEMY_DATABASE_URI = "sqlite:///kldialog.sqlite"  # relative: resolved into instance/
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # Branding and the operator's legal details (Impressum); set them in instance/config.py.
    SITE_NAME = "KL.dialog"
    CITY_NAME = "Kaiserslautern"
    # Amtlicher Gemeindeschlüssel (8 digits): the open-data catalogue's political geocoding.
    CITY_MUNICIPALITY_KEY = "07312000"
    # DCAT-AP.de dcatde:contributorID, the URI GovData assigns to the publishing body (e.g.
    # "http://dcat-ap.de/def/contributors/..."); left out of the catalogue while empty.
    API_CONTRIBUTOR_ID = ""
    OPERATOR_NAME = ""
    OPERATOR_ADDRESS = ""
    OPERATOR_EMAIL = ""
    OPERATOR_PHONE = ""
    OPERATOR_REPRESENTATIVE = ""
    DATA_PROTECTION_OFFICER = ""
    ACCESSIBILITY_CONTACT_EMAIL = ""
    ACCESSIBILITY_REVIEWED_ON = "2026-11-26"
    # A city's look: files in instance/branding/ (served at /branding/...) and the colour of
    # links, buttons and the header line (#RRGGBB; `flask check` asks for 4.5:1 on white).
    BRAND_LOGO = ""  # e.g. "logo.svg", shown before SITE_NAME in the header
    BRAND_FAVICON = ""  # e.g. "favicon.svg"; the KL.dialog icon otherwise
    BRAND_PRIMARY_COLOR = ""  # e.g. "#8a1538"; KERN's dark blue otherwise

    LANGUAGES = ("de", "en")
    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"

    PROJECTS_PER_PAGE = 30  # the bundled roadmap's 25 projects on one page, not split over two
    MAX_CONTENT_LENGTH = 1024 * 1024  # larger bodies get the 413 page

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # set True behind HTTPS (KLDIALOG_SESSION_COOKIE_SECURE=true)
    SESSION_COOKIE_NAME = "kldialog_session"
    PREFERRED_URL_SCHEME = "http"
    # The site's public address, for links in mail sent from the command line (no request).
    PUBLIC_URL = "http://127.0.0.1:5000"
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
    PROXY_COUNT = 0

    WTF_CSRF_TIME_LIMIT = (
        None  # the token lives as long as the session; forms left open overnight still work
    )

    RATELIMIT_STORAGE_URI = "memory://"
    # Anonymous page cache (kernel/pagecache.py): invalidated by every write; set the Redis URL
    # in production so every worker and host shares one data version.
    PAGE_CACHE_ENABLED = True
    PAGE_CACHE_SECONDS = 60  # pages that change with the clock alone are at most this old
    PAGE_CACHE_MAX_ENTRIES = 2000  # per process
    PAGE_CACHE_MAX_BYTES = 2_000_000  # per page
    PAGE_CACHE_REDIS_URL: str | None = None
    # Logged-in pages, each kept for the one session it was rendered for (same invalidation).
    PAGE_CACHE_PERSONAL = True
    PAGE_CACHE_PERSONAL_ENTRIES = 1000  # per process
    PAGE_CACHE_PERSONAL_MAX_BYTES = 32_000_000  # per process, all kept pages together
    # Only the pages people read; never account, second-factor, kiosk, admin or API pages.
    PAGE_CACHE_PERSONAL_BLUEPRINTS = (
        "pages",
        "projects",
        "comments",
        "priorities",
        "surveys",
        "events",
        "moderation",
        "council",
    )
    RATELIMIT_HEADERS_ENABLED = True

    # Mail: with MAIL_SERVER empty, messages are written to MAIL_OUTBOX (default instance/outbox/).
    MAIL_SERVER = ""
    MAIL_PORT = 587
    MAIL_USE_TLS = True  # STARTTLS on MAIL_PORT
    MAIL_USE_SSL = False  # implicit TLS (usually port 465)
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    MAIL_FROM = "KL.dialog <noreply@kldialog.invalid>"
    MAIL_OUTBOX = ""
    # Account mails whose existence must not show in the response time (registration, reset)
    # are delivered by a background thread. None: on, except in the test suite.
    MAIL_BACKGROUND = None
    # Participation notices (`flask mail send-due`, cron every few minutes): one SMTP
    # connection per batch; a failed mail waits RETRY_MINUTES, doubled per attempt.
    NOTICES_BATCH_SIZE = 500
    NOTICES_MAX_ATTEMPTS = 5
    NOTICES_RETRY_MINUTES = 10
    NOTICES_OPENED_WITHIN_HOURS = 48  # catches up missed cron runs; the unique key dedupes
    NOTICES_DIGEST_WEEKDAY = 0  # Monday (UTC), ISO weekday - 1
    NOTICES_KEEP_DAYS = 60  # sent/given-up rows, then deleted (longer than any window above)

    # Accounts
    PASSWORD_MIN_LENGTH = 12  # ASVS 2.1.1; shorter old passwords still log in
    # argon2id cost: the RFC 9106 "second recommended" setting (3 passes, 64 MiB, 4 lanes).
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    ARGON2_PARALLELISM = 4
    TERMS_VERSION = "2026-11"  # raise it when the terms change: everyone is asked again
    CONFIRM_EMAIL_HOURS = 48
    RESET_PASSWORD_MINUTES = 60
    UNCONFIRMED_ACCOUNT_DAYS = 7
    REMEMBER_COOKIE_DURATION = 60 * 60 * 24 * 30  # a remember-me token ends after 30 days
    # A login lasts this long whatever the activity (checked on every request); "stay logged
    # in" then starts a new one from its token (ASVS 3.3.2).
    SESSION_ABSOLUTE_HOURS = 12
    # Roles that count only with a second factor (TOTP, auth/mfa.py; ASVS 4.3.1). Everyone else
    # may switch it on. `flask check` reports an empty value as an error.
    MFA_REQUIRED_ROLES: tuple[str, ...] = ("admin", "staff")
    # Kiosk mode (auth/kiosk.py): a session on a city-run counter device ends after this many
    # seconds without a request; the device cookie that staff set lasts this many days.
    KIOSK_IDLE_SECONDS = 180
    KIOSK_COOKIE_DAYS = 365
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # Per client address. A library, city hall or school shares one address among many
    # people, so only failed logins count and the figures leave room for a full workshop
    # (docs/security.md); targeted guessing is stopped per account below.
    RATELIMIT_LOGIN = "30 per minute;300 per hour"  # failed logins only
    RATELIMIT_REGISTER = "10 per minute;100 per hour"
    RATELIMIT_MAIL = "10 per minute;100 per hour"  # password reset, resend confirmation
    # Per account (any client address), in the same storage: failed passwords for one address
    # lock it for the rest of the window; the owner gets one mail and can reset the password.
    LOGIN_THROTTLE_ENABLED = True
    LOGIN_ACCOUNT_LIMIT = "5 per 15 minutes;20 per day"
    # Residency codes: wrong codes only, so a counter or library (one address, many residents)
    # is not stopped by the people it helped. Per account against guessing, and per address
    # against one person guessing with many accounts.
    RATELIMIT_CODE = "10 per hour"
    RATELIMIT_CODE_ADDRESS = "30 per hour"

    # Comments and moderation
    COMMENT_MAX_LENGTH = 2000
    COMMENT_EDIT_MINUTES = 15
    COMMENTS_PER_PAGE = 20  # top-level comments per page
    REPLIES_SHOWN = 3  # replies shown under each comment; the rest on the comment's own page
    REPORTS_TO_HIDE = 3  # distinct reports that hide a comment until a moderator decides
    # Review the comments of accounts younger than this many days first (0: off).
    PREMODERATE_ACCOUNTS_YOUNGER_THAN_DAYS = 0
    RATELIMIT_COMMENT = "5 per minute;50 per day"  # per account

    # Priority rounds and indicator ratings
    ROUND_MIN_GROUP_SIZE = 5  # fewer ballots: only n is published, no shares, no ballot file
    ROUND_BOOTSTRAP_SAMPLES = 200  # resamples for the rank intervals behind the tiers
    RATING_MIN_GROUP_SIZE = 5  # indicator means stay hidden while fewer people rated
    RATELIMIT_BALLOT = "30 per minute"  # per account

    # Surveys
    SURVEY_MIN_GROUP_SIZE = 5  # k: no published number, text list or export row group below it
    SURVEY_FLUSH_BATCH = 5  # staged submissions moved together into the answer table (>= k)
    SURVEY_RETENTION_MONTHS = 12  # raw answers are purged this long after close; aggregates stay
    # Staged (encrypted) answers older than this are moved even in a short batch, by rewriting
    # the survey's whole answer set (`flask surveys flush`, cron); below k answer sets they wait.
    SURVEY_FLUSH_MAX_HOURS = 24
    # Differential privacy: epsilon per released count (OpenDP, `pip install kldialog[dp]`);
    # None: off. When on, results are released once after close and only noisy counts are shown.
    SURVEY_DP_EPSILON = None
    # Differential privacy: the total epsilon all releases of one survey may spend (results and
    # every cross-tabulation); once spent, no further breakdown is released.
    SURVEY_DP_BUDGET = 10.0

    # Events
    EVENTS_PER_PAGE = 10
    EVENT_CONFIRM_HOURS = 48  # a visitor's confirmation link; unconfirmed registrations go then

    # Demo mode loads the bundled roadmap (and later demo accounts); never set it in production.
    DEMO = False

    # Logging (kernel/logging.py): a level name, and "keyvalue" or "json" lines. E-mail and IP
    # addresses and the secret part of token links are removed from every record.
    LOG_LEVEL = "INFO"
    LOG_FORMAT = "keyvalue"
