"""Sealing staged answer sets: the database, its WAL and its backups hold only ciphertext.

A staged answer set is written in the same transaction as the participation row, so on
PostgreSQL the two share a transaction id and sit next to each other in the WAL. Its payload
is therefore encrypted (AES-256-GCM) with a key that is not in the database: it is derived
from SECRET_KEY with HKDF-SHA-256 and a purpose label, so no second secret has to be deployed,
backed up or rotated, and the key never reaches the database or its backups. A database
dump without the app's configuration holds no readable staged answer.

The plaintext is padded to a size that depends only on the survey's questions, so the length
of a ciphertext says nothing about what was answered (e.g. whether a long text was written).
The survey id is bound as associated data: a sealed row cannot be moved to another survey.
Keys derived from SECRET_KEY_FALLBACKS still open rows sealed before a key rotation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from kldialog.kernel import secretbox

PURPOSE = b"kldialog/surveys/staged-answer-sets/v1"
PAD_STEP = 1024
# JSON of one text character is at most 6 bytes ("\u0001"); a record's frame well below 64.
_RECORD_OVERHEAD = 64
_TEXT_BYTES_PER_CHARACTER = 6


class SealError(Exception):
    """A sealed answer set could not be opened (wrong key, or changed bytes)."""


def padded_size(max_records: int, max_text_characters: int) -> int:
    """Return the plaintext size every answer set of a survey is padded to."""
    bound = 64 + max_records * _RECORD_OVERHEAD
    bound += max_text_characters * _TEXT_BYTES_PER_CHARACTER
    return -(-bound // PAD_STEP) * PAD_STEP


def _aad(survey_id: int) -> bytes:
    return f"survey:{survey_id}".encode()


def seal(survey_id: int, content: dict[str, Any], size: int) -> bytes:
    """Encrypt an answer set's content, padded with spaces to at least `size` bytes."""
    plain = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(plain) < size:
        plain += b" " * (size - len(plain))
    else:  # cannot happen within the survey's limits; still never reveal the exact length
        plain += b" " * (-len(plain) % PAD_STEP)
    return secretbox.seal(PURPOSE, plain, _aad(survey_id))


def unseal(survey_id: int, sealed: bytes) -> dict[str, Any]:
    """Decrypt an answer set sealed for this survey; raise SealError if no key opens it."""
    try:
        plain = secretbox.unseal(PURPOSE, sealed, _aad(survey_id))
    except secretbox.SecretBoxError as error:
        raise SealError(str(error)) from error
    return json.loads(plain.decode("utf-8"))


def open_all(survey_id: int, sealed: Iterable[bytes]) -> list[dict[str, Any]]:
    """Decrypt several sealed answer sets of one survey (any failure raises SealError)."""
    return [unseal(survey_id, item) for item in sealed]


def survey_padding(limits: Sequence[tuple[int, int]]) -> int:
    """Return the padded size for a survey given (max records, max text characters) per question."""
    return padded_size(sum(r for r, _t in limits), sum(t for _r, t in limits))
