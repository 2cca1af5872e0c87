"""A page cache for anonymous visitors, invalidated by every database write.

Most traffic is anonymous and reads the same pages; rendering them is two thirds of the time.
A rendered page is kept under a *data version* and served again until the version changes.

- **Invalidation**: every connection that executes a statement other than a read marks itself;
  when it commits, the version is bumped twice, once before the commit and once when the
  connection is handed back to the pool (after the commit). A page rendered in between from
  the old data can only be stored under a version no lookup will ask for again. Cron commands
  and other processes bump the same shared version, so all workers see their writes at once.
- **Shared version**: a file in instance/ (its inode changes on every bump; a `stat` per
  request) for the embedded default, or a Redis counter when PAGE_CACHE_REDIS_URL is set (one
  GET per request), so every worker on every host agrees. Entries themselves live in each
  process, bounded in number and size.
- **Only what is the same for everyone**: GET and HEAD, no cookie except the session cookie,
  a session holding nothing but the CSRF token and the chosen language, no flash message, a
  200 answer of HTML/JSON/CSV/iCalendar without a Set-Cookie of its own. The key is scheme,
  host, path, query string and language. The one per-visitor part of such a page, the CSRF
  token of the language switch, is cut out and filled in with the visitor's own token.
- **Hits without Flask**: a WSGI layer in front of the app answers hits itself (no request
  context, no request or response object): it checks the session cookie's signature, mints a
  new visitor's session cookie and CSRF token with the app's own keys, and sends the status,
  headers and body the rendered page went out with. Conditional requests, other cookies and
  pages with headers of their own (the API's ETag and Date) are answered from the same entries
  through Flask's hooks, as before.
- **Time**: pages that change with the clock alone (a round opens at 9:00) are kept at most
  PAGE_CACHE_SECONDS (60 by default).
- **Personal pages** (PAGE_CACHE_PERSONAL): a logged-in person's page is kept for that one
  session: the key adds a digest of everything in the session but its CSRF token (the login
  id with its session token, login time, second factor, language). It is looked up after
  every before_request hook (second-factor and kiosk rules, rate limits), right before the
  view, and kept only if the login was valid, the view left the session as it found it (no
  flash shown, nothing consumed), set no cookie and no `no-store`, and answered 200 HTML. The
  same data version and the same 60 seconds apply, so a write by anyone (a role change, a new
  comment, a new session token, a deletion) ends every stored page; a hit therefore reads
  no account row and asks only the clock whether the login is still within its lifetime.
  Only the reading pages' blueprints take part (PAGE_CACHE_PERSONAL_BLUEPRINTS), never
  account, admin or API pages; kiosk requests never.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes
from werkzeug.http import dump_cookie

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

CACHEABLE_TYPES = ("text/html", "application/json", "text/csv", "text/calendar")
SESSION_KEYS = frozenset({"csrf_token", "lang"})
T = TypeVar("T")
# Language, scheme, host, script name, path and query string, as the request sent them; a
# personal page's key adds the digest of its session.
Key = tuple[str, ...]
# Where the app's after_request hook leaves an answer for the WSGI layer to keep.
OFFER = "kldialog.pagecache.offer"
# Statements that do not change data; anything else marks the connection as having written.
_READS = ("SELECT", "PRAGMA", "SHOW", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "EXPLAIN")
# What a page served through Flask takes from its entry; the hooks add the rest again.
_KEEP_HEADERS = ("Content-Type", "Content-Language", "Content-Disposition")
# Made for each answer, never stored.
_PER_ANSWER = frozenset({"content-length", "set-cookie", "x-page-cache"})
# Headers of a stored page that are the same for every visitor (besides the security headers).
# Not ETag or Last-Modified: such a page may be a 304 for some, so Flask answers it each time.
_SHARED_HEADERS = (
    "Content-Type",
    "Content-Language",
    "Content-Disposition",
    "Cache-Control",
    "Vary",
    "Strict-Transport-Security",
)


@dataclass(frozen=True)
class Entry:
    """A stored page as it was sent: the body split where the CSRF token went, the headers."""

    status: str
    # Without Content-Length, X-Page-Cache and the session cookie: those are made per answer.
    headers: tuple[tuple[str, str], ...]
    chunks: tuple[bytes, ...]
    uses_token: bool  # the page carries a CSRF token: a new visitor gets a session for it
    replayable: bool  # every header is the same for everyone: the WSGI layer may send it
    stored: float

    @property
    def size(self) -> int:
        """Return the bytes of the body kept."""
        return sum(len(chunk) for chunk in self.chunks)

    def body(self, token: str | None) -> bytes:
        """Return the body with this visitor's CSRF token in it (None: the token cut out)."""
        if len(self.chunks) == 1:
            return self.chunks[0]
        return (token or "").encode().join(self.chunks)


