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
  process (or in Redis with the counter), bounded in number and size.
- **Only what is the same for everyone**: GET and HEAD, no cookie except the session cookie,
  a session holding nothing but the CSRF token and the chosen language, no flash message, a
  200 answer of HTML/JSON/CSV/iCalendar without a Set-Cookie of its own. The key is host, path,
  query string and language. The one per-visitor part of such a page, the CSRF token of the
  language switch, is stored as a placeholder and filled in with the visitor's own token.
- **Time**: pages that change with the clock alone (a round opens at 9:00) are kept at most
  PAGE_CACHE_SECONDS (60 by default).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, request, session
from flask_wtf.csrf import generate_csrf

PLACEHOLDER = b"\x00kldialog-csrf\x00"
CACHEABLE_TYPES = ("text/html", "application/json", "text/csv", "text/calendar")
SESSION_KEYS = frozenset({"csrf_token", "lang"})
# Statements that do not change data; anything else marks the connection as having written.
_READS = ("SELECT", "PRAGMA", "SHOW", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "EXPLAIN")
_KEEP_HEADERS = ("Content-Type", "Content-Language", "Content-Disposition")


@dataclass(frozen=True)
class Entry:
    """A stored page: its body (CSRF token as placeholder), headers and when it was made."""

    body: bytes
    headers: tuple[tuple[str, str], ...]
    stored: float


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

    def __init__(self, max_entries: int) -> None:
        """Keep at most this many pages."""
        self.max_entries = max_entries
        self.version = ""
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, version: str, key: str) -> Entry | None:
        """Return the entry stored for this key under this version."""
        with self.lock:
            if version != self.version:
                self.entries.clear()
                self.version = version
                return None
            entry = self.entries.get(key)
            if entry is not None:
                self.entries.move_to_end(key)
            return entry

    def put(self, version: str, key: str, entry: Entry) -> None:
        """Store an entry made from data of this version."""
        with self.lock:
            if version != self.version:
                return  # the data changed while the page was rendered
            self.entries[key] = entry
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)


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
        self.seconds = float(app.config["PAGE_CACHE_SECONDS"])
        self.max_bytes = int(app.config["PAGE_CACHE_MAX_BYTES"])
        self.hits = 0

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

    def _key(self) -> str | None:
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
        return f"{request.host}|{language}|{request.full_path}"

    def lookup(self) -> Response | None:
        """Answer from the cache if this page is stored for the current data."""
        key = self._key()
        g.pagecache_key = key
        if key is None:
            return None
        g.pagecache_version = version = self.version.current()
        entry = self.store.get(version, key)
        if entry is None or time.monotonic() - entry.stored > self.seconds:
            return None
        self.hits += 1
        body = entry.body
        if PLACEHOLDER in body:
            body = body.replace(PLACEHOLDER, generate_csrf().encode())
        response = Response(body, headers=list(entry.headers))
        response.headers["X-Page-Cache"] = "hit"
        return response

    def remember(self, response: Response) -> Response:
        """Store this answer if it is the same for every anonymous visitor."""
        key = g.pop("pagecache_key", None)
        version = g.pop("pagecache_version", None)
        if key is None or version is None or "X-Page-Cache" in response.headers:
            return response
        if response.status_code != 200 or response.direct_passthrough or response.is_streamed:
            return response
        if response.mimetype not in CACHEABLE_TYPES or "Set-Cookie" in response.headers:
            return response
        if not set(session.keys()) <= SESSION_KEYS:
            return response  # the page put something personal into the session
        body = response.get_data()
        if len(body) > self.max_bytes:
            return response
        token = g.get("csrf_token")
        if token:
            body = body.replace(token.encode(), PLACEHOLDER)
        headers = tuple((k, v) for k, v in response.headers.items() if k in _KEEP_HEADERS)
        self.store.put(version, key, Entry(body, headers, time.monotonic()))
        response.headers["X-Page-Cache"] = "miss"
        return response


def bypass() -> None:
    """Neither serve this request from the cache nor store its answer (a hook after lookup)."""
    g.pagecache_key = None


def init_page_cache(app: Flask) -> PageCache | None:
    """Install the cache (first before_request hook, so a hit runs no other hook's query)."""
    if not app.config.get("PAGE_CACHE_ENABLED"):
        return None
    cache = PageCache(app)
    with app.app_context():
        from kldialog.kernel.db import db

        for engine in db.engines.values():
            cache.watch(engine)
    app.extensions["kldialog_pagecache"] = cache
    app.before_request_funcs.setdefault(None, []).insert(0, cache.lookup)
    app.after_request(cache.remember)
    return cache
