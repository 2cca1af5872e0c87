"""Indexes for a discussion's top-level comments: its pages in order, and its count.

PostgreSQL does not read an index in order past `parent_id IS NULL` (not an equality), so the
first page of a 20,000-comment discussion sorted all of them; partial indexes on top-level
comments let it walk the thread in order and count from the index alone.

Revision ID: 0035_comment_visible_count
Revises: 0034_survey_texts_en
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0035_comment_visible_count"
down_revision = "0034_survey_texts_en"
branch_labels = None
depends_on = None

TOP_LEVEL = "parent_id IS NULL"
INDEXES = {
    "ix_comment_top_recent": ["thread_id", "created_at", "id"],
    "ix_comment_top_supported": ["thread_id", "support_count", "id"],
    # parent_id too (always NULL here): SQLite counts from the index only if it holds it.
    "ix_comment_top_visible": ["thread_id", "status", "author_id", "parent_id"],
}


def upgrade():
    for name, columns in INDEXES.items():
        op.create_index(
            name,
            "comment",
            columns,
            unique=False,
            sqlite_where=sa.text(TOP_LEVEL),
            postgresql_where=sa.text(TOP_LEVEL),
        )


def downgrade():
    for name in INDEXES:
        op.drop_index(name, table_name="comment")
