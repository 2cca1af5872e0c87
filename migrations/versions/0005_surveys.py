"""Surveys: sections, questions, options, participation, and the anonymous answer tables.

survey_staged_response, survey_response and survey_answer carry no person and no time, have
random UUID keys and are WITHOUT ROWID on SQLite, so their storage order follows the random key
(see kldialog/surveys/services.py and docs/privacy.md).

Revision ID: 0005_surveys
Revises: 0004_priorities
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_surveys'
down_revision = '0004_priorities'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('survey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('intro', sa.Text(), nullable=False),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('eligibility', sa.Enum('resident', 'verified', name='eligibility', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('state', sa.Enum('draft', 'published', name='state', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('participant_count', sa.Integer(), nullable=False),
    sa.Column('previous_version_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('results_snapshot', sa.JSON(), nullable=True),
    sa.CheckConstraint('closes_at > opens_at', name=op.f('ck_survey_window_positive')),
    sa.CheckConstraint('length(title) > 0', name=op.f('ck_survey_title_not_empty')),
    sa.CheckConstraint('participant_count >= 0', name=op.f('ck_survey_participant_count_positive')),
    sa.ForeignKeyConstraint(['previous_version_id'], ['survey.id'], name=op.f('fk_survey_previous_version_id_survey'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey'))
    )
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.create_index('ix_survey_state_closes', ['state', 'closes_at'], unique=False)

    op.create_table('survey_participation',
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('participated_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_participation_survey_id_survey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_survey_participation_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('survey_id', 'user_id', name=op.f('pk_survey_participation'))
    )
    with op.batch_alter_table('survey_participation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_participation_user_id'), ['user_id'], unique=False)

    op.create_table('survey_response',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_response_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_response')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.create_index('ix_survey_response_survey', ['survey_id'], unique=False)

    op.create_table('survey_section',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_section_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_section'))
    )
    with op.batch_alter_table('survey_section', schema=None) as batch_op:
        batch_op.create_index('ix_survey_section_survey', ['survey_id', 'position'], unique=False)

    op.create_table('survey_staged_response',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_staged_response_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_staged_response')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('survey_staged_response', schema=None) as batch_op:
        batch_op.create_index('ix_survey_staged_response_survey', ['survey_id'], unique=False)

    op.create_table('survey_project',
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_survey_project_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_project_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('survey_id', 'project_id', name=op.f('pk_survey_project'))
    )
    with op.batch_alter_table('survey_project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_project_project_id'), ['project_id'], unique=False)

    op.create_table('survey_question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('section_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('single', 'multiple', 'scale', 'ranking', 'yes_no', 'short_text', 'long_text', name='kind', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('help_text', sa.Text(), nullable=False),
    sa.Column('is_required', sa.Boolean(), nullable=False),
    sa.Column('min_choices', sa.Integer(), nullable=True),
    sa.Column('max_choices', sa.Integer(), nullable=True),
    sa.Column('scale_low_label', sa.String(length=80), nullable=False),
    sa.Column('scale_high_label', sa.String(length=80), nullable=False),
    sa.Column('has_other', sa.Boolean(), nullable=False),
    sa.Column('is_randomised', sa.Boolean(), nullable=False),
    sa.CheckConstraint("NOT is_randomised OR kind = 'yes_no'", name=op.f('ck_survey_question_randomised_yes_no')),
    sa.CheckConstraint('NOT (is_randomised AND is_required)', name=op.f('ck_survey_question_randomised_optional')),
    sa.CheckConstraint('length(text) > 0', name=op.f('ck_survey_question_text_not_empty')),
    sa.CheckConstraint('min_choices IS NULL OR max_choices IS NULL OR min_choices <= max_choices', name=op.f('ck_survey_question_choices_range')),
    sa.ForeignKeyConstraint(['section_id'], ['survey_section.id'], name=op.f('fk_survey_question_section_id_survey_section'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_question_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_question'))
    )
    with op.batch_alter_table('survey_question', schema=None) as batch_op:
        batch_op.create_index('ix_survey_question_section', ['section_id', 'position'], unique=False)
        batch_op.create_index('ix_survey_question_survey', ['survey_id'], unique=False)

    op.create_table('survey_option',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.CheckConstraint('length(label) > 0', name=op.f('ck_survey_option_label_not_empty')),
    sa.ForeignKeyConstraint(['question_id'], ['survey_question.id'], name=op.f('fk_survey_option_question_id_survey_question'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_option'))
    )
    with op.batch_alter_table('survey_option', schema=None) as batch_op:
        batch_op.create_index('ix_survey_option_question', ['question_id', 'position'], unique=False)

    op.create_table('survey_answer',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('response_id', sa.Uuid(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('option_id', sa.Integer(), nullable=True),
    sa.Column('number', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('review', sa.Enum('pending', 'published', 'rejected', name='review', native_enum=False, create_constraint=True, length=20), nullable=True),
    sa.CheckConstraint('(text IS NULL) = (review IS NULL)', name=op.f('ck_survey_answer_text_reviewed')),
    sa.ForeignKeyConstraint(['option_id'], ['survey_option.id'], name=op.f('fk_survey_answer_option_id_survey_option'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['survey_question.id'], name=op.f('fk_survey_answer_question_id_survey_question'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['response_id'], ['survey_response.id'], name=op.f('fk_survey_answer_response_id_survey_response'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_answer')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('survey_answer', schema=None) as batch_op:
        batch_op.create_index('ix_survey_answer_question', ['question_id', 'option_id', 'number'], unique=False)
        batch_op.create_index('ix_survey_answer_response', ['response_id'], unique=False)



def downgrade():
    with op.batch_alter_table('survey_answer', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_answer_response')
        batch_op.drop_index('ix_survey_answer_question')

    op.drop_table('survey_answer')
    with op.batch_alter_table('survey_option', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_option_question')

    op.drop_table('survey_option')
    with op.batch_alter_table('survey_question', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_question_survey')
        batch_op.drop_index('ix_survey_question_section')

    op.drop_table('survey_question')
    with op.batch_alter_table('survey_project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_project_project_id'))

    op.drop_table('survey_project')
    with op.batch_alter_table('survey_staged_response', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_staged_response_survey')

    op.drop_table('survey_staged_response')
    with op.batch_alter_table('survey_section', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_section_survey')

    op.drop_table('survey_section')
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_response_survey')

    op.drop_table('survey_response')
    with op.batch_alter_table('survey_participation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_participation_user_id'))

    op.drop_table('survey_participation')
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_state_closes')

    op.drop_table('survey')
