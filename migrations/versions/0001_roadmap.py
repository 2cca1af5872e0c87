"""Roadmap: categories, projects, status history, updates.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('category',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint('length(name) > 0', name=op.f('ck_category_name_not_empty')),
    sa.CheckConstraint('length(slug) > 0', name=op.f('ck_category_slug_not_empty')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_category')),
    sa.UniqueConstraint('name', name=op.f('uq_category_name')),
    sa.UniqueConstraint('slug', name=op.f('uq_category_slug'))
    )
    op.create_table('project',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=120), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('is_category_editorial', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('planned', 'in_progress', 'completed', name='status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('status_changed_on', sa.Date(), nullable=False),
    sa.Column('status_precision', sa.Enum('day', 'month', name='status_precision', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=True),
    sa.Column('department', sa.String(length=300), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(slug) > 0', name=op.f('ck_project_slug_not_empty')),
    sa.CheckConstraint('length(title) > 0', name=op.f('ck_project_title_not_empty')),
    sa.CheckConstraint('progress IS NULL OR (progress >= 0 AND progress <= 100)', name=op.f('ck_project_progress_range')),
    sa.ForeignKeyConstraint(['category_id'], ['category.id'], name=op.f('fk_project_category_id_category'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project')),
    sa.UniqueConstraint('slug', name=op.f('uq_project_slug'))
    )
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_category_id'), ['category_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_project_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_project_status_changed_on'), ['status_changed_on'], unique=False)

    op.create_table('project_status_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('changed_on', sa.Date(), nullable=False),
    sa.Column('precision', sa.Enum('day', 'month', name='precision', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('old_status', sa.Enum('planned', 'in_progress', 'completed', name='old_status', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.Column('new_status', sa.Enum('planned', 'in_progress', 'completed', name='new_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('old_status IS NULL OR old_status <> new_status', name=op.f('ck_project_status_change_status_actually_changes')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_status_change_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_status_change'))
    )
    with op.batch_alter_table('project_status_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_status_change_project_id'), ['project_id'], unique=False)
        batch_op.create_index('ix_project_status_change_recent', ['changed_on', 'id'], unique=False)

    op.create_table('project_update',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('length(title) > 0', name=op.f('ck_project_update_title_not_empty')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_project_update_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_update'))
    )
    with op.batch_alter_table('project_update', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_update_project_id'), ['project_id'], unique=False)



def downgrade():
    with op.batch_alter_table('project_update', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_update_project_id'))

    op.drop_table('project_update')
    with op.batch_alter_table('project_status_change', schema=None) as batch_op:
        batch_op.drop_index('ix_project_status_change_recent')
        batch_op.drop_index(batch_op.f('ix_project_status_change_project_id'))

    op.drop_table('project_status_change')
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_status_changed_on'))
        batch_op.drop_index(batch_op.f('ix_project_status'))
        batch_op.drop_index(batch_op.f('ix_project_category_id'))

    op.drop_table('project')
    op.drop_table('category')
