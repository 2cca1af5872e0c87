"""Personal data across features: what a database file still holds after an account is erased."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog import create_app
from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.personal_data import services as personal_data

from .conftest import base_config, login

PASSWORD = "correct horse battery staple"


def test_sqlite_file_holds_no_bytes_of_an_erased_account(tmp_path: Path) -> None:
    path = tmp_path / "erase.sqlite"
    app: Flask = create_app(base_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"))
    email = "zzerasure.marker.4711@example.org"
    name = "Quendolin Marker"
    with app.app_context():
        db.create_all()
        user = accounts.create_confirmed_user(
            email=email, password=PASSWORD, display_name=name, roles=[Role.resident]
        )
        personal_data.delete_account(user, PASSWORD)
        assert db.session.scalar(sa.text("PRAGMA secure_delete")) == 1
        db.engine.dispose()
    raw = path.read_bytes()
    # The row, the unique index on the address and the folded name index held these bytes.
    assert email.encode() not in raw
    assert name.encode() not in raw
    assert name.casefold().encode() not in raw


def test_my_data_page_shows_the_reply_mail_choice(
    client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    """The choice is a plain yes/no section; the page used to index it like a list (500)."""
    user = make_user(notify_replies=True)
    login(client, user)
    response = client.get("/account/data")  # German, the default language
    assert response.status_code == 200
    heading = "Mir eine E-Mail senden, wenn jemand auf meine Kommentare antwortet"
    assert re.search(heading + r"</h2>\s*<p[^>]*>Ja</p>", response.get_data(as_text=True))
