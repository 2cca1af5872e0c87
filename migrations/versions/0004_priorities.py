"""Priority rounds, ballots, round projects with running totals, frozen results, ratings.

Ballots are person-linked only while a round is open; closing deletes them after writing the
anonymous, shuffled ballot file into round_result (see kldialog/priorities/services.py).

Revision ID: 0004_priorities
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004_priorities'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('priority_round',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('method', sa.Enum('approval', 'points', name='method', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('max_choices', sa.Integer(), nullable=False),
    sa.Column('budget', sa.Integer(), nullable=False),
    sa.Column('max_per_project', sa.Integer(), nullable=False),
    sa.Column('eligibility', sa.Enum('resident', 'verified', name='eligibility', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('show_running_totals', sa.Boolean(), nullable=False),
    sa.Column('state', sa.Enum('draft', 'published', name='state', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ballot_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ballot_count >= 0', name=op.f('ck_priority_round_ballot_count_positive')),
    sa.CheckConstraint('budget BETWEEN 1 AND 1000', name=op.f('ck_priority_round_budget_range')),
    sa.CheckConstraint('closes_at > opens_at', name=op.f('ck_priority_round_window_is_forward')),
    sa.CheckConstraint('length(title) > 0', name=op.f('ck_priority_round_title_not_empty')),
    sa.CheckConstraint('max_choices BETWEEN 1 AND 100', name=op.f('ck_priority_round_max_choices_range')),
    sa.CheckConstraint('max_per_project >= 1 AND max_per_project <= budget', name=op.f('ck_priority_round_max_per_project_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_priority_round'))
    )
    with op.batch_alter_table('priority_round', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_priority_round_closes_at'), ['closes_at'], unique=False)

    op.create_table('ballot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('cast_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['round_id'], ['priority_round.id'], name=op.f('fk_ballot_round_id_priority_round'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_ballot_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ballot')),
    sa.UniqueConstraint('round_id', 'user_id', name='uq_ballot_round_id_user_id')
    )
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ballot_user_id'), ['user_id'], unique=False)

    op.create_table('round_result',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('results', sa.Text(), nullable=False),
    sa.Column('participation', sa.Text(), nullable=False),
    sa.Column('ballot_file', sa.Text(), nullable=True),
    sa.Column('ballot_sha256', sa.String(length=64), nullable=False),
    sa.CheckConstraint('length(ballot_sha256) = 64', name=op.f('ck_round_result_ballot_sha256_is_hex')),
    sa.ForeignKeyConstraint(['round_id'], ['priority_round.id'], name=op.f('fk_round_result_round_id_priority_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', name=op.f('pk_round_result'))
    )
    op.create_table('project_rating',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('indicator', sa.Enum('benefit', 'data_care', name='indicator', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('rated_on', sa.Date(), nullable=False),
    sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_project_rating_score_range')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_rating_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_project_rating_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'user_id', 'indicator', name=op.f('pk_project_rating'))
    )
    with op.batch_alter_table('project_rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_rating_user_id'), ['user_id'], unique=False)

    op.create_table('round_project',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('supporters', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.CheckConstraint('points >= 0', name=op.f('ck_round_project_points_positive')),
    sa.CheckConstraint('supporters >= 0', name=op.f('ck_round_project_supporters_positive')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_round_project_project_id_project'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['round_id'], ['priority_round.id'], name=op.f('fk_round_project_round_id_priority_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('round_id', 'project_id', name=op.f('pk_round_project'))
    )
    with op.batch_alter_table('round_project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_round_project_project_id'), ['project_id'], unique=False)

    op.create_table('ballot_choice',
    sa.Column('ballot_id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.CheckConstraint('points >= 1', name=op.f('ck_ballot_choice_points_positive')),
    sa.ForeignKeyConstraint(['ballot_id'], ['ballot.id'], name=op.f('fk_ballot_choice_ballot_id_ballot'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id', 'project_id'], ['round_project.round_id', 'round_project.project_id'], name='fk_ballot_choice_round_project', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ballot_id', 'project_id', name=op.f('pk_ballot_choice'))
    )


def downgrade():
    op.drop_table('ballot_choice')
    with op.batch_alter_table('round_project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_round_project_project_id'))

    op.drop_table('round_project')
    with op.batch_alter_table('project_rating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_rating_user_id'))

    op.drop_table('project_rating')
    op.drop_table('round_result')
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ballot_user_id'))

    op.drop_table('ballot')
    with op.batch_alter_table('priority_round', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_priority_round_closes_at'))

    op.drop_table('priority_round')
