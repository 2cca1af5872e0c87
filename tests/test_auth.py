"""Accounts: registration, confirmation, login, passwords, e-mail change, my data, deletion."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog.auth import services as accounts
from kldialog.auth.models import Role, User
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db

from .conftest import PASSWORD, login

REGISTRATION = {
    "email": "Anna.Beispiel@Example.org",
    "display_name": "Anna B",
    "password": "drei kleine gelbe Hunde",
    "accept_terms": "y",
}


@pytest.fixture
def mail_app(app_factory: Callable[..., Flask]) -> Flask:
    """Return an app whose mail lands in the test's outbox folder."""
    return app_factory()


def link_in(message: Any, path: str) -> str:
    """Return the site-relative link to `path` in a mail body."""
    body = message.get_content()
    match = re.search(rf"http://localhost({re.escape(path)}\S+)", body)
    assert match, body
    return match.group(1)


def text(response: Any) -> str:
    """Return a response body as text."""
    return response.get_data(as_text=True)


def register_and_confirm(
    client: FlaskClient, outbox: Callable[[], list[Any]], **changes: str
) -> str:
    """Register through the form and confirm by the mailed link; return the e-mail address."""
    data = {**REGISTRATION, **changes}
    response = client.post("/register", data=data)
    assert response.status_code == 303, text(response)
    url = link_in(outbox()[-1], "/confirm/")
    assert client.post(url).status_code == 303
    return data["email"].lower()


# --- registration ----------------------------------------------------------------------------


def test_register_confirm_and_land_on_the_account_page(
    mail_app: Flask, outbox: Callable[[], list[Any]]
) -> None:
    client = mail_app.test_client()
    response = client.post("/register", data=REGISTRATION)
    assert response.headers["Location"] == "/register/check-mail"
    assert "anna.beispiel@example.org" in text(client.get("/register/check-mail"))
    (message,) = outbox()
    assert message["To"] == "anna.beispiel@example.org"
    url = link_in(message, "/confirm/")
    # Opening the link changes nothing: a mail scanner that follows links confirms no one.
    page = client.get(url)
    assert page.status_code == 200 and '<form method="post"' in text(page)
    with mail_app.app_context():
        user = db.session.scalar(sa.select(User))
        assert user.email_confirmed_at is None
        assert user.password_hash.startswith("$argon2id$")
        assert user.display_name == "Anna B" and user.roles == Role.resident
        assert user.accepted_terms_version == mail_app.config["TERMS_VERSION"]
    response = client.post(url)
    assert response.headers["Location"] == "/account"
    account = text(client.get("/account"))
    assert "Anna B" in account and "anna.beispiel@example.org" in account
    with mail_app.app_context():
        assert db.session.scalar(sa.select(User)).is_confirmed


def test_confirmation_link_works_once_and_rejects_tampering(
    mail_app: Flask, outbox: Callable[[], list[Any]]
) -> None:
    client = mail_app.test_client()
    client.post("/register", data=REGISTRATION)
    url = link_in(outbox()[0], "/confirm/")
    assert client.post(url).status_code == 303
    again = client.post(url)
    assert again.status_code == 400
    assert "bereits verwendet" in text(again)
    tampered = client.post(url[:-3] + "abc")
    assert tampered.status_code == 400
    assert client.post("/confirm/%00").status_code == 400


