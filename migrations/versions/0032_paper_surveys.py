"""Paper questionnaires: every anonymous answer set says how it came in (online or paper).

Existing answer sets came in online (the server default). The channel is stored on the answer
set only, never with a person or a staff account.

Revision ID: 0032_paper_surveys
Revises: 0031_paper
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0032_paper_surveys"
down_revision = "0031_paper"
branch_labels = None
depends_on = None


def upgrade():
    # The column first, its CHECK in a second batch: SQLite's batch copy would otherwise
    # create the constraint before the column exists.
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sa.String(length=20), server_default="online", nullable=False)
        )
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_survey_response_channel"), "channel IN ('online', 'paper')"
        )


def downgrade():
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_survey_response_channel"), type_="check")
        batch_op.drop_column("channel")
