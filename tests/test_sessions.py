"""Sessions: logout ends them server-side, remember-me tokens are per login, hashed, revocable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog.auth import services as accounts
from kldialog.auth.models import RememberToken
from kldialog.auth.sessions import REMEMBER_COOKIE, hash_remember_token
from kldialog.kernel.db import db
from kldialog.personal_data import services as personal_data

from .conftest import PASSWORD, login


def log_in(client: FlaskClient, user: Any, *, remember: bool) -> None:
    data = {"email": user.email, "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    assert response.status_code == 303


def cookies_of(client: FlaskClient) -> dict[str, str]:
    return {cookie.key: cookie.value for cookie in client._cookies.values()}


def replay(app: Flask, cookies: dict[str, str]) -> FlaskClient:
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


def session_of(app: Flask, client: FlaskClient) -> dict[str, Any]:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return dict(app.session_interface.get_signing_serializer(app).loads(cookie.value))


def test_logout_without_stay_logged_in_ends_the_session(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    client = app.test_client()
    log_in(client, user, remember=False)
    assert client.get("/account").status_code == 200
    assert client.post("/logout").status_code == 303
    assert client.get("/account").status_code == 302


def test_logout_with_stay_logged_in_ends_the_session_and_the_cookie(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    client = app.test_client()
    log_in(client, user, remember=True)
    assert client.get_cookie(REMEMBER_COOKIE) is not None
    response = client.post("/logout")
    assert REMEMBER_COOKIE in " ".join(response.headers.getlist("Set-Cookie"))
    assert client.get_cookie(REMEMBER_COOKIE) is None
    assert client.get("/account").status_code == 302
    assert client.get("/").status_code == 200
    assert client.get("/account").status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RememberToken)) == 0


def test_cookies_copied_before_logout_do_not_work_after_it(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    client = app.test_client()
    log_in(client, user, remember=True)
    copied = cookies_of(client)
    assert REMEMBER_COOKIE in copied
    assert replay(app, copied).get("/account").status_code == 200  # the copy works before
    client.post("/logout")
    assert replay(app, copied).get("/account").status_code == 302
    # Each cookie on its own, too: the session cookie, and the remember-me cookie.
    session_only = {k: v for k, v in copied.items() if k != REMEMBER_COOKIE}
    assert replay(app, session_only).get("/account").status_code == 302
    assert (
        replay(app, {REMEMBER_COOKIE: copied[REMEMBER_COOKIE]}).get("/account").status_code == 302
    )


def test_stay_logged_in_survives_the_end_of_the_browser_session(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    client = app.test_client()
    log_in(client, user, remember=True)
    browser_restarted = replay(app, {REMEMBER_COOKIE: client.get_cookie(REMEMBER_COOKIE).value})
    assert browser_restarted.get("/account").status_code == 200
    assert browser_restarted.get("/account").status_code == 200  # now from its new session


def test_remember_token_is_fresh_per_login_and_stored_only_hashed(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    first, second = app.test_client(), app.test_client()
    log_in(first, user, remember=True)
    log_in(second, user, remember=True)
    one, two = first.get_cookie(REMEMBER_COOKIE).value, second.get_cookie(REMEMBER_COOKIE).value
    assert one != two
    assert str(user.id) not in (one.split(":")[0], two.split(":")[0])
    with app.app_context():
        hashes = set(db.session.scalars(sa.select(RememberToken.token_hash)))
    assert hashes == {hash_remember_token(one), hash_remember_token(two)}
    assert one not in hashes


def test_log_out_everywhere_ends_another_clients_session_and_tokens(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    phone, library, laptop = app.test_client(), app.test_client(), app.test_client()
    log_in(phone, user, remember=True)
    log_in(library, user, remember=False)
    log_in(laptop, user, remember=True)
    assert phone.get("/account").status_code == 200  # back through its remember-me token
    assert "/account/logout-everywhere" in phone.get("/account").get_data(as_text=True)
    response = phone.post("/account/logout-everywhere")
    assert response.status_code == 303
    assert library.get("/account").status_code == 302
    assert laptop.get("/account").status_code == 302
    assert phone.get("/account").status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RememberToken)) == 0


def test_log_out_everywhere_needs_csrf_and_a_post(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        accounts.create_confirmed_user(
            email="csrf@example.org", password=PASSWORD, display_name="Csrf", roles=[]
        )
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        "/login", data={"email": "csrf@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    assert client.get("/account/logout-everywhere").status_code == 405
    assert client.post("/account/logout-everywhere").status_code == 400
    assert client.get("/account").status_code == 200


def test_session_holds_no_ip_or_user_agent_hash(app: Flask, make_user: Callable[..., Any]) -> None:
    user = make_user()
    client = app.test_client()
    log_in(client, user, remember=False)
    assert "_id" not in session_of(app, client)
    restarted = replay(app, {})
    other = app.test_client()
    log_in(other, user, remember=True)
    restarted.set_cookie(REMEMBER_COOKIE, other.get_cookie(REMEMBER_COOKIE).value)
    assert restarted.get("/account").status_code == 200
    assert "_id" not in session_of(app, restarted)


def test_password_change_ends_remember_tokens(app: Flask, make_user: Callable[..., Any]) -> None:
    user = make_user()
    phone, laptop = app.test_client(), app.test_client()
    log_in(phone, user, remember=True)
    token = phone.get_cookie(REMEMBER_COOKIE).value
    login(laptop, user)
    laptop.post(
        "/account/password",
        data={"current_password": PASSWORD, "password": "ein ganz neues Passwort"},
    )
    assert replay(app, {REMEMBER_COOKIE: token}).get("/account").status_code == 302


def test_remember_tokens_are_exported_and_erased_with_the_account(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    client = app.test_client()
    log_in(client, user, remember=True)
    with app.app_context():
        account = db.session.get(type(user), user.id)
        exported = personal_data.export_user_data(account)
        assert len(exported["remember_me_tokens"]) == 1
        personal_data.delete_account(account, PASSWORD)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RememberToken)) == 0


def test_a_login_ends_session_cookies_issued_before_it(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    library = app.test_client()
    log_in(library, user, remember=False)
    left_behind = cookies_of(library)
    log_in(app.test_client(), user, remember=False)  # the next login, anywhere
    assert replay(app, left_behind).get("/account").status_code == 302


def test_a_remember_token_expires_after_its_days(app: Flask, make_user: Callable[..., Any]) -> None:
    import datetime as dt

    user = make_user()
    client = app.test_client()
    log_in(client, user, remember=True)
    token = client.get_cookie(REMEMBER_COOKIE).value
    days = app.config["REMEMBER_COOKIE_DURATION"] // 86400
    with app.app_context():
        row = db.session.scalar(sa.select(RememberToken))
        row.created_on = row.created_on - dt.timedelta(days=days + 1)
        db.session.commit()
    assert replay(app, {REMEMBER_COOKIE: token}).get("/account").status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RememberToken)) == 0


def test_flask_logins_old_remember_cookie_is_deleted_and_does_not_block_ours(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    client = app.test_client()
    log_in(client, user, remember=True)
    browser = replay(app, {REMEMBER_COOKIE: client.get_cookie(REMEMBER_COOKIE).value})
    browser.set_cookie("remember_token", f"{user.id}:{'0' * 32}|forged")
    assert browser.get("/account").status_code in (200, 302)
    assert browser.get_cookie("remember_token") is None
    assert browser.get("/account").status_code == 200


def test_a_password_change_is_mailed_to_the_owner(
    app: Flask, make_user: Callable[..., Any], outbox: Callable[[], list[Any]]
) -> None:
    user = make_user()
    client = app.test_client()
    login(client, user)
    response = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "password": "ein ganz neues Passwort"},
    )
    assert response.status_code == 303
    notices = [m for m in outbox() if m["To"] == user.email]
    assert [m["Subject"] for m in notices] == ["Ihr Passwort wurde geändert"]
    assert "/password/forgot" in notices[0].get_content()


# --- absolute lifetime, cookie names ---------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        import datetime as dt

        self.now = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> Any:
        return self.now

    def advance(self, **delta: float) -> None:
        import datetime as dt

        self.now += dt.timedelta(**delta)


def _frozen(monkeypatch: Any) -> _Clock:
    from kldialog.auth import sessions, views

    clock = _Clock()
    monkeypatch.setattr(sessions, "utcnow", clock)
    monkeypatch.setattr(views, "utcnow", clock)
    return clock


def test_a_login_ends_after_the_absolute_lifetime_whatever_the_activity(
    app: Flask, make_user: Callable[..., Any], monkeypatch: Any
) -> None:
    clock = _frozen(monkeypatch)
    user = make_user()
    client = app.test_client()
    log_in(client, user, remember=False)
    for _hour in range(11):  # busy all day: every request within minutes of the last
        clock.advance(hours=1)
        assert client.get("/account").status_code == 200
    clock.advance(minutes=59)
    assert client.get("/account").status_code == 200
    clock.advance(minutes=2)  # 12 h and 1 minute after the login
    assert client.get("/account").status_code == 302


def test_a_session_without_a_start_time_is_not_logged_in(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    user = make_user()
    client = app.test_client()
    with app.app_context():
        token = db.session.get(type(user), user.id).session_token
    with client.session_transaction() as stored:
        stored["_user_id"] = f"{user.id}:{token}"  # as cookies made before the check carried
    assert client.get("/account").status_code == 302


def test_stay_logged_in_starts_a_new_login_until_the_token_expires(
    app: Flask, make_user: Callable[..., Any], monkeypatch: Any
) -> None:
    clock = _frozen(monkeypatch)
    user = make_user()
    client = app.test_client()
    log_in(client, user, remember=True)
    clock.advance(hours=13)  # the session is over, the token starts a new one
    assert client.get("/account").status_code == 200
    assert session_of(app, client)["login_at"] == int(clock.now.timestamp())
    clock.advance(days=29)  # 29 days and 13 hours after it was made: still good
    assert client.get("/account").status_code == 200
    clock.advance(days=1)  # 30 days and 13 hours: the token is over too
    assert client.get("/account").status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RememberToken)) == 0


def test_cookies_get_the_host_prefix_over_https_only(
    app_factory: Callable[..., Flask], make_user: Callable[..., Any]
) -> None:
    plain = app_factory()
    assert plain.config["SESSION_COOKIE_NAME"] == "kldialog_session"
    secure = app_factory(SESSION_COOKIE_SECURE=True)
    assert secure.config["SESSION_COOKIE_NAME"] == "__Host-kldialog_session"
    assert secure.config["REMEMBER_COOKIE_SECURE"] is True
    with secure.app_context():
        from kldialog.auth import services as accounts

        user = accounts.create_confirmed_user(
            email="h@example.org", password=PASSWORD, display_name="Host", roles=[]
        )
        email = user.email
    client = secure.test_client()
    https = {"base_url": "https://localhost"}
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "remember": "y"}, **https
    )
    assert response.status_code == 303
    set_cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in set_cookies if c.startswith("__Host-kldialog_session="))
    remember_cookie = next(c for c in set_cookies if c.startswith("__Host-kldialog_remember="))
    for cookie in (session_cookie, remember_cookie):
        assert "Secure" in cookie
        assert "Path=/" in cookie
        assert "Domain" not in cookie
    assert client.get("/account", **https).status_code == 200
    assert client.post("/logout", **https).status_code == 303
    assert client.get("/account", **https).status_code == 302
