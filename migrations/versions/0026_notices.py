"""Participation notices: opt-ins per account and the mail queue.

Revision ID: 0026_notices
Revises: 0021_sessions
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0026_notices"
down_revision = "0021_sessions"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "notice_preference",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("openings", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_notice_preference_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notice_preference")),
    )
    op.create_table(
        "queued_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "openings",
                "digest",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "due",
                "sent",
                "failed",
                name="state",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_queued_mail_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queued_mail")),
        sa.UniqueConstraint("user_id", "dedupe_key", name=op.f("uq_queued_mail_user_id")),
    )
    with op.batch_alter_table("queued_mail", schema=None) as batch_op:
        batch_op.create_index("ix_queued_mail_state_next", ["state", "next_attempt_at"])
        batch_op.create_index(batch_op.f("ix_queued_mail_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("queued_mail", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_queued_mail_user_id"))
        batch_op.drop_index("ix_queued_mail_state_next")
    op.drop_table("queued_mail")
    op.drop_table("notice_preference")
