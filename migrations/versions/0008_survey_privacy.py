"""Survey privacy: staged answer sets are sealed (AES-GCM) instead of stored as readable JSON.

Existing staged rows are encrypted in place with the key the app derives from SECRET_KEY
(kldialog.surveys.sealing: HKDF-SHA-256, the same purpose label), padded to 64 KiB; the
downgrade decrypts them again. Run it with the app's configuration (flask db upgrade).

Revision ID: 0008_survey_privacy
Revises: 0006_releases
Create Date: 2026-12-02
"""
import json
import os

from alembic import op
import sqlalchemy as sa
from flask import current_app


# revision identifiers, used by Alembic.
revision = '0008_survey_privacy'
down_revision = '0006_releases'
branch_labels = None
depends_on = None

PURPOSE = b"kldialog/surveys/staged-answer-sets/v1"
PAD = 64 * 1024


def _aead():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    secret = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(secret)
    return AESGCM(key)


def _hour_now():
    import time

    return int(time.time() // 3600)


def upgrade():
    with op.batch_alter_table('survey_staged_response', schema=None, table_kwargs={'sqlite_with_rowid': False}) as batch_op:
        batch_op.add_column(sa.Column('sealed', sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    table = sa.table('survey_staged_response', sa.column('id', sa.Uuid()),
                     sa.column('survey_id', sa.Integer()), sa.column('payload', sa.JSON()),
                     sa.column('sealed', sa.LargeBinary()))
    rows = conn.execute(sa.select(table.c.id, table.c.survey_id, table.c.payload)).all()
    if rows:
        aead = _aead()
        for row_id, survey_id, payload in rows:
            plain = json.dumps({"h": _hour_now(), "a": payload}, ensure_ascii=False,
                               separators=(",", ":")).encode("utf-8")
            plain += b" " * max(0, PAD - len(plain))
            nonce = os.urandom(12)
            sealed = b"\x01" + nonce + aead.encrypt(nonce, plain, f"survey:{survey_id}".encode())
            conn.execute(sa.update(table).where(table.c.id == row_id).values(sealed=sealed))
    with op.batch_alter_table('survey_staged_response', schema=None, table_kwargs={'sqlite_with_rowid': False}) as batch_op:
        batch_op.alter_column('sealed', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('payload')


def downgrade():
    with op.batch_alter_table('survey_staged_response', schema=None, table_kwargs={'sqlite_with_rowid': False}) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))
    conn = op.get_bind()
    table = sa.table('survey_staged_response', sa.column('id', sa.Uuid()),
                     sa.column('survey_id', sa.Integer()), sa.column('payload', sa.JSON()),
                     sa.column('sealed', sa.LargeBinary()))
    rows = conn.execute(sa.select(table.c.id, table.c.survey_id, table.c.sealed)).all()
    if rows:
        aead = _aead()
        for row_id, survey_id, sealed in rows:
            plain = aead.decrypt(sealed[1:13], sealed[13:], f"survey:{survey_id}".encode())
            content = json.loads(plain.decode("utf-8"))
            conn.execute(sa.update(table).where(table.c.id == row_id).values(payload=content["a"]))
    with op.batch_alter_table('survey_staged_response', schema=None, table_kwargs={'sqlite_with_rowid': False}) as batch_op:
        batch_op.alter_column('payload', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('sealed')