def test_expired_confirmation_link_says_so(
    mail_app: Flask, outbox: Callable[[], list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = mail_app.test_client()
    client.post("/register", data=REGISTRATION)
    url = link_in(outbox()[0], "/confirm/")
    import itsdangerous.timed

    real = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() + 49 * 3600)
    response = client.post(url)
    assert response.status_code == 400
    assert "abgelaufen" in text(response)


def test_registering_a_known_address_reveals_nothing(
    mail_app: Flask, outbox: Callable[[], list[Any]]
) -> None:
    client = mail_app.test_client()
    register_and_confirm(client, outbox)
    other = mail_app.test_client()
    response = other.post(
        "/register",
        data={
            **REGISTRATION,
            "display_name": "Jemand anderes",
            "password": "ganz anderes Passwort",
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == "/register/check-mail"
    last = outbox()[-1]
    assert last["To"] == "anna.beispiel@example.org"
    assert "/confirm/" not in last.get_content()  # a notice, not a second account
    with mail_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "", "Bitte geben Sie Ihre E-Mail-Adresse ein."),
        (
            "email",
            "not-an-address",
            "Bitte geben Sie eine E-Mail-Adresse wie name@example.org ein.",
        ),
        ("email", "a@" + "b" * 260 + ".de", "höchstens 254 Zeichen"),
        ("display_name", "", "Bitte wählen Sie einen Anzeigenamen."),
        ("display_name", "Al", "3 bis 30 Zeichen"),
        ("display_name", "x" * 31, "3 bis 30 Zeichen"),
        ("display_name", "anna@example.org", "darf keine E-Mail-Adresse"),
        ("display_name", "www.anna.de", "keine Internetadresse"),
        ("display_name", "<script>x</script>", "Bitte verwenden Sie nur Buchstaben"),
        ("display_name", "Anna\u202eB", "Bitte verwenden Sie nur Buchstaben"),
        ("password", "", "Bitte wählen Sie ein Passwort."),
        ("password", "kurz", "mindestens 12 Zeichen"),
        ("password", "qwerty123456", "zu verbreitet"),
        ("password", "123456654321", "zu verbreitet"),
        ("password", "aaaaaaaaaaaa", "zu verbreitet"),
        ("password", "anna.beispiel@example.org", "darf nicht Ihre E-Mail-Adresse"),
        ("accept_terms", "", "Bitte akzeptieren Sie die Nutzungsbedingungen"),
    ],
)
def test_registration_errors_are_shown_at_the_field_and_input_is_kept(
    mail_app: Flask, field: str, value: str, message: str
) -> None:
    data = {**REGISTRATION, field: value}
    if field == "accept_terms":
        data.pop("accept_terms")
    response = mail_app.test_client().post("/register", data=data)
    assert response.status_code == 200
    html = text(response)
    assert message in html
    assert "<title>Fehler: " in html
    assert 'class="kern-alert kern-alert--danger error-summary"' in html
    if field != "email":
        assert 'value="Anna.Beispiel@Example.org"' in html  # what was typed stays
    assert REGISTRATION["password"] not in html  # passwords are never sent back
    with mail_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_display_names_are_unique_regardless_of_case(
    mail_app: Flask, outbox: Callable[[], list[Any]]
) -> None:
    register_and_confirm(mail_app.test_client(), outbox)
    response = mail_app.test_client().post(
        "/register", data={**REGISTRATION, "email": "b@example.org", "display_name": "ANNA  b"}
    )
    assert response.status_code == 200 and "bereits vergeben" in text(response)


def test_unicode_display_names_are_welcome(
    mail_app: Flask, outbox: Callable[[], list[Any]]
) -> None:
    client = mail_app.test_client()
    register_and_confirm(client, outbox, display_name="Zoë Çelik-Öztürk")
    assert "Zoë Çelik-Öztürk" in text(client.get("/account"))


