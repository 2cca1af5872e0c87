"""Per-account login throttle: failed passwords for one address lock it for a while.

Counted per address (a keyed hash of it), from whichever client addresses the guesses come, in
the rate-limit storage (`RATELIMIT_STORAGE_URI`: Redis in production, so every worker sees the
same counts). Unknown addresses are counted and locked exactly like known ones, so the lock
message tells nobody whether an account exists. The tiers of `LOGIN_ACCOUNT_LIMIT` make the
lock grow: 5 failures lock for the rest of 15 minutes, 20 for the rest of the day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math

from flask import current_app
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from kldialog.kernel.time import utcnow

_EXTENSION = "kldialog.login_throttle"


def _limiter() -> tuple[FixedWindowRateLimiter, list[RateLimitItem]]:
    """Return this app's limiter on the shared storage and the parsed tiers."""
    cached = current_app.extensions.get(_EXTENSION)
    if cached is None:
        config = current_app.config
        storage = storage_from_string(
            config["RATELIMIT_STORAGE_URI"], **config.get("RATELIMIT_STORAGE_OPTIONS", {})
        )
        cached = (FixedWindowRateLimiter(storage), parse_many(config["LOGIN_ACCOUNT_LIMIT"]))
        current_app.extensions[_EXTENSION] = cached
    return cached


def _key(email: str) -> str:
    """Return a keyed hash of the address: the storage never holds an address."""
    secret = current_app.config["SECRET_KEY"].encode()
    return "login-account:" + hmac.new(secret, email.encode(), hashlib.sha256).hexdigest()[:32]


def locked_until(email: str) -> dt.datetime | None:
    """Return until when logins for this (normalised) address are refused, or None."""
    if not current_app.config["LOGIN_THROTTLE_ENABLED"]:
        return None
    limiter, tiers = _limiter()
    key = _key(email)
    ends = [
        limiter.get_window_stats(tier, key).reset_time
        for tier in tiers
        if not limiter.test(tier, key)
    ]
    if not ends:
        return None
    return dt.datetime.fromtimestamp(max(ends), tz=dt.UTC)


def record_failure(email: str) -> bool:
    """Count a failed login for the address; return True if this failure started a lock."""
    if not current_app.config["LOGIN_THROTTLE_ENABLED"]:
        return False
    limiter, tiers = _limiter()
    key = _key(email)
    for tier in tiers:
        limiter.hit(tier, key)
    return locked_until(email) is not None


def clear(email: str) -> None:
    """End the lock and forget the failures (after the owner reset the password)."""
    limiter, tiers = _limiter()
    key = _key(email)
    for tier in tiers:
        limiter.clear(tier, key)


def minutes_left(until: dt.datetime) -> int:
    """Return the whole minutes until `until`, at least 1."""
    return max(1, math.ceil((until - utcnow()).total_seconds() / 60))
