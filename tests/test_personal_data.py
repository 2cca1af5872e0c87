"""Personal data across features: what a database file still holds after an account is erased."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog import create_app
from kldialog.auth import services as accounts
from kldialog.auth.models import Role
from kldialog.kernel.db import db
from kldialog.personal_data import services as personal_data

from .conftest import TEST_DATABASE_URL, base_config, login

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


# --- "My data" as a resident reads it ---------------------------------------------------------


def _resident_with_data(client: FlaskClient, make_user: Any, make_project: Any) -> None:
    """Log in a resident who turned on reply mail, follows a project and wrote a comment."""
    from .conftest import login

    project = make_project("Freies WLAN")
    login(client, make_user(Role.resident, name="Daten Dora", email="dora@example.org"))
    for path, data in (
        ("/account/notifications", {"notify_replies": "y"}),
        (f"/projects/{project.slug}/follow", {}),
        (f"/projects/{project.slug}/comments", {"body": "Bitte <b>schnell</b>!"}),
    ):
        assert client.post(path, data=data).status_code == 303, path


@pytest.mark.parametrize(
    ("language", "present", "absent"),
    [
        (
            "de",
            ["Ihr Konto", "Projekte, denen Sie folgen", "Ihre Kommentare", "Einwohner:in",
             "E-Mail bei Antworten", "Umfragen, an denen Sie teilgenommen haben", ">ja<",
             "Was wir nicht speichern", "nicht zurückgewinnen"],
            ["Your account", "argon2id hash, not included", ">yes<"],
        ),
        (
            "en",
            ["Your account", "Projects you follow", "Your comments", "resident",
             "E-mail about replies", "Surveys you took part in", ">yes<", "What we do not store"],
            ["Ihr Konto", "argon2id hash, not included"],
        ),
    ],
)  # fmt: skip
def test_my_data_reads_like_a_letter_not_a_dump(
    app: Flask,
    make_user: Any,
    make_project: Any,
    language: str,
    present: list[str],
    absent: list[str],
) -> None:
    from babel.dates import format_date

    client = app.test_client()
    _resident_with_data(client, make_user, make_project)
    with client.session_transaction() as session:
        session["lang"] = language
    page = client.get("/account/data").get_data(as_text=True)
    body = page[page.index("<main") :]
    for phrase in present:
        assert phrase in body, phrase
    for phrase in absent + ["True", "False", "None", "notify_replies", "['resident']", "data_care"]:
        assert phrase not in body, phrase
    assert "dora@example.org" in body
    assert "Bitte &lt;b&gt;schnell&lt;/b&gt;!" in body  # the comment's own words, escaped
    # Entries about a project are headed by its name, not by its web address.
    # (on the English page the German title is marked: <span lang="de">)
    headings = re.findall(
        r'<h3 class="kern-heading-small">(?:<span lang="de">)?([^<]*)(?:</span>)?</h3>', body
    )
    assert "Freies WLAN" in headings
    assert "freies-wlan" not in headings
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", body)  # no ISO timestamps
    assert not re.search(r"\d\d:\d\d:\d\d", body)  # nothing to the second
    today = dt.datetime.now(ZoneInfo("Europe/Berlin")).date()
    assert format_date(today, "long", locale=language) in body


def test_my_data_page_shows_the_reply_mail_choice(
    client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    """The choice is a plain yes/no section; the page used to index it like a list (500)."""
    user = make_user(notify_replies=True)
    login(client, user)
    response = client.get("/account/data")  # German, the default language
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r"E-Mail bei Antworten</h2>.*?<dd[^>]*>ja</dd>", page, re.S)


# --- PostgreSQL: a deleted account leaves no bytes in dead rows after the daily purge ----------


def _index_pages(conn: sa.Connection, table: str) -> bytes:
    """Return the raw bytes of every page of every index of a table (pageinspect)."""
    names = (
        conn.execute(
            sa.text(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = CAST(:t AS regclass)"
            ),
            {"t": table},
        )
        .scalars()
        .all()
    )
    raw = b""
    for name in names:
        blocks = conn.execute(
            sa.text("SELECT pg_relation_size(:i) / current_setting('block_size')::int"), {"i": name}
        ).scalar_one()
        for block in range(blocks):
            raw += conn.execute(
                sa.text("SELECT get_raw_page(:i, :b)"), {"i": name, "b": block}
            ).scalar_one()
    return raw


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs PostgreSQL (runs in .ci/run)")
def test_after_the_daily_purge_no_dead_row_holds_a_deleted_account(
    tmp_path: Path, database_url: str
) -> None:
    from .test_surveys_privacy import disposing, files_of, heap, horizon_settled, reader_app

    app = reader_app(tmp_path, database_url)
    email, name = "loesch.mich@example.org", "Lotte Löschbar"
    with app.app_context(), disposing():
        user = accounts.create_confirmed_user(
            email=email, password="correct horse battery staple", display_name=name, roles=[]
        )
        db.session.commit()
        personal_data.delete_account(user, "correct horse battery staple")
        tables = list(personal_data.PERSONAL_TABLES)
        before = files_of(tables)
        result = app.test_cli_runner().invoke(args=["maintenance", "purge"])
        assert result.exit_code == 0, result.output
        horizon_settled(tables, before)
        with db.engine.connect() as conn:
            rows = b"".join(bytes(i["t_data"] or b"") for i in heap(conn, "user_account"))
            indexes = _index_pages(conn, "user_account")
        for secret in (email.encode(), name.encode(), "lotte löschbar".encode()):
            assert secret not in rows
            assert secret not in indexes
