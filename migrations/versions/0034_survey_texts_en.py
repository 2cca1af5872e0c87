"""Optional English texts for survey pages' headings, questions' help texts and scale labels.

NULL means "not translated": the English pages show the German text, marked lang="de".

Revision ID: 0034_survey_texts_en
Revises: 0033_kiosk
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0034_survey_texts_en"
down_revision = "0033_kiosk"
branch_labels = None
depends_on = None

# table -> (column, type) of every English text; each has a "NULL or not empty" check.
COLUMNS = {
    "survey_section": (("title_en", sa.String(length=200)),),
    "survey_question": (
        ("help_text_en", sa.Text()),
        ("scale_low_label_en", sa.String(length=80)),
        ("scale_high_label_en", sa.String(length=80)),
    ),
}


def _check(table, name):
    return f"ck_{table}_{name}_not_empty", f"{name} IS NULL OR length({name}) > 0"


# SQLite: ALTER TABLE ADD COLUMN with the check on the column itself, which rebuilds nothing.
# Going down, a later batch migration may have turned that check into a table constraint,
# which DROP COLUMN refuses; batch mode rebuilds the table without both (migrations/env.py
# turns foreign keys off for it, so no rows cascade away).
def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, columns in COLUMNS.items():
        for name, type_ in columns:
            constraint, rule = _check(table, name)
            if sqlite:
                sql_type = type_.compile(dialect=op.get_bind().dialect)
                op.execute(
                    f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}"
                    f" CONSTRAINT {constraint} CHECK ({rule})"
                )
            else:
                op.add_column(table, sa.Column(name, type_, nullable=True))
                op.create_check_constraint(op.f(constraint), table, rule)


def downgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, columns in COLUMNS.items():
        for name, _type in reversed(columns):
            constraint = _check(table, name)[0]
            if sqlite:
                with op.batch_alter_table(table) as batch_op:
                    batch_op.drop_constraint(op.f(constraint), type_="check")
                    batch_op.drop_column(name)
            else:
                op.drop_constraint(op.f(constraint), table, type_="check")
                op.drop_column(table, name)
