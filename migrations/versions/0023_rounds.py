"""Rounds and ratings publish releases: seed them from the current data.

Running totals and indicator means are now read from stored releases (disclosure_release)
that move only after at least k contributions. Without a first release, every mean and every
running total already on the site would disappear until k more people took part; this
releases today's figures once, where at least 5 (the default minimum group size) stand behind
them. No schema change.

Revision ID: 0023_rounds
Revises: 0020_events
Create Date: 2026-12-02
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023_rounds'
down_revision = '0020_events'
branch_labels = None
depends_on = None

K = 5

release = sa.table(
    'disclosure_release',
    sa.column('key', sa.String),
    sa.column('n', sa.Integer),
    sa.column('payload', sa.JSON),
    sa.column('pending', sa.Integer),
    sa.column('epsilon_spent', sa.Float),
    sa.column('released_on', sa.Date),
)


def upgrade():
    bind = op.get_bind()
    today = dt.datetime.now(dt.UTC).date()
    existing = set(bind.execute(sa.text('SELECT key FROM disclosure_release')).scalars())
    counts: dict[str, dict[str, int]] = {}
    for project_id, indicator, score, count in bind.execute(
        sa.text(
            'SELECT project_id, indicator, score, count(*) FROM project_rating'
            ' GROUP BY project_id, indicator, score'
        )
    ):
        counts.setdefault(f'rating:{project_id}:{indicator}', {})[str(score)] = count
    rows = [
        {'key': key, 'n': sum(c.values()), 'payload': {'counts': c}, 'pending': 0,
         'epsilon_spent': 0.0, 'released_on': today}
        for key, c in counts.items()
        if sum(c.values()) >= K and key not in existing
    ]  # fmt: skip
    totals: dict[int, dict[str, list[int]]] = {}
    ballots = dict(
        bind.execute(
            sa.text(
                'SELECT r.id, r.ballot_count FROM priority_round r'
                ' LEFT JOIN round_result x ON x.round_id = r.id WHERE x.round_id IS NULL'
            )
        ).all()
    )
    for round_id, project_id, supporters, points in bind.execute(
        sa.text('SELECT round_id, project_id, supporters, points FROM round_project')
    ):
        if round_id in ballots:
            totals.setdefault(round_id, {})[str(project_id)] = [supporters, points]
    rows += [
        {'key': f'round:{round_id}:totals', 'n': ballots[round_id], 'payload': {'totals': t},
         'pending': 0, 'epsilon_spent': 0.0, 'released_on': today}
        for round_id, t in totals.items()
        if ballots[round_id] >= K and f'round:{round_id}:totals' not in existing
    ]  # fmt: skip
    if rows:
        op.bulk_insert(release, rows)


def downgrade():
    op.execute(
        sa.text('DELETE FROM disclosure_release WHERE key LIKE :ratings OR key LIKE :totals')
        .bindparams(ratings='rating:%', totals='round:%:totals')
    )
