"""Accounts, audit log, residency codes, follows, project visibility.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

# Written out here, not imported from the models, so this migration never changes later.
SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END",
    "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END",
]
POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_entry is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
]


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('email_confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('pending_email', sa.String(length=254), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('display_name', sa.String(length=30), nullable=True),
    sa.Column('display_name_key', sa.String(length=60), nullable=True),
    sa.Column('roles', sa.Integer(), nullable=False),
    sa.Column('is_verified', sa.Boolean(), nullable=False),
    sa.Column('accepted_terms_version', sa.String(length=20), nullable=True),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('session_token', sa.String(length=32), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('deleted_at IS NOT NULL OR (email IS NOT NULL AND password_hash IS NOT NULL AND display_name IS NOT NULL AND display_name_key IS NOT NULL)', name=op.f('ck_user_account_active_account_complete')),
    sa.CheckConstraint('deleted_at IS NULL OR (email IS NULL AND pending_email IS NULL AND password_hash IS NULL AND display_name IS NULL AND display_name_key IS NULL AND roles = 0)', name=op.f('ck_user_account_deleted_account_empty')),
    sa.CheckConstraint('roles >= 0 AND roles <= 31', name=op.f('ck_user_account_roles_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('display_name_key', name=op.f('uq_user_account_display_name_key')),
    sa.UniqueConstraint('email', name=op.f('uq_user_account_email'))
    )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.create_index('ix_user_account_unconfirmed', ['email_confirmed_at', 'created_at'], unique=False)

    op.create_table('audit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.CheckConstraint('length(action) > 0', name=op.f('ck_audit_entry_action_not_empty')),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_audit_entry_actor_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index('ix_audit_entry_target', ['target_type', 'target_id'], unique=False)

    # The audit log is append-only: the database refuses UPDATE and DELETE.
    postgres = op.get_bind().dialect.name == 'postgresql'
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)

    op.create_table('residency_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('batch', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('length(batch) > 0', name=op.f('ck_residency_code_batch_not_empty')),
    sa.CheckConstraint('length(code_hash) = 64', name=op.f('ck_residency_code_code_hash_is_sha256_hex')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_residency_code_created_by_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_residency_code')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_residency_code_code_hash'))
    )
    with op.batch_alter_table('residency_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_residency_code_batch'), ['batch'], unique=False)

    op.create_table('project_follow',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_follow_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_project_follow_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'project_id', name=op.f('pk_project_follow'))
    )
    with op.batch_alter_table('project_follow', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_follow_project_id'), ['project_id'], unique=False)

    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.Enum('draft', 'published', 'archived', name='state', native_enum=False, create_constraint=True, length=20), nullable=False, server_default='published'))
        batch_op.create_index(batch_op.f('ix_project_state'), ['state'], unique=False)



def downgrade():
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_state'))
        batch_op.drop_constraint(batch_op.f('ck_project_state'), type_='check')
        batch_op.drop_column('state')

    with op.batch_alter_table('project_follow', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_follow_project_id'))

    op.drop_table('project_follow')
    with op.batch_alter_table('residency_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_residency_code_batch'))

    op.drop_table('residency_code')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entry_target')
        batch_op.drop_index(batch_op.f('ix_audit_entry_actor_id'))

    op.drop_table('audit_entry')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS audit_entry_append_only()')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_index('ix_user_account_unconfirmed')

    op.drop_table('user_account')
