"""Optional English texts: categories, projects and their updates, rounds, surveys, questions.

NULL means "not translated": the English pages show the German text, marked lang="de".

Revision ID: 0030_english
Revises: 0029_mfa
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0030_english"
down_revision = "0029_mfa"
branch_labels = None
depends_on = None

# table -> (column, type) of every English text; each has a "NULL or not empty" check.
COLUMNS = {
    "category": (("name_en", sa.String(length=120)),),
    "project": (
        ("title_en", sa.String(length=300)),
        ("summary_en", sa.Text()),
        ("description_en", sa.Text()),
    ),
    "project_update": (
        ("title_en", sa.String(length=300)),
        ("body_en", sa.Text()),
    ),
    "survey_question": (("text_en", sa.Text()),),
    "survey_option": (("label_en", sa.String(length=200)),),
    "priority_round": (
        ("title_en", sa.String(length=200)),
        ("explanation_en", sa.Text()),
    ),
    "survey": (
        ("title_en", sa.String(length=200)),
        ("intro_en", sa.Text()),
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