class FileVersion:
    """The data version as a file's identity: bumping replaces the file (a new inode)."""

    def __init__(self, path: str) -> None:
        """Create the file if it does not exist yet."""
        self.path = path
        if not os.path.exists(path):
            self.bump()

    def current(self) -> str:
        """Return the version (changes with every bump, in every process)."""
        try:
            info = os.stat(self.path)
        except OSError:
            self.bump()
            info = os.stat(self.path)
        return f"{info.st_ino}:{info.st_mtime_ns}"

    def bump(self) -> None:
        """Give the data a new version."""
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        temporary = f"{self.path}.{os.getpid()}.{secrets.token_hex(4)}"
        with open(temporary, "w") as handle:  # a new inode each time, even within one ns
            handle.write(secrets.token_hex(8))
        os.replace(temporary, self.path)


class RedisVersion:
    """The data version as a Redis counter, shared by every worker on every host."""

    def __init__(self, client: Any, key: str) -> None:
        """Use this client and key."""
        self.client, self.key = client, key

    def current(self) -> str:
        """Return the counter."""
        value = self.client.get(self.key)
        return value.decode() if value else "0"

    def bump(self) -> None:
        """Count up."""
        self.client.incr(self.key)


class MemoryStore:
    """Entries of this process, least recently used dropped first; emptied on a new version."""

    def __init__(self, max_entries: int, max_bytes: int | None = None) -> None:
        """Keep at most this many pages (and, if given, at most this many bytes of them)."""
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.version = ""
        self.entries: OrderedDict[Key, Entry] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, version: str, key: Key) -> Entry | None:
        """Return the entry stored for this key under this version."""
        with self.lock:
            if version != self.version:
                self.entries.clear()
                self.bytes = 0
                self.version = version
                return None
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
            return entry

    def put(self, version: str, key: Key, entry: Entry) -> None:
        """Store an entry made from data of this version."""
        with self.lock:
            if version != self.version:
                return  # the data changed while the page was rendered
            old = self.entries.pop(key, None)
            if old is not None:
                self.bytes -= old.size
            self.entries[key] = entry
            self.bytes += entry.size
            while len(self.entries) > self.max_entries or (
                self.max_bytes is not None and self.bytes > self.max_bytes
            ):
                _key, dropped = self.entries.popitem(last=False)
                self.bytes -= dropped.size


def request_key(environ: WSGIEnvironment, language: str) -> Key | None:
    """Return the key of a request in this language: scheme, host, path and query as sent."""
    host = environ.get("HTTP_HOST")
    if not host:
        return None
    return (
        language,
        environ.get("wsgi.url_scheme", "http"),
        host,
        environ.get("SCRIPT_NAME", ""),
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
    )


@dataclass(frozen=True)
class Offer:
    """What the app's hook hands to the WSGI layer: a page the same for every visitor."""

    version: str
    key: Key
    token: str | None  # the CSRF token this visitor got in the page, if any


