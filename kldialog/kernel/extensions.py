"""Flask extension objects, created unbound here and bound in create_app (db is in kernel.db)."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager, current_user
from flask_migrate import Migrate
from flask_wtf import CSRFProtect


def client_key() -> str:
    """Return a keyed hash of the client address, so rate-limit storage never holds a raw IP."""
    address = (request.remote_addr or "unknown").encode()
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, address, hashlib.sha256).hexdigest()[:32]


def account_key() -> str:
    """Return a keyed hash of the account id (the IP hash for visitors, who are refused anyway)."""
    if not current_user.is_authenticated:
        return client_key()
    key = current_app.config["SECRET_KEY"].encode()
    return (
        "account:" + hmac.new(key, str(current_user.id).encode(), hashlib.sha256).hexdigest()[:32]
    )


migrate = Migrate(render_as_batch=True, compare_type=True)
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=client_key)
login_manager = LoginManager()
# No IP/user-agent fingerprint in the session: the rotating session token ends sessions instead.
login_manager.session_protection = None
login_manager.login_view = "auth.login"
