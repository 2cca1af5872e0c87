"""Releases lag one step and count people, not clicks.

A release keeps the snapshot taken at the last step (`staged_n`, `staged_payload`) and
publishes it only at the next, so a final figure is always at least k people away from every
published interim one. `contributors` holds keyed digests of who contributed since the last
snapshot, so one person changing a ballot k times no longer moves a release. Existing
releases keep what they publish; their next step stages a snapshot first. (Running totals
shown before this upgrade were not lagged: a round open now may still end less than k ballots
after the last of them; nothing the migration does could unshow it.)

Revision ID: 0028_release_lag
Revises: 0026_notices
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0028_release_lag"
down_revision = "0026_notices"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("disclosure_release") as batch:
        batch.add_column(sa.Column("staged_n", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("staged_payload", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("contributors", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("disclosure_release") as batch:
        batch.drop_column("contributors")
        batch.drop_column("staged_payload")
        batch.drop_column("staged_n")