class PageCache:
    """The cache of one app: its version, its store, and the hooks around each request."""

    def __init__(self, app: Flask) -> None:
        """Set up the version (file or Redis) and the store from the app's configuration."""
        url = app.config.get("PAGE_CACHE_REDIS_URL")
        if url:
            import redis  # the [production] extra

            self.version: FileVersion | RedisVersion = RedisVersion(
                redis.Redis.from_url(url), "kldialog:pagecache:version"
            )
        else:
            self.version = FileVersion(os.path.join(app.instance_path, "pagecache.version"))
        self.store = MemoryStore(int(app.config["PAGE_CACHE_MAX_ENTRIES"]))
        # Apart, so that many people's pages never push the shared ones out.
        self.personal: MemoryStore | None = None
        if app.config.get("PAGE_CACHE_PERSONAL"):
            self.personal = MemoryStore(
                int(app.config["PAGE_CACHE_PERSONAL_ENTRIES"]),
                int(app.config["PAGE_CACHE_PERSONAL_MAX_BYTES"]),
            )
        self.personal_blueprints = frozenset(app.config.get("PAGE_CACHE_PERSONAL_BLUEPRINTS", ()))
        # Whether this session's login still holds by what the session and the clock say (its
        # lifetime): the rest of the login check reads the account, which a hit does not.
        self.login_check: Callable[[], bool] | None = None
        self.seconds = float(app.config["PAGE_CACHE_SECONDS"])
        self.max_bytes = int(app.config["PAGE_CACHE_MAX_BYTES"])
        self.hits = 0
        # memo(): a few named results, each with the version it was computed from.
        self.memos: dict[str, tuple[str, float, Any]] = {}
        self.memo_lock = threading.Lock()
        self.shared_headers: tuple[str, ...] = _SHARED_HEADERS

    # --- writes -------------------------------------------------------------------------------

    def watch(self, engine: sa.Engine) -> None:
        """Bump the version around every commit of a connection that wrote."""

        def statement(conn: Any, cursor: Any, text: str, *args: Any) -> None:
            if not text.lstrip()[:9].upper().startswith(_READS):
                conn.info["pagecache_wrote"] = True

        def commit(conn: Any) -> None:
            if conn.info.pop("pagecache_wrote", False):
                self.version.bump()
                conn.info["pagecache_committed"] = True

        def rollback(conn: Any) -> None:
            conn.info.pop("pagecache_wrote", None)

        def checkin(dbapi_connection: Any, record: Any) -> None:
            if record.info.pop("pagecache_committed", False):
                self.version.bump()  # after the commit: see the module docstring

        sa.event.listen(engine, "before_cursor_execute", statement)
        sa.event.listen(engine, "commit", commit)
        sa.event.listen(engine, "rollback", rollback)
        sa.event.listen(engine.pool, "checkin", checkin)

    # --- reads --------------------------------------------------------------------------------

    def fresh(self, key: Key) -> Entry | None:
        """Return the entry for this key if it was made from the current data, recently."""
        entry = self.store.get(self.version.current(), key)
        if entry is None or time.monotonic() - entry.stored > self.seconds:
            return None
        return entry

    def _key(self) -> Key | None:
        """Return this request's key, or None if its answer may differ for this visitor."""
        if request.method not in ("GET", "HEAD") or request.endpoint in (None, "static"):
            return None
        if any("token" in name for name in request.view_args or ()):
            return None  # a mailed link: personal, and valid only for a while
        cookie = current_app.config["SESSION_COOKIE_NAME"]
        if any(name != cookie for name in request.cookies):
            return None  # e.g. a remember-me cookie: this visitor may be logged in
        if not set(session.keys()) <= SESSION_KEYS:
            return None  # logged in, a flash message, a form in progress
        language = session.get("lang") or current_app.config["BABEL_DEFAULT_LOCALE"]
        return request_key(request.environ, language)

    def lookup(self) -> Response | None:
        """Answer from the cache what the WSGI layer left to Flask (e.g. a conditional GET)."""
        key = self._key()
        g.pagecache_key = key
        if key is None:
            return None
        g.pagecache_version = version = self.version.current()
        entry = self.store.get(version, key)
        if entry is None or time.monotonic() - entry.stored > self.seconds:
            return None
        self.hits += 1
        body = entry.body(generate_csrf() if entry.uses_token else None)
        # The other headers come from the hooks after this one, as for a rendered page.
        headers = [(name, value) for name, value in entry.headers if name in _KEEP_HEADERS]
        response = Response(body, status=entry.status, headers=headers)
        response.headers["X-Page-Cache"] = "hit"
        return response

    def remember(self, response: Response) -> Response:
        """Offer this answer to the WSGI layer if it is the same for every anonymous visitor."""
        key = g.pop("pagecache_key", None)
        version = g.pop("pagecache_version", None)
        if key is None or version is None or "X-Page-Cache" in response.headers:
            return response
        if request.method != "GET" or response.status_code != 200:
            return response  # a HEAD answer has no body to keep
        if response.direct_passthrough or response.is_streamed:
            return response
        if response.mimetype not in CACHEABLE_TYPES or "Set-Cookie" in response.headers:
            return response
        if not set(session.keys()) <= SESSION_KEYS:
            return response  # the page put something personal into the session
        if (response.calculate_content_length() or 0) > self.max_bytes:
            return response
        request.environ[OFFER] = Offer(version, key, g.get("csrf_token"))
        return response

    # --- a logged-in person's own pages ---------------------------------------------------------

    def _personal_key(self) -> Key | None:
        """Return the key of this request of a session with a login, or None to render it."""
        if self.personal is None or g.get("pagecache_bypass"):
            return None
        if request.method not in ("GET", "HEAD"):
            return None
        if request.blueprint not in self.personal_blueprints:
            return None
        if any("token" in name for name in request.view_args or ()):
            return None
        if "_user_id" not in session:
            return None  # a visitor: no lookup (nothing is kept for a session without a login)
        # A flash message needs no rule of its own: it is in the digest, and showing it
        # changes the session, so such a page is never kept.
        language = session.get("lang") or current_app.config["BABEL_DEFAULT_LOCALE"]
        key = request_key(request.environ, language)
        if key is None:
            return None
        return (*key, _session_digest())

    def dispatch(self, view: Any) -> Any:
        """Wrap the app's dispatch: a person's stored page instead of the view, or keep it."""

        def dispatch_request() -> Any:
            key = self._personal_key()
            if key is None or self.personal is None:
                return view()
            version = self.version.current()
            entry = self.personal.get(version, key)
            if (
                entry is not None
                and time.monotonic() - entry.stored <= self.seconds
                and self.login_check is not None
                and self.login_check()
            ):
                # No query: the entry was kept for this very session while its login was valid,
                # under this data version, so the account row is as it was (a new session
                # token, a deletion or a block is a write). Only the clock is asked again.
                self.hits += 1
                body = entry.body(generate_csrf() if entry.uses_token else None)
                response = Response(body, status=entry.status, headers=list(entry.headers))
                response.headers["X-Page-Cache"] = "personal-hit"
                return response
            if not current_user.is_authenticated:
                return view()  # the login ended (or never was): this page is not theirs to keep
            response = current_app.make_response(view())
            entry = self._personal_entry(response, key)
            if entry is not None:
                self.personal.put(version, key, entry)
                response.headers["X-Page-Cache"] = "personal-miss"
            return response

        return dispatch_request

    def _personal_entry(self, response: Response, key: Key) -> Entry | None:
        """Return what to keep of a person's page, or None if it must not be kept."""
        if request.method != "GET" or response.status_code != 200 or g.get("pagecache_bypass"):
            return None
        if response.direct_passthrough or response.is_streamed or response.mimetype != "text/html":
            return None
        if "Set-Cookie" in response.headers or "no-store" in response.headers.get(
            "Cache-Control", ""
        ):
            return None  # a cookie, or a page its view keeps out of every cache
        if _session_digest() != key[-1]:
            return None  # the view showed a flash message or changed the session
        body = response.get_data()
        if len(body) > self.max_bytes:
            return None
        token = g.get("csrf_token")
        headers = tuple((n, v) for n, v in response.headers.items() if n.lower() not in _PER_ANSWER)
        chunks = tuple(body.split(token.encode())) if token else (body,)
        return Entry(response.status, headers, chunks, token is not None, False, time.monotonic())