def test_double_submitted_registration_creates_one_account(
    mail_app: Flask, outbox: Callable[[], list[Any]]
) -> None:
    client = mail_app.test_client()
    client.post("/register", data=REGISTRATION)
    client.post("/register", data=REGISTRATION)
    with mail_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_oversize_registration_gets_413(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(MAX_CONTENT_LENGTH=2000)
    response = app.test_client().post(
        "/register", data={**REGISTRATION, "display_name": "x" * 5000}
    )
    assert response.status_code == 413


# --- login, logout, sessions ----------------------------------------------------------------


def test_wrong_password_and_unknown_address_get_the_same_answer(
    client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    wrong = client.post("/login", data={"email": user.email, "password": "falsches Passwort 1"})
    unknown = client.post("/login", data={"email": "nobody@example.org", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 200
    message = "E-Mail-Adresse oder Passwort ist nicht korrekt."
    assert message in text(wrong)
    assert message in text(unknown)
    assert 'value="nobody@example.org"' in text(unknown)


def test_login_is_case_insensitive_for_the_address_and_redirects_locally(
    client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    user = make_user(email="kim@example.org")
    response = client.post(
        "/login?next=/projects", data={"email": "KIM@Example.org ", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/projects"
    client.post("/logout")
    response = client.post(
        "/login?next=https://evil.example/", data={"email": user.email, "password": PASSWORD}
    )
    assert response.headers["Location"] == "/account"


def test_logout_needs_a_post(client: FlaskClient, make_user: Callable[..., Any]) -> None:
    login(client, make_user())
    assert client.get("/logout").status_code == 405
    assert client.get("/account").status_code == 200
    client.post("/logout")
    assert client.get("/account").status_code == 302


def test_account_pages_need_a_login(client: FlaskClient) -> None:
    for path in (
        "/account",
        "/account/data",
        "/account/data.json",
        "/account/delete",
        "/account/password",
        "/account/email",
        "/account/terms",
    ):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith(
            "/login?next="
        )


def test_deleted_or_rotated_sessions_are_not_accepted(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    phone, laptop = app.test_client(), app.test_client()
    login(phone, user)
    login(laptop, user)
    response = laptop.post(
        "/account/password",
        data={"current_password": PASSWORD, "password": "ein ganz neues Passwort"},
    )
    assert response.status_code == 303
    assert laptop.get("/account").status_code == 200  # this device stays logged in
    assert phone.get("/account").status_code == 302  # every other session ended


def test_remember_me_cookie_stops_working_after_a_password_reset(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    from kldialog.auth import services as accounts
    from kldialog.auth.sessions import REMEMBER_COOKIE

    user = make_user()
    client = app.test_client()
    client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    remember = client.get_cookie(REMEMBER_COOKIE)
    assert remember is not None
    with app.app_context():
        account = db.session.get(User, user.id)
        accounts.reset_password(
            accounts.make_token("reset", account, account.password_hash), "ein ganz neues Passwort"
        )
    fresh = app.test_client()
    fresh.set_cookie(REMEMBER_COOKIE, remember.value)
    assert fresh.get("/account").status_code == 302


# --- passwords ------------------------------------------------------------------------------------


def test_password_reset_round_trip(
    app_factory: Callable[..., Flask], outbox: Callable[[], list[Any]]
) -> None:
    app = app_factory()
    client = app.test_client()
    register_and_confirm(client, outbox)
    other_device = app.test_client()
    login(
        other_device,
        type("U", (), {"email": "anna.beispiel@example.org"}),
        REGISTRATION["password"],
    )
    client.post("/logout")
    response = client.post("/password/forgot", data={"email": "ANNA.beispiel@example.org"})
    assert response.status_code == 303
    url = link_in(outbox()[-1], "/password/reset/")
    assert client.get(url).status_code == 200
    weak = client.post(url, data={"password": "qwerty123456"})
    assert weak.status_code == 200
    assert "zu verbreitet" in text(weak)
    response = client.post(url, data={"password": "ein neues langes Passwort"})
    assert response.status_code == 303 and client.get("/account").status_code == 200
    assert other_device.get("/account").status_code == 302
    used = client.get(url)
    assert used.status_code == 400
    client.post("/logout")
    old = client.post(
        "/login", data={"email": "anna.beispiel@example.org", "password": REGISTRATION["password"]}
    )
    assert old.status_code == 200
    new = client.post(
        "/login",
        data={"email": "anna.beispiel@example.org", "password": "ein neues langes Passwort"},
    )
    assert new.status_code == 303


def test_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(
    mail_app: Flask, outbox: Callable[[], list[Any]]
) -> None:
    response = mail_app.test_client().post("/password/forgot", data={"email": "nobody@example.org"})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert outbox() == []


def test_change_password_requires_the_current_one(
    client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    login(client, make_user())
    response = client.post(
        "/account/password",
        data={"current_password": "falsch falsch", "password": "neues Passwort 123"},
    )
    assert response.status_code == 200
    assert "aktuelle Passwort" in text(response)


# --- e-mail change -------------------------------------------------------------------------


def test_change_email_takes_effect_only_after_confirmation(
    mail_app: Flask, outbox: Callable[[], list[Any]]
) -> None:
    client = mail_app.test_client()
    register_and_confirm(client, outbox)
    response = client.post(
        "/account/email", data={"email": "Neu@Example.org", "password": REGISTRATION["password"]}
    )
    assert response.status_code == 303
    message = outbox()[-1]
    assert message["To"] == "neu@example.org"
    with mail_app.app_context():
        user = db.session.scalar(sa.select(User))
        assert user.email == "anna.beispiel@example.org" and user.pending_email == "neu@example.org"
    url = link_in(message, "/account/email/confirm/")
    assert client.post(url).status_code == 303
    assert outbox()[-1]["To"] == "anna.beispiel@example.org"  # the old address is told
    with mail_app.app_context():
        user = db.session.scalar(sa.select(User))
        assert (user.email, user.pending_email) == ("neu@example.org", None)
    assert client.post(url).status_code == 400  # used


def test_change_email_to_a_taken_address_changes_nothing(
    mail_app: Flask, outbox: Callable[[], list[Any]], make_user: Callable[..., Any]
) -> None:
    client = mail_app.test_client()
    register_and_confirm(client, outbox)
    with mail_app.app_context():
        accounts.create_confirmed_user(
            email="taken@example.org", password=PASSWORD, display_name="Taken", roles=[]
        )
    client.post(
        "/account/email", data={"email": "taken@example.org", "password": REGISTRATION["password"]}
    )
    notice = outbox()[-1]
    assert notice["To"] == "taken@example.org"
    url = (
        link_in(notice, "/account/email/confirm/")
        if "/account/email/confirm/" in notice.get_content()
        else None
    )
    assert url is None  # the notice carries no link that could move the account
    with mail_app.app_context():
        assert db.session.scalar(sa.select(User).where(User.display_name == "Anna B")).email == (
            "anna.beispiel@example.org"
        )


# --- terms ------------------------------------------------------------------------------------


def test_new_terms_version_must_be_accepted_to_take_part(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    from kldialog import permissions

    user = make_user()
    login(client, user)
    app.config["TERMS_VERSION"] = "2099-01"
    with app.test_request_context():
        stored = db.session.get(User, user.id)
        assert not permissions.is_resident(stored)
    assert "/account/terms" in text(client.get("/account"))
    refused = client.post("/account/terms", data={})
    assert refused.status_code == 200 and "accept" in text(refused).lower()
    assert client.post("/account/terms", data={"accept_terms": "y"}).status_code == 303
    with app.test_request_context():
        assert permissions.is_resident(db.session.get(User, user.id))


# --- my data and deletion -------------------------------------------------------------------


def test_my_data_shows_and_exports_everything(
    client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    user = make_user(name="Daten Dora", email="dora@example.org")
    login(client, user)
    page = text(client.get("/account/data"))
    assert "dora@example.org" in page and "Daten Dora" in page
    response = client.get("/account/data.json")
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.get_data(as_text=True))
    assert data["account"]["email"] == "dora@example.org"
    assert data["account"]["display_name"] == "Daten Dora"
    assert data["account"]["roles"] == ["resident"]
    assert "$argon2" not in response.get_data(as_text=True)  # the hash itself is not exported


def all_text_in_database() -> str:
    """Return every value of every column of every table, as one string."""
    chunks = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).all():
            chunks.extend(str(value) for value in row)
    return "\n".join(chunks)


def test_deleting_the_account_erases_email_and_name_everywhere(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    user = make_user(name="Lösch Lotte", email="lotte@example.org")
    login(client, user)
    wrong = client.post("/account/delete", data={"password": "nicht das Passwort", "confirm": "y"})
    assert wrong.status_code == 200
    unconfirmed = client.post("/account/delete", data={"password": PASSWORD})
    assert unconfirmed.status_code == 200
    response = client.post("/account/delete", data={"password": PASSWORD, "confirm": "y"})
    assert response.status_code == 303
    assert client.get("/account").status_code == 302
    with app.app_context():
        everything = all_text_in_database().lower()
        for secret in ("lotte@example.org", "lösch lotte", "lösch", "lotte"):
            assert secret not in everything
        tombstone = db.session.get(User, user.id)
        assert tombstone.deleted_at is not None and tombstone.password_hash is None
        actions = db.session.scalars(sa.select(AuditEntry.action)).all()
        assert "account.delete" in actions
    again = client.post("/login", data={"email": "lotte@example.org", "password": PASSWORD})
    assert again.status_code == 200


def test_unconfirmed_accounts_are_purged_after_seven_days(
    mail_app: Flask, outbox: Callable[[], list[Any]]
) -> None:
    mail_app.test_client().post("/register", data=REGISTRATION)
    runner = mail_app.test_cli_runner()
    assert "Purged 0" in runner.invoke(args=["maintenance", "purge"]).output
    with mail_app.app_context():
        user = db.session.scalar(sa.select(User))
        user.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
        db.session.commit()
    assert "Purged 1" in runner.invoke(args=["maintenance", "purge"]).output
    with mail_app.app_context():
        assert "anna" not in all_text_in_database().lower()


# --- the command line ---------------------------------------------------------------------------


def test_cli_creates_admin_and_grants_and_revokes_roles(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "chef@example.org",
            "--name",
            "Chefin",
            "--role",
            "admin",
            "--password",
            PASSWORD,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "resident, admin" in result.output
    assert "staff" in runner.invoke(args=["users", "grant", "staff", "chef@example.org"]).output
    refused = runner.invoke(args=["users", "revoke", "admin", "chef@example.org"])
    assert refused.exit_code != 0 and "letzte Administrator" in refused.output
    assert runner.invoke(args=["users", "grant", "moderator", "nobody@example.org"]).exit_code != 0
    weak = runner.invoke(
        args=["users", "create", "x@example.org", "--name", "Xaver", "--password", "kurz"]
    )
    assert weak.exit_code != 0
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions == ["account.create", "role.grant"]


# --- rate limits ------------------------------------------------------------------------------


def test_login_is_rate_limited_by_a_hashed_address(app_factory: Callable[..., Flask]) -> None:
    from kldialog.kernel.extensions import limiter

    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    for _ in range(3):
        assert (
            client.post("/login", data={"email": "a@example.org", "password": "x" * 10}).status_code
            == 200
        )
    blocked = client.post("/login", data={"email": "a@example.org", "password": "x" * 10})
    assert blocked.status_code == 429
    assert "Zu viele Anfragen" in text(blocked)
    assert client.get("/login").status_code == 200  # reading the form is not limited
    keys = " ".join(str(key) for key in getattr(limiter.storage, "storage", {}))
    assert keys and "127.0.0.1" not in keys


# --- mail delivery --------------------------------------------------------------------------------


def test_mail_goes_through_a_real_smtp_server(app_factory: Callable[..., Flask]) -> None:
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    from aiosmtpd.handlers import Message

    received: list[Any] = []

    class Collect(Message):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = aiosmtpd.Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False)
        app.test_client().post("/register", data=REGISTRATION)
    finally:
        controller.stop()
    (message,) = received
    assert message["To"] == "anna.beispiel@example.org"
    assert "/confirm/" in message.get_payload(decode=True).decode()


def test_production_passwords_use_argon2id_with_the_recommended_cost(
    app_factory: Callable[..., Flask],
) -> None:
    from kldialog.config import DefaultConfig

    app = app_factory(
        ARGON2_TIME_COST=DefaultConfig.ARGON2_TIME_COST,
        ARGON2_MEMORY_COST=DefaultConfig.ARGON2_MEMORY_COST,
        ARGON2_PARALLELISM=DefaultConfig.ARGON2_PARALLELISM,
    )
    with app.app_context():
        digest = accounts.hash_password("ein langes Passwort")
        assert digest.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        user = User(password_hash=accounts._hasher_for(1, 8, 1).hash("ein langes Passwort"))
        assert accounts.check_password(user, "ein langes Passwort")
        assert "m=65536,t=3,p=4" in user.password_hash  # weaker hashes are upgraded at login


# --- password length (ASVS 2.1.1) ------------------------------------------------------------

ELEVEN = "Hund Katze!"  # 11 characters, not on the common list
TWELVE = "Hund Katze!!"


def test_new_passwords_need_twelve_characters_everywhere(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    assert app.config["PASSWORD_MIN_LENGTH"] == 12
    with app.test_request_context():
        assert accounts.password_problem(ELEVEN) == "Bitte verwenden Sie mindestens 12 Zeichen."
        assert accounts.password_problem(TWELVE) is None
    client = app.test_client()
    register = client.post(
        "/register",
        data={
            "email": "neu@example.org",
            "display_name": "Neu",
            "password": ELEVEN,
            "accept_terms": "y",
        },
    )
    assert register.status_code == 200
    assert "mindestens 12 Zeichen" in register.get_data(as_text=True)
    user = make_user()
    login(client, user)
    change = client.post(
        "/account/password", data={"current_password": PASSWORD, "password": ELEVEN}
    )
    assert change.status_code == 200
    assert "mindestens 12 Zeichen" in change.get_data(as_text=True)
    with app.app_context():
        stored = db.session.get(User, user.id)
        assert accounts.check_password(stored, PASSWORD)  # unchanged


def test_an_older_shorter_password_still_logs_in(app: Flask, make_user: Callable[..., Any]) -> None:
    user = make_user()
    with app.app_context():
        stored = db.session.get(User, user.id)
        stored.password_hash = accounts.hash_password("zehnZeiche")  # 10: the old minimum
        db.session.commit()
    client = app.test_client()
    login(client, user, password="zehnZeiche")
    assert client.get("/account").status_code == 200
