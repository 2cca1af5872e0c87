"""Paper ballots: a round's paper rules, hashed ballot codes, agreed paper sheets, and the
generic double-entry batches (two staff accounts type each batch of returned sheets).

Revision ID: 0031_paper
Revises: 0030_english
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0031_paper'
down_revision = '0030_english'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('entry_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=60), nullable=False),
    sa.Column('sheets', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('first', 'mismatch', 'agreed', 'discarded', name='state', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('first_by_id', sa.Integer(), nullable=True),
    sa.Column('second_by_id', sa.Integer(), nullable=True),
    sa.Column('first_entry', sa.JSON(), nullable=True),
    sa.Column('second_entry', sa.JSON(), nullable=True),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('invalid', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('agreed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('first', 'mismatch') OR (first_entry IS NULL AND second_entry IS NULL)", name=op.f('ck_entry_batch_finished_keeps_no_contents')),
    sa.CheckConstraint('accepted >= 0 AND invalid >= 0', name=op.f('ck_entry_batch_counts_positive')),
    sa.CheckConstraint('length(label) > 0', name=op.f('ck_entry_batch_label_not_empty')),
    sa.CheckConstraint('second_by_id IS NULL OR first_by_id IS NULL OR second_by_id <> first_by_id', name=op.f('ck_entry_batch_two_accounts')),
    sa.CheckConstraint('sheets BETWEEN 1 AND 50', name=op.f('ck_entry_batch_sheets_range')),
    sa.ForeignKeyConstraint(['first_by_id'], ['user_account.id'], name=op.f('fk_entry_batch_first_by_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['second_by_id'], ['user_account.id'], name=op.f('fk_entry_batch_second_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entry_batch'))
    )
    with op.batch_alter_table('entry_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entry_batch_first_by_id'), ['first_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_entry_batch_second_by_id'), ['second_by_id'], unique=False)
        batch_op.create_index('ix_entry_batch_target', ['kind', 'target_id'], unique=False)

    op.create_table('paper_code',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('length(code_hash) = 64', name=op.f('ck_paper_code_code_hash_is_hex')),
    sa.ForeignKeyConstraint(['round_id'], ['priority_round.id'], name=op.f('fk_paper_code_round_id_priority_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_paper_code'))
    )
    with op.batch_alter_table('paper_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_code_round_id'), ['round_id'], unique=False)

    op.create_table('paper_ballot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('choices', sa.JSON(), nullable=True),
    sa.Column('invalid_reason', sa.Enum('unclear', 'rules', 'blank', 'no_code', 'other', name='invalid_reason', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.CheckConstraint('(invalid_reason IS NULL) = (choices IS NOT NULL)', name=op.f('ck_paper_ballot_valid_or_reason')),
    sa.CheckConstraint('invalid_reason IS NOT NULL OR code_hash IS NOT NULL', name=op.f('ck_paper_ballot_valid_needs_code')),
    sa.ForeignKeyConstraint(['code_hash'], ['paper_code.code_hash'], name=op.f('fk_paper_ballot_code_hash_paper_code'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['round_id'], ['priority_round.id'], name=op.f('fk_paper_ballot_round_id_priority_round'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_ballot')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_paper_ballot_code_hash'))
    )
    with op.batch_alter_table('paper_ballot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_ballot_round_id'), ['round_id'], unique=False)

    with op.batch_alter_table('priority_round', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('paper_offered', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column('paper_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_priority_round_paper_deadline_when_offered'),
            '(paper_until IS NOT NULL) = paper_offered',
        )
        batch_op.create_check_constraint(
            op.f('ck_priority_round_paper_deadline_after_opening'),
            'paper_until IS NULL OR paper_until > opens_at',
        )



def downgrade():
    with op.batch_alter_table('priority_round', schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f('ck_priority_round_paper_deadline_after_opening'), type_='check'
        )
        batch_op.drop_constraint(
            op.f('ck_priority_round_paper_deadline_when_offered'), type_='check'
        )
        batch_op.drop_column('paper_until')
        batch_op.drop_column('paper_offered')

    with op.batch_alter_table('paper_ballot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_ballot_round_id'))

    op.drop_table('paper_ballot')
    with op.batch_alter_table('paper_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_code_round_id'))

    op.drop_table('paper_code')
    with op.batch_alter_table('entry_batch', schema=None) as batch_op:
        batch_op.drop_index('ix_entry_batch_target')
        batch_op.drop_index(batch_op.f('ix_entry_batch_second_by_id'))
        batch_op.drop_index(batch_op.f('ix_entry_batch_first_by_id'))

    op.drop_table('entry_batch')
