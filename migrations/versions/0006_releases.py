"""Disclosure releases: the published state of continuously updated aggregates.

Revision ID: 0006_releases
Revises: 0005_surveys
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_releases'
down_revision = '0005_surveys'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('disclosure_release',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('n', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('pending', sa.Integer(), nullable=False),
    sa.Column('epsilon_spent', sa.Double(), nullable=False),
    sa.Column('released_on', sa.Date(), nullable=True),
    sa.CheckConstraint('epsilon_spent >= 0', name=op.f('ck_disclosure_release_epsilon_not_negative')),
    sa.CheckConstraint('pending >= 0', name=op.f('ck_disclosure_release_pending_not_negative')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_disclosure_release'))
    )


def downgrade():
    op.drop_table('disclosure_release')