def _session_digest() -> str:
    """Return a digest of the session without its CSRF token: who, since when, which language."""
    content = {name: value for name, value in session.items() if name != "csrf_token"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class Signer:
    """Signs a new visitor's session cookie and CSRF token as Flask and Flask-WTF would.

    The same keys, salts and formats (itsdangerous' timed serializers: payload, timestamp and
    HMAC, base64url), but the keys are derived once and the timestamp encoded once a second,
    instead of building a serializer and a signer, and trying zlib, on every call.
    """

    def __init__(self, app: Flask) -> None:
        """Derive both keys from the app's secret as its session interface and Flask-WTF do."""
        interface = app.session_interface
        if not isinstance(interface, SecureCookieSessionInterface):
            raise TypeError("the page cache signs Flask's own cookie sessions only")
        session_serializer = interface.get_signing_serializer(app)
        if session_serializer is None:
            raise RuntimeError("the page cache needs a SECRET_KEY")
        secret = app.config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
        if not secret:
            raise RuntimeError("the page cache needs a SECRET_KEY")
        csrf_serializer = URLSafeTimedSerializer(secret, salt="wtf-csrf-token")
        self.session_loader = session_serializer
        self.session_max_age = int(app.permanent_session_lifetime.total_seconds())
        self._session_mac = _mac(session_serializer)
        self._csrf_mac = _mac(csrf_serializer)
        self._stamp = (-1, b"")

    def _sign(self, mac: Any, payload: dict[str, str] | str) -> str:
        now = int(time.time())
        second, stamp = self._stamp
        if now != second:
            stamp = b"." + base64_encode(int_to_bytes(now))
            self._stamp = (now, stamp)  # one tuple: a thread never sees half of it
        value = base64_encode(json.dumps(payload, separators=(",", ":"))) + stamp
        signature = mac.copy()
        signature.update(value)
        return (value + b"." + base64_encode(signature.digest())).decode("ascii")

    def session_cookie(self, raw_token: str) -> str:
        """Return the session cookie's value for a session holding only this CSRF secret."""
        return self._sign(self._session_mac, {"csrf_token": raw_token})

    def csrf_token(self, raw_token: str) -> str:
        """Return the form token Flask-WTF's generate_csrf would put into the page."""
        return self._sign(self._csrf_mac, raw_token)

    def load_session(self, value: str) -> dict[str, Any] | None:
        """Return the session in a cookie if its signature and age are valid, else None."""
        try:
            data = self.session_loader.loads(value, max_age=self.session_max_age)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None


def _mac(serializer: URLSafeTimedSerializer) -> Any:
    """Return the keyed HMAC a serializer's signer computes, to be copied per signature."""
    signer = serializer.make_signer(serializer.salt)
    digest = signer.digest_method().name  # by name: OpenSSL's HMAC, not the Python fallback
    return hmac.new(signer.derive_key(), digestmod=digest)


class PageCacheMiddleware:
    """Answer anonymous GET and HEAD requests from the cache before Flask runs.

    A hit builds no request context and no request or response object: it reads the cookie,
    the host, path and query, stats the version, and sends the stored status, headers and body
    with the visitor's own CSRF token (and, for a new visitor, a new signed session cookie).
    Whatever it cannot answer goes to the app, whose hooks render the page and offer it back.
    """

    def __init__(self, app: WSGIApplication, flask_app: Flask, cache: PageCache) -> None:
        """Wrap the WSGI app of this Flask app; the keys are derived on the first request."""
        self.app = app
        self.flask_app = flask_app
        self.cache = cache
        self.shared = frozenset(name.lower() for name in cache.shared_headers)
        self._signer: Signer | None = None
        self.cookie_name = ""
        self.cookie_attributes = ""
        self.language = ""

    def _setup(self) -> Signer:
        """Derive the signing keys and the cookie's attributes once the config is final."""
        app = self.flask_app
        interface = app.session_interface
        self.cookie_name = interface.get_cookie_name(app)
        self.language = app.config["BABEL_DEFAULT_LOCALE"]
        # The attributes Flask's save_session gives a new (not permanent) session's cookie.
        attributes = dump_cookie(
            self.cookie_name,
            "v",
            domain=interface.get_cookie_domain(app),
            path=interface.get_cookie_path(app),
            secure=interface.get_cookie_secure(app),
            httponly=interface.get_cookie_httponly(app),
            samesite=interface.get_cookie_samesite(app),
            partitioned=interface.get_cookie_partitioned(app),
        )
        self.cookie_attributes = attributes[len(self.cookie_name) + 2 :]  # "; HttpOnly; ..."
        self._signer = Signer(app)
        return self._signer

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer from the cache, or call the app and keep what it offers."""
        signer = self._signer or self._setup()
        answer = self._answer(environ, start_response, signer)
        if answer is not None:
            return answer
        return self._render(environ, start_response)

    def _answer(
        self, environ: WSGIEnvironment, start_response: StartResponse, signer: Signer
    ) -> list[bytes] | None:
        """Send the stored page if this request may have it; None leaves it to the app."""
        method = environ.get("REQUEST_METHOD")
        if method != "GET" and method != "HEAD":
            return None
        cookie = environ.get("HTTP_COOKIE")
        raw_token: str | None = None
        language = self.language
        if cookie:
            # Another cookie goes to the app; with several, or a quoted value, the value holds
            # more than the signed session and its signature fails below.
            name, _equals, value = cookie.strip().partition("=")
            if name != self.cookie_name:
                return None
            data = signer.load_session(value)
            if data is None or not set(data) <= SESSION_KEYS:
                return None  # forged, expired, or more than a visitor's token and language
            raw_token = data.get("csrf_token")
            if not isinstance(raw_token, str):
                return None  # Flask-WTF would add one and set the cookie: the app does that
            language = data.get("lang") or language
        key = request_key(environ, str(language))
        if key is None:
            return None
        entry = self.cache.fresh(key)
        if entry is None or not entry.replayable:
            return None
        self.cache.hits += 1
        headers = list(entry.headers)
        token = None
        if entry.uses_token:
            if raw_token is None:
                raw_token = secrets.token_hex(20)  # what Flask-WTF keeps in a new session
                value = signer.session_cookie(raw_token)
                headers.append(
                    ("Set-Cookie", f"{self.cookie_name}={value}{self.cookie_attributes}")
                )
            token = signer.csrf_token(raw_token)
        body = entry.body(token)
        headers.append(("Content-Length", str(len(body))))
        headers.append(("X-Page-Cache", "hit"))
        start_response(entry.status, headers)
        return [body] if method == "GET" else []

    def _render(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Call the app; keep its answer if its hook offered it and it went out as offered."""
        sent: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if OFFER in environ and status.startswith("200 ") and self._storable(headers):
                sent.append((status, list(headers)))
                headers.append(("X-Page-Cache", "miss"))
            return start_response(status, headers, exc_info)

        iterable = self.app(environ, capture)
        offer = environ.get(OFFER)
        if not sent or not isinstance(offer, Offer):
            return iterable
        try:
            body = b"".join(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        status, headers = sent[0]
        kept = tuple((n, v) for n, v in headers if n.lower() not in _PER_ANSWER)
        token = offer.token
        chunks = tuple(body.split(token.encode())) if token else (body,)
        replayable = all(name.lower() in self.shared for name, _value in kept)
        entry = Entry(status, kept, chunks, token is not None, replayable, time.monotonic())
        self.cache.store.put(offer.version, offer.key, entry)
        return [body]

    def _storable(self, headers: list[tuple[str, str]]) -> bool:
        """Return whether no header sets a cookie other than the session's."""
        prefix = f"{self.cookie_name}="
        return all(
            name.lower() != "set-cookie" or value.startswith(prefix) for name, value in headers
        )


def memo(name: str, compute: Callable[[], T]) -> T:
    """Return compute()'s result, computed once per data version (and PAGE_CACHE_SECONDS).

    For figures every reader of a page shares, such as the moderation report's counts: one
    computation per write instead of one per first view. The result is shared: never change it.
    """
    cache: PageCache | None = current_app.extensions.get("kldialog_pagecache")
    if cache is None:
        return compute()
    version = cache.version.current()
    with cache.memo_lock:
        kept = cache.memos.get(name)
    if kept is not None and kept[0] == version and time.monotonic() - kept[1] <= cache.seconds:
        return cast(T, kept[2])
    value = compute()
    with cache.memo_lock:
        cache.memos[name] = (version, time.monotonic(), value)  # under the version read before
    return value


def bypass() -> None:
    """Neither serve this request from the cache nor store its answer (a hook after lookup)."""
    g.pagecache_key = None
    g.pagecache_bypass = True  # nor from the personal pages


def init_page_cache(
    app: Flask,
    shared_headers: Iterable[str] = (),
    login_check: Callable[[], bool] | None = None,
) -> PageCache | None:
    """Install the cache: its WSGI layer, and the first before_request hook (no other query).

    shared_headers (the security headers of every page) may be sent again by the WSGI layer;
    an answer with a header that is neither these nor the page's own goes through Flask's hooks.
    login_check tells whether the session's login still holds without the database; without
    it, a person's kept page is never sent.
    """
    if not app.config.get("PAGE_CACHE_ENABLED"):
        return None
    cache = PageCache(app)
    cache.login_check = login_check
    cache.shared_headers += tuple(shared_headers)
    with app.app_context():
        from kldialog.kernel.db import db

        for engine in db.engines.values():
            cache.watch(engine)
    app.extensions["kldialog_pagecache"] = cache
    app.before_request_funcs.setdefault(None, []).insert(0, cache.lookup)
    app.after_request(cache.remember)
    # After every before_request hook (login, second factor, kiosk, limits), right before the view.
    app.dispatch_request = cache.dispatch(app.dispatch_request)  # type: ignore[method-assign]
    app.wsgi_app = PageCacheMiddleware(app.wsgi_app, app, cache)  # type: ignore[method-assign]
    return cache
