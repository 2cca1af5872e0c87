"""Residency codes carry their channel: posted by letter, or handed out at the counter.

Revision ID: 0033_kiosk
Revises: 0032_paper_surveys
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0033_kiosk"
down_revision = "0032_paper_surveys"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("residency_code", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=10), nullable=False, server_default="letter")
        )
        batch_op.create_check_constraint(
            op.f("ck_residency_code_channel_known"), "channel IN ('letter', 'counter')"
        )


def downgrade():
    with op.batch_alter_table("residency_code", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_residency_code_channel_known"), type_="check")
        batch_op.drop_column("channel")
