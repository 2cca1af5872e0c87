"""Residency codes: one-time codes by letter that verify a resident (only keyed hashes kept)."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.db import affected_rows, db
from kldialog.kernel.errors import RuleViolation, number_range
from kldialog.kernel.time import utcnow

# 31 symbols without the look-alikes 0/O, 1/I/L: 12 of them carry about 59 bits of chance.
RESIDENCY_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RESIDENCY_CODE_LENGTH = 12
RESIDENCY_CODES_MAX = 5000
RESIDENCY_BATCH_MAX_LENGTH = 60
_CODE_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―_.]+")


def normalise_residency_code(text: str) -> str:
    """Return a typed code as stored: upper case, without spaces and dashes."""
    return _CODE_SEPARATORS.sub("", unicodedata.normalize("NFKC", text or "")).upper()


def is_valid_residency_code(normalised: str) -> bool:
    """Return whether a normalised code has the right length and only allowed symbols."""
    return len(normalised) == RESIDENCY_CODE_LENGTH and all(
        char in RESIDENCY_CODE_ALPHABET for char in normalised
    )


def format_residency_code(normalised: str) -> str:
    """Group a code for print and screen: XXXX-XXXX-XXXX."""
    return "-".join(normalised[i : i + 4] for i in range(0, len(normalised), 4))


def hash_residency_code(normalised: str) -> str:
    """Return the keyed digest stored for a normalised code.

    HMAC with SECRET_KEY, not a plain hash: whoever copies the database without the key
    cannot try all 2^59 codes offline. Rotating SECRET_KEY therefore voids unused codes.
    """
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, normalised.encode("ascii"), hashlib.sha256).hexdigest()


def clean_batch_label(text: str) -> str:
    """Normalise a batch label: NFKC, single spaces, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text or "").split())


def generate_residency_codes(actor: User | None, count: int, batch: str) -> list[str]:
    """Create `count` one-time codes; return their plaintext (formatted) exactly once.

    Only the hashes are stored. The caller prints or shows the plaintext and then forgets it.
    """
    import secrets

    from kldialog.auth.models import ResidencyCode

    if isinstance(count, bool) or not isinstance(count, int):
        raise RuleViolation(_l("Please enter a whole number."), field="count")
    if not 1 <= count <= RESIDENCY_CODES_MAX:
        raise RuleViolation(number_range(1, RESIDENCY_CODES_MAX), field="count")
    batch = clean_batch_label(batch)
    if not 1 <= len(batch) <= RESIDENCY_BATCH_MAX_LENGTH:
        raise RuleViolation(
            _l(
                "Please give the batch a label of 1 to %(max)d characters.",
                max=RESIDENCY_BATCH_MAX_LENGTH,
            ),
            field="batch",
        )
    for _attempt in range(3):
        codes: set[str] = set()
        while len(codes) < count:
            codes.add(
                "".join(
                    secrets.choice(RESIDENCY_CODE_ALPHABET) for _ in range(RESIDENCY_CODE_LENGTH)
                )
            )
        now = utcnow()
        rows = [
            {
                "code_hash": hash_residency_code(code),
                "batch": batch,
                "created_at": now,
                "created_by_id": actor.id if actor is not None else None,
            }
            for code in codes
        ]
        db.session.execute(sa.insert(ResidencyCode), rows)
        audit(actor, "residency.generate", "residency_batch", None, count=count, batch=batch)
        try:
            db.session.commit()
        except IntegrityError:
            # A clash with an existing unused code (about 1 in 10^14 per code): draw again.
            db.session.rollback()
            continue
        return [format_residency_code(code) for code in sorted(codes)]
    raise RuleViolation(_l("The codes could not be stored. Please try again."))


COUNTER_BATCH = "counter"  # the batch label of every code handed out at a counter


def issue_counter_code() -> str:
    """Create one code for a person whose ID staff checked at the counter; return it once.

    Recorded only as "issued at the counter": no staff account (neither on the row nor in the
    audit entry, which holds the count only) and the day without a time of day, so nothing
    ties the code to a person's visit at the desk.
    """
    import secrets

    from kldialog.auth.models import ResidencyCode

    day = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    for _attempt in range(3):
        code = "".join(
            secrets.choice(RESIDENCY_CODE_ALPHABET) for _ in range(RESIDENCY_CODE_LENGTH)
        )
        db.session.add(
            ResidencyCode(
                code_hash=hash_residency_code(code),
                batch=COUNTER_BATCH,
                created_at=day,
                created_by_id=None,
                channel="counter",
            )
        )
        audit(None, "residency.counter", "residency_batch", None, count=1, channel="counter")
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()  # a clash with an unused code: draw again
            continue
        return format_residency_code(code)
    raise RuleViolation(_l("The code could not be stored. Please try again."))


def redeem_residency_code(user: User, code: str) -> None:
    """Verify the person's residency with a code and delete the code for good.

    Two people racing for one code: the DELETE's row count decides, so only one succeeds.
    The audit entry names the person, never the code or its batch.
    """
    from kldialog.auth.models import ResidencyCode

    if user.is_verified:
        raise RuleViolation(_l("Your residency is already verified."))
    normalised = normalise_residency_code(code)
    if not is_valid_residency_code(normalised):
        raise RuleViolation(
            _l(
                "A code has 12 characters: letters and the digits 2 to 9, "
                "for example ABCD-EFGH-JKMN. Please check your letter."
            ),
            field="code",
        )
    deleted = db.session.execute(
        sa.delete(ResidencyCode)
        .where(ResidencyCode.code_hash == hash_residency_code(normalised))
        .execution_options(synchronize_session=False)
    )
    if affected_rows(deleted) != 1:
        db.session.rollback()
        raise RuleViolation(
            _l("This code is not valid or has already been used. Please check your letter."),
            field="code",
        )
    # Conditional, so a second code sent at the same moment (another tab) is not used up too.
    verified = db.session.execute(
        sa.update(User)
        .where(User.id == user.id, User.is_verified.is_(False))
        .values(is_verified=True)
    )
    if affected_rows(verified) != 1:
        db.session.rollback()
        raise RuleViolation(_l("Your residency is already verified."))
    audit(user, "residency.verify", "user", user.id)
    db.session.commit()
