"""Comments, supports, reports, moderation decisions, appeals, keywords.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

# Written out here, not imported from the models, so this migration never changes later.
SQLITE_TRIGGERS = [
    "CREATE TRIGGER moderation_decision_no_update BEFORE UPDATE ON moderation_decision "
    "BEGIN SELECT RAISE(ABORT, 'moderation_decision is append-only'); END",
    "CREATE TRIGGER moderation_decision_no_delete BEFORE DELETE ON moderation_decision "
    "BEGIN SELECT RAISE(ABORT, 'moderation_decision is append-only'); END",
]
POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION moderation_decision_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'moderation_decision is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER moderation_decision_no_change BEFORE UPDATE OR DELETE ON moderation_decision "
    "FOR EACH ROW EXECUTE FUNCTION moderation_decision_append_only()",
]


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('moderation_keyword',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('word', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(word) > 0', name=op.f('ck_moderation_keyword_word_not_empty')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_keyword')),
    sa.UniqueConstraint('word', name=op.f('uq_moderation_keyword_word'))
    )
    op.create_table('thread',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('is_closed', sa.Boolean(), nullable=False),
    sa.Column('closed_note', sa.Text(), nullable=False),
    sa.Column('is_premoderated', sa.Boolean(), nullable=False),
    sa.Column('comment_count', sa.Integer(), nullable=False),
    sa.CheckConstraint('comment_count >= 0', name=op.f('ck_thread_comment_count_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_thread'))
    )
    op.create_table('comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'published', 'hidden', name='status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('hidden_reason', sa.Text(), nullable=False),
    sa.Column('support_count', sa.Integer(), nullable=False),
    sa.Column('report_count', sa.Integer(), nullable=False),
    sa.Column('reply_count', sa.Integer(), nullable=False),
    sa.CheckConstraint('parent_id IS NULL OR parent_id <> id', name=op.f('ck_comment_not_own_parent')),
    sa.CheckConstraint('support_count >= 0 AND report_count >= 0 AND reply_count >= 0', name=op.f('ck_comment_counts_positive')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_comment_author_id_user_account')),
    sa.ForeignKeyConstraint(['parent_id'], ['comment.id'], name=op.f('fk_comment_parent_id_comment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['thread.id'], name=op.f('fk_comment_thread_id_thread'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comment'))
    )
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comment_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_comment_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index('ix_comment_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index('ix_comment_thread_supported', ['thread_id', 'parent_id', 'support_count', 'id'], unique=False)
        batch_op.create_index('ix_comment_thread_top', ['thread_id', 'parent_id', 'created_at', 'id'], unique=False)

    op.create_table('appeal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('comment_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Enum('upheld', 'rejected', name='outcome', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.CheckConstraint('(decided_at IS NULL) = (outcome IS NULL)', name=op.f('ck_appeal_decided_with_outcome')),
    sa.ForeignKeyConstraint(['comment_id'], ['comment.id'], name=op.f('fk_appeal_comment_id_comment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeal')),
    sa.UniqueConstraint('comment_id', name=op.f('uq_appeal_comment_id'))
    )
    op.create_table('comment_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('comment_id', sa.Integer(), nullable=False),
    sa.Column('reporter_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Enum('spam', 'offensive', 'off_topic', 'personal_data', 'other', name='reason', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['comment_id'], ['comment.id'], name=op.f('fk_comment_report_comment_id_comment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reporter_id'], ['user_account.id'], name=op.f('fk_comment_report_reporter_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comment_report')),
    sa.UniqueConstraint('comment_id', 'reporter_id', name='uq_comment_report_once')
    )
    with op.batch_alter_table('comment_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comment_report_comment_id'), ['comment_id'], unique=False)

    op.create_table('comment_support',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('comment_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['comment_id'], ['comment.id'], name=op.f('fk_comment_support_comment_id_comment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_comment_support_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'comment_id', name=op.f('pk_comment_support'))
    )
    with op.batch_alter_table('comment_support', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comment_support_comment_id'), ['comment_id'], unique=False)

    op.create_table('moderation_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('comment_id', sa.Integer(), nullable=False),
    sa.Column('moderator_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.Enum('approve', 'hide', 'restore', 'dismiss', 'block', 'appeal_upheld', 'appeal_rejected', name='action', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(reason) > 0', name=op.f('ck_moderation_decision_reason_required')),
    sa.ForeignKeyConstraint(['comment_id'], ['comment.id'], name=op.f('fk_moderation_decision_comment_id_comment')),
    sa.ForeignKeyConstraint(['moderator_id'], ['user_account.id'], name=op.f('fk_moderation_decision_moderator_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_decision'))
    )
    with op.batch_alter_table('moderation_decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderation_decision_comment_id'), ['comment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_moderation_decision_created_at'), ['created_at'], unique=False)

    # The moderation log is append-only: the database refuses UPDATE and DELETE.
    postgres = op.get_bind().dialect.name == 'postgresql'
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)

    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('thread_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_project_thread_id'), ['thread_id'])
        batch_op.create_foreign_key(batch_op.f('fk_project_thread_id_thread'), 'thread', ['thread_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_replies', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('notify_replies')

    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_project_thread_id_thread'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_project_thread_id'), type_='unique')
        batch_op.drop_column('thread_id')

    with op.batch_alter_table('moderation_decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderation_decision_created_at'))
        batch_op.drop_index(batch_op.f('ix_moderation_decision_comment_id'))

    op.drop_table('moderation_decision')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS moderation_decision_append_only()')
    with op.batch_alter_table('comment_support', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comment_support_comment_id'))

    op.drop_table('comment_support')
    with op.batch_alter_table('comment_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comment_report_comment_id'))

    op.drop_table('comment_report')
    op.drop_table('appeal')
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.drop_index('ix_comment_thread_top')
        batch_op.drop_index('ix_comment_thread_supported')
        batch_op.drop_index('ix_comment_status_created')
        batch_op.drop_index(batch_op.f('ix_comment_parent_id'))
        batch_op.drop_index(batch_op.f('ix_comment_author_id'))

    op.drop_table('comment')
    op.drop_table('thread')
    op.drop_table('moderation_keyword')
