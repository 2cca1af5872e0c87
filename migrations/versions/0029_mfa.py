"""Second factor: the sealed TOTP secret, the last accepted step, hashed recovery codes.

Revision ID: 0029_mfa
Revises: 0028_release_lag
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0029_mfa"
down_revision = "0028_release_lag"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mfa_secret_sealed", sa.LargeBinary(length=128)))
        batch_op.add_column(sa.Column("mfa_enabled_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("mfa_last_step", sa.BigInteger()))
        batch_op.create_check_constraint(
            op.f("ck_user_account_mfa_secret_with_date"),
            "(mfa_secret_sealed IS NULL) = (mfa_enabled_at IS NULL)"
        )
    op.create_table(
        "mfa_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "length(code_hash) = 64", name=op.f("ck_mfa_recovery_code_code_hash_is_sha256_hex")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_mfa_recovery_code_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_recovery_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_mfa_recovery_code_code_hash")),
    )
    with op.batch_alter_table("mfa_recovery_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mfa_recovery_code_user_id"), ["user_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("mfa_recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mfa_recovery_code_user_id"))
    op.drop_table("mfa_recovery_code")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_user_account_mfa_secret_with_date"), type_="check")
        batch_op.drop_column("mfa_last_step")
        batch_op.drop_column("mfa_enabled_at")
        batch_op.drop_column("mfa_secret_sealed")
