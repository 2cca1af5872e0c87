"""Accounts and residency codes."""

from __future__ import annotations

import datetime as dt
import enum
import secrets

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from kldialog.kernel.db import Model, UTCDateTime
from kldialog.kernel.time import utcnow


def new_session_token() -> str:
    """Return a random token; changing it ends every session cookie of the account."""
    return secrets.token_hex(16)


class Role(enum.IntFlag):
    """Additive roles; a person can hold several (stored as one integer of flags)."""

    resident = 1
    moderator = 2
    staff = 4
    council = 8
    admin = 16


ALL_ROLES = Role.resident | Role.moderator | Role.staff | Role.council | Role.admin


class User(UserMixin, Model):
    """A person's account; after deletion only an anonymous tombstone row remains."""

    __tablename__ = "user_account"  # "user" is a reserved word in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    email_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # A new address waits here until its owner confirms it from that mailbox.
    pending_email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    display_name: Mapped[str | None] = mapped_column(sa.String(30))
    # Case-folded display name: "Anna" and "anna" must not both exist.
    display_name_key: Mapped[str | None] = mapped_column(sa.String(60), unique=True)
    roles: Mapped[int] = mapped_column(default=int(Role.resident))
    is_verified: Mapped[bool] = mapped_column(default=False)
    accepted_terms_version: Mapped[str | None] = mapped_column(sa.String(20))
    language: Mapped[str] = mapped_column(sa.String(5), default="de")
    # Opt-in: mail when someone replies to one's comment (account mail is always sent).
    notify_replies: Mapped[bool] = mapped_column(default=False)
    session_token: Mapped[str] = mapped_column(sa.String(32), default=new_session_token)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Second factor (auth/mfa.py): the TOTP secret sealed with a key derived from SECRET_KEY
    # (never plaintext), since when it is on, and the last accepted 30-second step (no replay).
    mfa_secret_sealed: Mapped[bytes | None] = mapped_column(sa.LargeBinary(128))
    mfa_enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    mfa_last_step: Mapped[int | None] = mapped_column(sa.BigInteger())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.CheckConstraint(f"roles >= 0 AND roles <= {int(ALL_ROLES)}", name="roles_known"),
        sa.CheckConstraint(
            "deleted_at IS NOT NULL OR (email IS NOT NULL AND password_hash IS NOT NULL"
            " AND display_name IS NOT NULL AND display_name_key IS NOT NULL)",
            name="active_account_complete",
        ),
        sa.CheckConstraint(
            "deleted_at IS NULL OR (email IS NULL AND pending_email IS NULL"
            " AND password_hash IS NULL AND display_name IS NULL AND display_name_key IS NULL"
            " AND roles = 0)",
            name="deleted_account_empty",
        ),
        sa.CheckConstraint(
            "(mfa_secret_sealed IS NULL) = (mfa_enabled_at IS NULL)", name="mfa_secret_with_date"
        ),
        sa.Index("ix_user_account_unconfirmed", "email_confirmed_at", "created_at"),
    )

    def get_id(self) -> str:
        """Return the login id; it includes the session token so a rotation logs out."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        """Return whether the account can log in (deleted accounts cannot)."""
        return self.deleted_at is None

    @property
    def address(self) -> str:
        """Return the e-mail address of a live account (an erased one has none to write to)."""
        if self.email is None:
            raise ValueError(f"account {self.id} has no e-mail address (erased)")
        return self.email

    @property
    def is_confirmed(self) -> bool:
        """Return whether the e-mail address has been confirmed."""
        return self.email_confirmed_at is not None

    @property
    def has_mfa(self) -> bool:
        """Return whether logging in needs a one-time code after the password."""
        return self.mfa_enabled_at is not None

    def has_role(self, role: Role) -> bool:
        """Return whether the account holds this role."""
        return bool(Role(self.roles) & role)

    def role_list(self) -> list[Role]:
        """Return the roles held, in a stable order."""
        return [role for role in Role if self.roles & role]

    def is_blocked(self, now: dt.datetime | None = None) -> bool:
        """Return whether the account is blocked at `now`."""
        if self.blocked_until is None:
            return False
        return self.blocked_until > (now or utcnow())

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class RememberToken(Model):
    """One device's "stay logged in": only the SHA-256 of the random cookie value is stored.

    A fresh token per login; logout deletes the device's row, "log out everywhere", a password
    change and account deletion delete all of them. The day it was made bounds its lifetime.
    """

    __tablename__ = "remember_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_on: Mapped[dt.date] = mapped_column(sa.Date())

    __table_args__ = (
        sa.CheckConstraint("length(token_hash) = 64", name="token_hash_is_sha256_hex"),
    )

    def __repr__(self) -> str:
        return f"<RememberToken {self.id}>"


class MfaRecoveryCode(Model):
    """An unused recovery code for the second factor, stored only as its keyed digest.

    Ten are made at enrolment and shown once; using one deletes its row, so each works once.
    """

    __tablename__ = "mfa_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    __table_args__ = (sa.CheckConstraint("length(code_hash) = 64", name="code_hash_is_sha256_hex"),)

    def __repr__(self) -> str:
        return f"<MfaRecoveryCode {self.id}>"


class ResidencyCode(Model):
    """An unused one-time residency code, stored only as the SHA-256 of its normalised text.

    The city prints the plaintext once and posts it; redeeming deletes the row, so a code works
    once and nothing in the database links a code (or its batch) to the person who used it.
    """

    __tablename__ = "residency_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    batch: Mapped[str] = mapped_column(sa.String(60), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    # "letter": printed in a batch and posted; "counter": handed out one at a time after an ID
    # check at a city counter (no staff account and no time of day kept for those).
    channel: Mapped[str] = mapped_column(sa.String(10), default="letter", server_default="letter")

    __table_args__ = (
        sa.CheckConstraint("length(code_hash) = 64", name="code_hash_is_sha256_hex"),
        sa.CheckConstraint("length(batch) > 0", name="batch_not_empty"),
        sa.CheckConstraint("channel IN ('letter', 'counter')", name="channel_known"),
    )

    def __repr__(self) -> str:
        return f"<ResidencyCode {self.id} {self.batch!r}>"
