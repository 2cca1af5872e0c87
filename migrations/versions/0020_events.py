"""Events: dated participation offers, their related projects, and registrations.

event_registration holds an account id or, for visitors without an account, only an e-mail
address and a language; the rows are deleted the day after the event (flask events purge).
The CHECK capacity_holds keeps registered_count within the capacity.

Revision ID: 0020_events
Revises: 0008_survey_privacy
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_events'
down_revision = '0008_survey_privacy'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('place', sa.String(length=300), nullable=False),
    sa.Column('step_free', sa.Boolean(), nullable=False),
    sa.Column('hearing_loop', sa.Boolean(), nullable=False),
    sa.Column('sign_language', sa.Boolean(), nullable=False),
    sa.Column('accessibility_note', sa.String(length=500), nullable=False),
    sa.Column('online_url', sa.String(length=500), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('draft', 'published', 'cancelled', name='state', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('registered_count', sa.Integer(), nullable=False),
    sa.Column('waiting_count', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('cancel_reason', sa.Text(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('summary_published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("online_url = '' OR online_url LIKE 'https://%'", name=op.f('ck_event_online_https')),
    sa.CheckConstraint('capacity IS NULL OR capacity > 0', name=op.f('ck_event_capacity_positive')),
    sa.CheckConstraint('capacity IS NULL OR registered_count <= capacity', name=op.f('ck_event_capacity_holds')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_event_ends_after_start')),
    sa.CheckConstraint('length(place) > 0 OR length(online_url) > 0', name=op.f('ck_event_place_or_online')),
    sa.CheckConstraint('length(title) > 0', name=op.f('ck_event_title_not_empty')),
    sa.CheckConstraint('registered_count >= 0 AND waiting_count >= 0', name=op.f('ck_event_counts_not_negative')),
    sa.CheckConstraint('sequence >= 0', name=op.f('ck_event_sequence_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event')),
    sa.UniqueConstraint('uid', name=op.f('uq_event_uid'))
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_state_ends', ['state', 'ends_at'], unique=False)
        batch_op.create_index('ix_event_state_starts', ['state', 'starts_at'], unique=False)

    op.create_table('event_registration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('status', sa.Enum('pending', 'registered', 'waiting', name='status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(status = 'pending') = (joined_at IS NULL)", name=op.f('ck_event_registration_joined_when_counted')),
    sa.CheckConstraint("status <> 'pending' OR email IS NOT NULL", name=op.f('ck_event_registration_pending_by_email')),
    sa.CheckConstraint('(user_id IS NULL) <> (email IS NULL)', name=op.f('ck_event_registration_account_or_email')),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_event_registration_event_id_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_event_registration_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_registration')),
    sa.UniqueConstraint('event_id', 'email', name='uq_event_registration_email'),
    sa.UniqueConstraint('event_id', 'user_id', name='uq_event_registration_account')
    )
    with op.batch_alter_table('event_registration', schema=None) as batch_op:
        batch_op.create_index('ix_event_registration_queue', ['event_id', 'status', 'joined_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_registration_user_id'), ['user_id'], unique=False)

    op.create_table('event_project',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_event_project_event_id_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_event_project_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'project_id', name=op.f('pk_event_project'))
    )
    with op.batch_alter_table('event_project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_event_project_project_id'), ['project_id'], unique=False)



def downgrade():
    with op.batch_alter_table('event_project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_project_project_id'))

    op.drop_table('event_project')
    with op.batch_alter_table('event_registration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_event_registration_user_id'))
        batch_op.drop_index('ix_event_registration_queue')

    op.drop_table('event_registration')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_state_starts')
        batch_op.drop_index('ix_event_state_ends')

    op.drop_table('event')
