"""Two-factor login (ASVS 4.3.1): enrolment, the second step, replay, recovery, throttle, reset."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import AnyConverter

from kldialog.auth import mfa, mfa_views, sessions, views
from kldialog.auth.models import MfaRecoveryCode, Role, User
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db
from kldialog.personal_data import services as personal_data

from .conftest import PASSWORD, login

START = dt.datetime(2026, 12, 3, 10, 0, 0, tzinfo=dt.UTC)


class Clock:
    """The application's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)

    def step(self) -> int:
        return int(self.now.timestamp()) // 30


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze kernel.time.utcnow where the login code reads it."""
    now = Clock()
    for module in (mfa, mfa_views, sessions, views):
        monkeypatch.setattr(module, "utcnow", now)
    return now


@pytest.fixture
def mfa_app(app_factory: Callable[..., Flask]) -> Flask:
    """Return an app that requires the second factor for admin and staff, as production does."""
    return app_factory(MFA_REQUIRED_ROLES=("admin", "staff"), BABEL_DEFAULT_LOCALE="en")


@pytest.fixture
def make(mfa_app: Flask) -> Callable[..., User]:
    """Return a factory for confirmed accounts on mfa_app."""
    from kldialog.auth import services as accounts

    counter = iter(range(1, 1000))

    def create(*roles: Role) -> User:
        number = next(counter)
        with mfa_app.app_context():
            user = accounts.create_confirmed_user(
                email=f"p{number}@example.org",
                password=PASSWORD,
                display_name=f"Person {number}",
                roles=list(roles),
            )
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return create


def page(response: Any) -> str:
    return response.get_data(as_text=True)


def english(client: FlaskClient) -> FlaskClient:
    with client.session_transaction() as stored:
        stored["lang"] = "en"
    return client


def enrol(client: FlaskClient, clock: Clock) -> tuple[str, list[str]]:
    """Set up the second factor through the pages; return the secret and the recovery codes."""
    setup = client.get("/account/two-factor")
    assert setup.status_code == 200
    match = re.search(r'<code class="mfa-secret" id="mfa-secret">([A-Z2-7 ]+)</code>', page(setup))
    assert match is not None
    secret = match.group(1).replace(" ", "")
    code = pyotp.TOTP(secret).at(clock.now)
    response = client.post("/account/two-factor", data={"code": code})
    assert response.status_code == 303
    assert response.location.endswith("/account/two-factor/recovery-codes")
    codes = re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", page(client.get(response.location)))
    return secret, codes


def password_step(client: FlaskClient, user: User, **extra: str) -> Any:
    return client.post("/login", data={"email": user.email, "password": PASSWORD, **extra})


def second_step(client: FlaskClient, code: str) -> Any:
    return client.post("/login/code", data={"code": code})


@pytest.fixture
def enrolled(
    mfa_app: Flask, make: Callable[..., User], clock: Clock
) -> tuple[User, str, list[str]]:
    """Return a staff account that has set up the second factor, its secret and codes."""
    user = make(Role.staff)
    client = english(mfa_app.test_client())
    login(client, user)
    secret, codes = enrol(client, clock)
    return user, secret, codes


# --- enrolment -------------------------------------------------------------------------------


def test_enrolment_shows_an_inline_qr_code_and_the_key_as_text(
    mfa_app: Flask, make: Callable[..., User], clock: Clock
) -> None:
    user = make()
    client = english(mfa_app.test_client())
    login(client, user)
    text = page(client.get("/account/two-factor"))
    svg = text[text.index("<svg") : text.index("</svg>")]
    assert "<title>QR code for your authenticator app</title>" in svg
    assert svg.startswith('<svg role="img" aria-label="QR code for your authenticator app" ')
    assert "href=" not in svg  # nothing loaded from elsewhere
    assert 'id="mfa-secret"' in text
    assert "Key for typing in by hand" in text
    # The key stays the same across page loads until it is confirmed (sealed in the session).
    again = page(client.get("/account/two-factor"))
    assert re.findall(r'id="mfa-secret">([^<]+)<', text) == re.findall(
        r'id="mfa-secret">([^<]+)<', again
    )


def test_enrolment_needs_a_correct_first_code_and_shows_ten_codes_once(
    mfa_app: Flask, make: Callable[..., User], clock: Clock
) -> None:
    user = make()
    client = english(mfa_app.test_client())
    login(client, user)
    wrong = client.post("/account/two-factor", data={"code": "12345"})
    assert wrong.status_code == 200
    assert "This code is not correct" in page(wrong)
    secret, codes = enrol(client, clock)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5}", code) for code in codes)
    # Shown once: the page then sends back to the settings.
    assert client.get("/account/two-factor/recovery-codes").status_code == 302
    assert "Two-factor login is on since" in page(client.get("/account/two-factor"))
    assert client.get("/account").status_code == 200  # this session goes on
    with mfa_app.app_context():
        stored = db.session.get(User, user.id)
        assert stored.mfa_secret_sealed is not None
        assert secret.encode() not in stored.mfa_secret_sealed  # never plaintext
        assert mfa.secret_of(stored) == secret
        hashes = db.session.scalars(
            sa.select(MfaRecoveryCode.code_hash).where(MfaRecoveryCode.user_id == user.id)
        ).all()
        assert len(hashes) == 10
        assert not {code.replace("-", "") for code in codes} & set(hashes)
        actions = db.session.scalars(sa.select(AuditEntry.action)).all()
        assert "mfa.enable" in actions


def test_the_sealed_secret_opens_only_for_its_account_and_key(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]]
) -> None:
    user, secret, _codes = enrolled
    with mfa_app.app_context():
        stored = db.session.get(User, user.id)
        other = User(id=user.id + 1, mfa_secret_sealed=stored.mfa_secret_sealed)
        with pytest.raises(mfa.secretbox.SecretBoxError):
            mfa.secret_of(other)
        mfa_app.config["SECRET_KEY"] = "another-key-another-key-another-key"
        with pytest.raises(mfa.secretbox.SecretBoxError):
            mfa.secret_of(stored)


def test_a_secret_that_no_longer_opens_refuses_codes_without_an_error(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    user, secret, codes = enrolled
    mfa_app.config["SECRET_KEY"] = "a-new-key-without-the-old-one-as-fallback"
    client = english(mfa_app.test_client())
    password_step(client, user)
    clock.advance(seconds=30)
    response = second_step(client, pyotp.TOTP(secret).at(clock.now))
    assert response.status_code == 200
    assert "This code is not correct or has already been used" in page(response)


def test_enabling_ends_the_other_sessions(
    mfa_app: Flask, make: Callable[..., User], clock: Clock
) -> None:
    user = make()
    other_device = mfa_app.test_client()
    login(other_device, user)
    client = english(mfa_app.test_client())
    login(client, user)
    enrol(client, clock)
    assert other_device.get("/account").status_code == 302
    assert client.get("/account").status_code == 200


# --- the second step -------------------------------------------------------------------------


def test_login_asks_for_the_code_and_the_half_login_reaches_nothing(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    user, secret, _codes = enrolled
    client = english(mfa_app.test_client())
    response = password_step(client, user)
    assert response.status_code == 303
    assert response.location.endswith("/login/code")
    assert "Enter the code" in page(client.get("/login/code"))
    # Password given, code not: nothing that needs a login opens.
    for url in ("/account", "/account/two-factor", "/staff/projects", "/account/data"):
        assert client.get(url).status_code == 302, url
    with client.session_transaction() as stored:
        assert "_user_id" not in stored
    clock.advance(seconds=30)
    done = second_step(client, pyotp.TOTP(secret).at(clock.now))
    assert done.status_code == 303
    assert done.location.endswith("/account")
    assert client.get("/account").status_code == 200
    assert client.get("/staff/projects").status_code == 200


def test_a_session_of_an_account_with_mfa_counts_only_with_the_code(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    # Whatever path logs in (a reset link, a confirmation, a future one): load_user refuses a
    # session of an account with a second factor that is not marked as having given it.
    user, _secret, _codes = enrolled
    with mfa_app.app_context():
        token = db.session.get(User, user.id).session_token
    client = english(mfa_app.test_client())
    with client.session_transaction() as stored:
        stored["_user_id"] = f"{user.id}:{token}"
        stored[sessions.LOGIN_AT] = int(clock.now.timestamp())
    assert client.get("/account").status_code == 302
    with client.session_transaction() as stored:
        stored[sessions.MFA_PASSED] = True
    assert client.get("/account").status_code == 200


def test_a_wrong_code_is_refused_with_a_message(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    user, secret, _codes = enrolled
    client = english(mfa_app.test_client())
    password_step(client, user)
    for wrong in ("000000", "12345", "１２３４５６", "²²²²²²"):  # the 5th would lock
        response = second_step(client, wrong)
        assert response.status_code == 200, wrong
        assert "This code is not correct or has already been used" in page(response)
    assert client.get("/account").status_code == 302


def test_a_used_code_cannot_be_replayed(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    user, secret, _codes = enrolled
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock.now)
    first = english(mfa_app.test_client())
    password_step(first, user)
    assert second_step(first, code).status_code == 303
    second = english(mfa_app.test_client())
    password_step(second, user)
    replay = second_step(second, code)
    assert replay.status_code == 200
    assert second.get("/account").status_code == 302
    # An older code than the one used is refused too; the next step's code works.
    older = pyotp.TOTP(secret).at(clock.now - dt.timedelta(seconds=30))
    assert second_step(second, older).status_code == 200
    clock.advance(seconds=30)
    assert second_step(second, pyotp.TOTP(secret).at(clock.now)).status_code == 303


def test_a_step_at_or_before_the_last_used_one_never_matches(mfa_app: Flask, clock: Clock) -> None:
    secret = mfa.new_secret()
    code = pyotp.TOTP(secret).at(clock.now)
    with mfa_app.app_context():
        assert mfa._matching_step(secret, code, None) == clock.step()
        assert mfa._matching_step(secret, code, clock.step()) is None
        assert mfa._matching_step(secret, code, clock.step() - 1) == clock.step()


def test_one_step_of_clock_drift_is_accepted_two_are_not(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    user, secret, _codes = enrolled
    clock.advance(minutes=5)
    client = english(mfa_app.test_client())
    password_step(client, user)
    totp = pyotp.TOTP(secret)
    assert second_step(client, totp.at(clock.now - dt.timedelta(seconds=60))).status_code == 200
    assert second_step(client, totp.at(clock.now + dt.timedelta(seconds=60))).status_code == 200
    assert second_step(client, totp.at(clock.now - dt.timedelta(seconds=30))).status_code == 303


def test_a_recovery_code_works_once(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    user, _secret, codes = enrolled
    client = english(mfa_app.test_client())
    password_step(client, user)
    used = second_step(client, codes[0].lower().replace("-", " "))  # typed loosely
    assert used.status_code == 303
    assert "You used a recovery code; 9 are left." in html.unescape(page(client.get("/account")))
    again = english(mfa_app.test_client())
    password_step(again, user)
    assert second_step(again, codes[0]).status_code == 200
    assert second_step(again, codes[1]).status_code == 303
    with mfa_app.app_context():
        assert mfa.recovery_codes_left(db.session.get(User, user.id)) == 8


def test_wrong_codes_lock_the_account_whatever_the_client(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    user, secret, _codes = enrolled
    for attempt in range(5):
        client = english(mfa_app.test_client())
        password_step(client, user)
        response = second_step(client, f"{attempt:06d}")
        assert response.status_code == 200
    assert "Too many wrong codes" in page(response)
    clock.advance(seconds=30)
    client = english(mfa_app.test_client())
    password_step(client, user)
    locked = second_step(client, pyotp.TOTP(secret).at(clock.now))
    assert locked.status_code == 200
    assert "Too many wrong codes" in page(locked)
    assert client.get("/account").status_code == 302


def test_the_half_login_expires_and_a_password_change_voids_it(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    user, secret, _codes = enrolled
    client = english(mfa_app.test_client())
    password_step(client, user)
    clock.advance(minutes=11)
    late = second_step(client, pyotp.TOTP(secret).at(clock.now))
    assert late.status_code == 303
    assert late.location.endswith("/login")
    assert client.get("/account").status_code == 302
    # Meanwhile the password was changed elsewhere (a new session token): the half login is void.
    password_step(client, user)
    with mfa_app.app_context():
        stored = db.session.get(User, user.id)
        stored.session_token = "0" * 32
        db.session.commit()
    clock.advance(seconds=30)
    voided = second_step(client, pyotp.TOTP(secret).at(clock.now))
    assert voided.status_code == 303
    assert voided.location.endswith("/login")


def test_stay_logged_in_is_kept_through_the_second_step(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    user, secret, _codes = enrolled
    client = english(mfa_app.test_client())
    password_step(client, user, remember="y")
    assert client.get_cookie(sessions.REMEMBER_COOKIE) is None  # not before the code
    clock.advance(seconds=30)
    assert second_step(client, pyotp.TOTP(secret).at(clock.now)).status_code == 303
    assert client.get_cookie(sessions.REMEMBER_COOKIE) is not None


def test_a_password_reset_link_still_asks_for_the_code(
    mfa_app: Flask,
    enrolled: tuple[User, str, list[str]],
    clock: Clock,
    outbox: Callable[[], list[Any]],
) -> None:
    user, secret, _codes = enrolled
    client = english(mfa_app.test_client())
    client.post("/password/forgot", data={"email": user.email})
    body = outbox()[-1].get_body(preferencelist=("plain",)).get_content()
    url = re.search(r"http://localhost(/password/reset/\S+)", body).group(1)
    response = client.post(url, data={"password": "ein ganz neues Passwort"})
    assert response.status_code == 303
    assert response.location.endswith("/login/code")
    assert client.get("/account").status_code == 302


# --- staff and admin without a second factor -------------------------------------------------


def privileged_requests(app: Flask) -> Iterator[tuple[str, str]]:
    """Yield (method, url) for every /staff, /admin and /moderation route, ids set to 1."""
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not mfa_views.is_privileged_path(rule.rule.split("<")[0].rstrip("/") or "/"):
                continue
            method = "GET" if "GET" in (rule.methods or ()) else "POST"
            values: dict[str, Any] = {}
            for name in rule.arguments:
                converter = rule._converters.get(name)
                if isinstance(converter, AnyConverter):
                    values[name] = sorted(converter.items)[0]
                elif converter is not None and "Int" in type(converter).__name__:
                    values[name] = 1
                else:
                    values[name] = "x"
            built = rule.build(values, append_unknown=False)
            assert built is not None
            yield method, built[1]


def test_every_privileged_route_sends_an_account_without_second_factor_to_enrol(
    mfa_app: Flask, make: Callable[..., User]
) -> None:
    boss = make(Role.admin, Role.staff, Role.moderator)
    client = english(mfa_app.test_client())
    response = password_step(client, boss)
    assert response.location.endswith("/account/two-factor")  # sent there at login
    routes = list(privileged_requests(mfa_app))
    assert len(routes) > 40
    for method, url in routes:
        response = client.open(url, method=method)
        assert response.status_code == 303, (method, url)
        assert response.location.endswith("/account/two-factor"), (method, url)


def test_every_privileged_route_refuses_a_session_that_gave_only_the_password(
    mfa_app: Flask, make: Callable[..., User], clock: Clock
) -> None:
    boss = make(Role.admin, Role.staff, Role.moderator)
    setup = english(mfa_app.test_client())
    password_step(setup, boss)
    enrol(setup, clock)
    client = english(mfa_app.test_client())
    password_step(client, boss)
    for method, url in privileged_requests(mfa_app):
        response = client.open(url, method=method)
        assert response.status_code in (302, 401), (method, url)
        assert "/login" in response.location, (method, url)


def test_the_role_counts_nowhere_without_the_second_factor(
    mfa_app: Flask, make: Callable[..., User]
) -> None:
    staff = make(Role.staff)
    client = english(mfa_app.test_client())
    login(client, staff)
    # Outside the privileged prefixes too: the predicate refuses (draft projects stay hidden).
    with mfa_app.app_context():
        from kldialog import permissions

        stored = db.session.get(User, staff.id)
        assert not permissions.is_staff(stored)
        assert permissions.mfa_enrolment_due(stored)


def test_a_moderator_is_not_asked_when_the_role_is_not_listed(
    mfa_app: Flask, make: Callable[..., User]
) -> None:
    moderator = make(Role.moderator)
    client = english(mfa_app.test_client())
    response = password_step(client, moderator)
    assert response.location.endswith("/account")
    assert client.get("/moderation").status_code == 200


# --- switching off, resets -------------------------------------------------------------------


def test_a_resident_switches_it_off_with_password_and_code(
    mfa_app: Flask, make: Callable[..., User], clock: Clock
) -> None:
    user = make()
    client = english(mfa_app.test_client())
    login(client, user)
    secret, _codes = enrol(client, clock)
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock.now)
    wrong = client.post(
        "/account/two-factor/disable", data={"password": "nicht das Passwort", "code": code}
    )
    assert wrong.status_code == 200
    assert "The password is not correct." in page(wrong)
    done = client.post("/account/two-factor/disable", data={"password": PASSWORD, "code": code})
    assert done.status_code == 303
    with mfa_app.app_context():
        stored = db.session.get(User, user.id)
        assert stored.mfa_secret_sealed is None
        assert mfa.recovery_codes_left(stored) == 0
    assert client.get("/account").status_code == 200


def test_staff_cannot_switch_it_off(
    mfa_app: Flask, make: Callable[..., User], clock: Clock
) -> None:
    staff = make(Role.staff)
    client = english(mfa_app.test_client())
    login(client, staff)
    secret, _codes = enrol(client, clock)
    assert "cannot be switched off" in page(client.get("/account/two-factor"))
    clock.advance(seconds=30)
    response = client.post(
        "/account/two-factor/disable",
        data={"password": PASSWORD, "code": pyotp.TOTP(secret).at(clock.now)},
    )
    assert response.status_code == 403
    with mfa_app.app_context():
        assert db.session.get(User, staff.id).has_mfa


def test_an_admin_resets_another_account_with_a_reason(
    mfa_app: Flask,
    make: Callable[..., User],
    enrolled: tuple[User, str, list[str]],
    clock: Clock,
) -> None:
    staff, staff_secret, _codes = enrolled
    staff_client = english(mfa_app.test_client())
    password_step(staff_client, staff)
    clock.advance(seconds=30)
    assert second_step(staff_client, pyotp.TOTP(staff_secret).at(clock.now)).status_code == 303
    admin = make(Role.admin)
    client = english(mfa_app.test_client())
    login(client, admin)
    admin_secret, _admin_codes = enrol(client, clock)
    assert "Reset two-factor login" in page(client.get(f"/admin/users/{staff.id}"))
    empty = client.post(f"/admin/users/{staff.id}/reset-mfa", data={"mfa-reason": " "})
    assert empty.status_code == 200
    assert "Please give a reason." in page(empty)
    done = client.post(f"/admin/users/{staff.id}/reset-mfa", data={"mfa-reason": "Handy weg"})
    assert done.status_code == 303
    with mfa_app.app_context():
        assert not db.session.get(User, staff.id).has_mfa
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "mfa.reset"))
        assert entry is not None
        assert (entry.actor_id, entry.target_id, entry.reason) == (admin.id, staff.id, "Handy weg")
    assert staff_client.get("/account").status_code == 302  # logged out everywhere
    # Next login: enrol again before any staff page.
    again = english(mfa_app.test_client())
    assert password_step(again, staff).location.endswith("/account/two-factor")


def test_reset_needs_an_admin_who_passed_the_second_factor(
    mfa_app: Flask, make: Callable[..., User], enrolled: tuple[User, str, list[str]]
) -> None:
    staff, _secret, _codes = enrolled
    admin = make(Role.admin)  # not enrolled: the admin role does not count yet
    client = english(mfa_app.test_client())
    login(client, admin)
    response = client.post(f"/admin/users/{staff.id}/reset-mfa", data={"mfa-reason": "x"})
    assert response.status_code == 303
    assert response.location.endswith("/account/two-factor")
    with mfa_app.app_context():
        assert db.session.get(User, staff.id).has_mfa


def test_the_cli_resets_the_last_admin(
    mfa_app: Flask, make: Callable[..., User], clock: Clock
) -> None:
    admin = make(Role.admin)
    client = english(mfa_app.test_client())
    login(client, admin)
    enrol(client, clock)
    result = mfa_app.test_cli_runner().invoke(args=["users", "reset-mfa", admin.email])
    assert result.exit_code == 0, result.output
    assert "is reset" in result.output
    with mfa_app.app_context():
        assert not db.session.get(User, admin.id).has_mfa
        assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "mfa.reset"))
    missing = mfa_app.test_cli_runner().invoke(args=["users", "reset-mfa", "nobody@example.org"])
    assert missing.exit_code != 0


# --- my data -----------------------------------------------------------------------------------


def test_export_has_dates_and_counts_never_the_secret(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]], clock: Clock
) -> None:
    user, secret, codes = enrolled
    with mfa_app.app_context():
        data = personal_data.export_user_data(db.session.get(User, user.id))
    part = data["two_factor"]
    assert part["enabled_at"] == START.isoformat()
    assert (
        part["last_code_used_at"]
        == dt.datetime.fromtimestamp(clock.step() * 30, tz=dt.UTC).isoformat()
    )
    assert part["recovery_codes_left"] == 10
    assert part["secret"] == "stored encrypted, not included"
    assert secret not in str(data)
    assert codes[0] not in str(data)


def test_deleting_the_account_erases_the_second_factor(
    mfa_app: Flask, enrolled: tuple[User, str, list[str]]
) -> None:
    user, _secret, _codes = enrolled
    with mfa_app.app_context():
        personal_data.delete_account(db.session.get(User, user.id), PASSWORD)
        stored = db.session.get(User, user.id)
        assert (stored.mfa_secret_sealed, stored.mfa_enabled_at, stored.mfa_last_step) == (
            None,
            None,
            None,
        )
        assert db.session.scalar(sa.select(sa.func.count()).select_from(MfaRecoveryCode)) == 0


def test_privacy_notice_lists_the_new_fields() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "privacy.md").read_text("utf-8")
    for name in ("mfa_secret_sealed", "mfa_enabled_at", "mfa_last_step", "mfa_recovery_code"):
        assert f"`{name}`" in text, name
    assert "mfa_recovery_code" in personal_data.PERSONAL_TABLES


# --- the demo --------------------------------------------------------------------------------


def test_the_demo_shows_the_code_for_demo_accounts_only(
    app_factory: Callable[..., Flask], clock: Clock
) -> None:
    demo = app_factory(DEMO=True, MFA_REQUIRED_ROLES=("admin", "staff"))
    result = demo.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert f"Demo two-factor secret (for an authenticator app): {mfa.DEMO_SECRET}" in result.output
    client = english(demo.test_client())
    response = client.post(
        "/login", data={"email": "verwaltung@demo.kldialog.invalid", "password": "kl-dialog-demo"}
    )
    assert response.location.endswith("/login/code")
    shown = re.search(r"Demo: current code is (\d{6})", page(client.get("/login/code")))
    assert shown is not None
    assert shown.group(1) == pyotp.TOTP(mfa.DEMO_SECRET).at(clock.now)
    assert second_step(client, shown.group(1)).status_code == 303
    assert client.get("/staff/projects").status_code == 200
    # Outside demo mode the same account sees no code.
    demo.config["DEMO"] = False
    other = english(demo.test_client())
    other.post(
        "/login", data={"email": "verwaltung@demo.kldialog.invalid", "password": "kl-dialog-demo"}
    )
    assert "Demo: current code" not in page(other.get("/login/code"))


def test_the_demo_secret_is_refused_outside_demo_mode(
    mfa_app: Flask, make: Callable[..., User]
) -> None:
    user = make(Role.staff)
    with mfa_app.app_context():
        with pytest.raises(mfa.RuleViolation):
            mfa.enable_demo(db.session.get(User, user.id))
