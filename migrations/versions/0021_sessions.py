"""Sessions: hashed remember-me tokens, one per device and login.

remember_token holds only the SHA-256 of a random cookie value and the day it was made. Every
account gets a new session token, so session and Flask-Login remember cookies issued before
(which carried the login id itself) stop working.

Revision ID: 0021_sessions
Revises: 0023_rounds
Create Date: 2026-12-02
"""

import secrets

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0021_sessions"
down_revision = "0023_rounds"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "remember_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "length(token_hash) = 64", name=op.f("ck_remember_token_token_hash_is_sha256_hex")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_remember_token_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remember_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_remember_token_token_hash")),
    )
    with op.batch_alter_table("remember_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remember_token_user_id"), ["user_id"], unique=False)
    # Old remember cookies were "id:session_token", signed: a new token per account ends them.
    connection = op.get_bind()
    account = sa.table("user_account", sa.column("id", sa.Integer), sa.column("session_token"))
    for (account_id,) in connection.execute(sa.select(account.c.id)).all():
        connection.execute(
            account.update()
            .where(account.c.id == account_id)
            .values(session_token=secrets.token_hex(16))
        )


def downgrade():
    with op.batch_alter_table("remember_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remember_token_user_id"))
    op.drop_table("remember_token")
