"""Small secrets sealed with a key derived from SECRET_KEY (AES-256-GCM, HKDF-SHA-256).

Used by surveys/sealing.py (staged answer sets) and auth/mfa.py (TOTP secrets): the key is
not in the database, so a dump or backup without the app's configuration holds no readable
secret. Each purpose label derives its own key, and associated data binds a sealed value to
its row (a value copied to another account does not open). Keys derived from
SECRET_KEY_FALLBACKS still open values sealed before a key rotation.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

VERSION = b"\x01"
NONCE_BYTES = 12


class SecretBoxError(Exception):
    """A sealed value could not be opened (wrong key, purpose or associated data, or changed)."""


def derive_key(secret: str | bytes, purpose: bytes) -> bytes:
    """Return the 256-bit key for a purpose label from one application secret."""
    material = secret.encode("utf-8") if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(material)


def _keys(purpose: bytes) -> list[bytes]:
    """Return the current key first, then those of SECRET_KEY_FALLBACKS (for opening only)."""
    secrets = [current_app.config["SECRET_KEY"]]
    secrets += list(current_app.config.get("SECRET_KEY_FALLBACKS") or [])
    return [derive_key(secret, purpose) for secret in secrets if secret]


def seal(purpose: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt plaintext for a purpose, bound to aad; return version, nonce and ciphertext."""
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + AESGCM(_keys(purpose)[0]).encrypt(nonce, plaintext, aad)


def unseal(purpose: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Return the plaintext of a sealed value; SecretBoxError if no key opens it."""
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != VERSION:
        raise SecretBoxError("unknown format")
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    for key in _keys(purpose):
        try:
            return AESGCM(key).decrypt(nonce, body, aad)
        except InvalidTag:
            continue
    raise SecretBoxError("no key opens this value")


def same_secret(given: Any, expected: str) -> bool:
    """Compare a secret someone sent with the expected one in constant time, for any input.

    hmac.compare_digest refuses str with non-ASCII characters (a TypeError, so a 500 for a
    typed "²"); both sides are compared as UTF-8 bytes, and anything but a str is unequal.
    """
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
