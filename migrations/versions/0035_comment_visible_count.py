"""An index that counts a thread's visible top-level comments without reading the rows.

Revision ID: 0035_comment_visible_count
Revises: 0034_survey_texts_en
Create Date: 2026-12-03
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0035_comment_visible_count"
down_revision = "0034_survey_texts_en"
branch_labels = None
depends_on = None


def upgrade():
    # Covers the page count of a discussion (thread, top level, status, the viewer's own
    # pending ones): 20,000 comments counted from the index alone.
    op.create_index(
        "ix_comment_thread_visible",
        "comment",
        ["thread_id", "parent_id", "status", "author_id"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_comment_thread_visible", table_name="comment")
