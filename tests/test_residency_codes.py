"""Residency codes: generation (service, staff page, CLI), redemption, privacy and races."""

from __future__ import annotations

import datetime as dt
import re
import stat
import threading
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from kldialog import create_app
from kldialog.auth import blocking, residency
from kldialog.auth import services as accounts
from kldialog.auth.models import ResidencyCode, Role, User
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.kernel.time import utcnow

from .conftest import TEST_DATABASE_URL, base_config, empty_postgres_database, login

CODE = re.compile(r"\b[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}\b")


def english(client: FlaskClient) -> FlaskClient:
    """Switch the client's pages to English (new strings are translated after review)."""
    client.post("/language", data={"lang": "en", "next": "/"})
    return client


def generate(app: Flask, count: int = 3, batch: str = "Testbrief") -> list[str]:
    """Generate codes through the service, as the system."""
    with app.app_context():
        return residency.generate_residency_codes(None, count, batch)


def is_verified(app: Flask, user_id: int) -> bool:
    with app.app_context():
        return db.session.get(User, user_id).is_verified


def unused_codes(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(ResidencyCode.id)))


def every_stored_value(app: Flask) -> str:
    """Return every value of every column of every table, as one text."""
    values = []
    with app.app_context():
        metadata = sa.MetaData()
        metadata.reflect(db.engine)
        with db.engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    values.extend(str(value) for value in row)
    return "\n".join(values)


# --- the code format ---------------------------------------------------------------------------


def test_codes_are_twelve_unambiguous_characters_grouped_by_four(app: Flask) -> None:
    codes = generate(app, 200)
    assert len(codes) == len(set(codes)) == 200
    for code in codes:
        assert CODE.fullmatch(code), code
        assert not set(code) & set("01OIL")
    # Every symbol of the alphabet turns up: the codes use its whole range.
    assert set("".join(codes).replace("-", "")) == set(residency.RESIDENCY_CODE_ALPHABET)


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("ABCD-EFGH-JKMN", "ABCDEFGHJKMN"),
        ("abcd efgh jkmn", "ABCDEFGHJKMN"),
        ("  abcd–efgh—jkmn ", "ABCDEFGHJKMN"),
        ("ＡＢＣＤ-ＥＦＧＨ-ＪＫＭＮ", "ABCDEFGHJKMN"),  # full-width letters from a phone keyboard
        ("abcd\tefgh\njkmn", "ABCDEFGHJKMN"),
    ],
)
def test_typed_codes_are_normalised(typed: str, normalised: str) -> None:
    assert residency.normalise_residency_code(typed) == normalised
    assert residency.is_valid_residency_code(normalised)


@pytest.mark.parametrize(
    "typed",
    ["", "ABCD-EFGH-JKM", "ABCD-EFGH-JKMNP", "ABCD-EFGH-JKM0", "ABCD-EFGH-JKMO", "ÄBCD-EFGH-JKMN"],
)
def test_malformed_codes_are_not_valid(typed: str) -> None:
    assert not residency.is_valid_residency_code(residency.normalise_residency_code(typed))


# --- generating ----------------------------------------------------------------------------------


def test_only_hashes_are_stored_and_the_plaintext_appears_nowhere(app: Flask) -> None:
    codes = generate(app, 25, "Innenstadt November")
    with app.app_context():
        rows = db.session.scalars(sa.select(ResidencyCode)).all()
        assert len(rows) == 25
        assert {row.batch for row in rows} == {"Innenstadt November"}
        assert {row.code_hash for row in rows} == {
            residency.hash_residency_code(code.replace("-", "")) for code in codes
        }
        [entry] = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "residency.generate")
        ).all()
        assert entry.actor_id is None and entry.details == {
            "count": 25,
            "batch": "Innenstadt November",
        }
    stored = every_stored_value(app)
    for code in codes:
        for form in (code, code.replace("-", ""), code.lower(), code.replace("-", " ")):
            assert form not in stored


@pytest.mark.parametrize(
    ("count", "batch"),
    [
        (0, "B"),
        (-1, "B"),
        (5001, "B"),
        (True, "B"),
        ("5", "B"),
        (2.0, "B"),
        (1, ""),
        (1, "  "),
        (1, "x" * 61),
    ],
)
def test_generation_refuses_bad_counts_and_labels(app: Flask, count: Any, batch: str) -> None:
    with app.app_context(), pytest.raises(RuleViolation):
        residency.generate_residency_codes(None, count, batch)
    assert unused_codes(app) == 0


def test_the_largest_batch_is_generated_in_one_go(app: Flask) -> None:
    codes = generate(app, residency.RESIDENCY_CODES_MAX)
    assert len(set(codes)) == residency.RESIDENCY_CODES_MAX == unused_codes(app)


# --- redeeming ---------------------------------------------------------------------------------


def test_redeeming_verifies_the_account_and_deletes_the_code(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    person = make_user()
    code, other = generate(app, 2)
    with app.app_context():
        residency.redeem_residency_code(db.session.get(User, person.id), code.lower())
    assert is_verified(app, person.id)
    with app.app_context():
        remaining = db.session.scalars(sa.select(ResidencyCode.code_hash)).all()
        assert remaining == [residency.hash_residency_code(other.replace("-", ""))]
        [entry] = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "residency.verify")
        ).all()
        assert (entry.actor_id, entry.target_type, entry.target_id) == (
            person.id,
            "user",
            person.id,
        )
        assert entry.details == {} and entry.reason == ""
    # Nothing links the person to the code or its batch.
    stored = every_stored_value(app)
    assert code not in stored and code.replace("-", "") not in stored
    with app.app_context():
        assert residency.hash_residency_code(code.replace("-", "")) not in stored


def test_a_code_works_only_once(app: Flask, make_user: Callable[..., Any]) -> None:
    first, second = make_user(), make_user()
    [code] = generate(app, 1)
    with app.app_context():
        residency.redeem_residency_code(db.session.get(User, first.id), code)
        with pytest.raises(RuleViolation, match="bereits verwendet"):
            residency.redeem_residency_code(db.session.get(User, second.id), code)
    assert not is_verified(app, second.id)


def test_unknown_malformed_and_already_verified_are_refused_clearly(
    app: Flask, make_user: Callable[..., Any]
) -> None:
    person = make_user()
    verified = make_user(is_verified=True)
    [code] = generate(app, 1)
    with app.app_context():
        user = db.session.get(User, person.id)
        with pytest.raises(RuleViolation, match="ungültig oder wurde bereits verwendet"):
            residency.redeem_residency_code(user, "ABCD-EFGH-JKMN")
        with pytest.raises(RuleViolation, match="12 Zeichen"):
            residency.redeem_residency_code(user, "hello")
        with pytest.raises(RuleViolation, match="bereits bestätigt"):
            residency.redeem_residency_code(db.session.get(User, verified.id), code)
    assert unused_codes(app) == 1  # refusals use nothing up


# --- races ---------------------------------------------------------------------------------------


@pytest.fixture
def race_app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    """Return an app on a database that several threads share (file SQLite, or PostgreSQL)."""
    url = database_url if TEST_DATABASE_URL else f"sqlite:///{tmp_path / 'race.sqlite'}"
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        if TEST_DATABASE_URL:
            empty_postgres_database()  # shared with earlier tests: start with empty tables
        else:
            db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def run_together(app: Flask, jobs: list[tuple[int, str]]) -> list[str]:
    """Redeem (user id, code) pairs in parallel threads, each with its own app context."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = []
    lock = threading.Lock()

    def work(user_id: int, code: str) -> None:
        with app.app_context():
            user = db.session.get(User, user_id)
            barrier.wait()
            try:
                residency.redeem_residency_code(user, code)
                outcome = "verified"
            except RuleViolation:
                outcome = "refused"
            except Exception as error:
                outcome = f"error: {error!r}"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def _people(app: Flask, number: int) -> list[int]:
    with app.app_context():
        return [
            accounts.create_confirmed_user(
                email=f"racer{i}@example.org",
                password="correct horse battery staple",
                display_name=f"Racer {i}",
                roles=[],
            ).id
            for i in range(number)
        ]


def test_parallel_redemptions_of_one_code_verify_exactly_one_account(race_app: Flask) -> None:
    people = _people(race_app, 6)
    [code] = generate(race_app, 1)
    outcomes = run_together(race_app, [(person, code) for person in people])
    assert outcomes == ["refused"] * 5 + ["verified"]
    with race_app.app_context():
        verified = db.session.scalar(
            sa.select(sa.func.count(User.id)).where(User.is_verified.is_(True))
        )
        audits = db.session.scalar(
            sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "residency.verify")
        )
    assert (verified, audits, unused_codes(race_app)) == (1, 1, 0)


def test_one_person_sending_two_codes_at_once_uses_up_only_one(race_app: Flask) -> None:
    [person] = _people(race_app, 1)
    codes = generate(race_app, 2)
    outcomes = run_together(race_app, [(person, code) for code in codes])
    assert outcomes == ["refused", "verified"]
    assert is_verified(race_app, person) and unused_codes(race_app) == 1


# --- the resident's page -----------------------------------------------------------------------


@pytest.fixture
def resident(make_user: Callable[..., Any]) -> Any:
    return make_user(name="Rita Resident")


@pytest.fixture
def resident_client(client: FlaskClient, resident: Any) -> FlaskClient:
    login(client, resident)
    return english(client)


def test_account_page_links_to_the_code_form(resident_client: FlaskClient) -> None:
    html = resident_client.get("/account").get_data(as_text=True)
    assert 'href="/account/residency"' in html


def test_redeem_on_the_page_with_lower_case_and_spaces(
    app: Flask, resident_client: FlaskClient, resident: Any
) -> None:
    html = resident_client.get("/account/residency").get_data(as_text=True)
    assert html.count("<h1") == 1 and 'name="code"' in html and 'autocomplete="off"' in html
    [code] = generate(app, 1)
    response = resident_client.post(
        "/account/residency", data={"code": "  " + code.lower().replace("-", " ") + " "}
    )
    assert response.status_code == 303 and response.location == "/account"
    assert is_verified(app, resident.id)
    html = resident_client.get("/account").get_data(as_text=True)
    assert "your residency is verified" in html.lower()
    html = resident_client.get("/account/residency").get_data(as_text=True)
    assert 'name="code"' not in html and "Your residency is verified." in html
    response = resident_client.post("/account/residency", data={"code": code})
    assert response.status_code == 303  # already verified: told so, nothing else happens


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Please enter the code from your letter."),
        ("   ", "Please enter the code from your letter."),
        ("ABCD-EFGH-JKMN", "not valid or has already been used"),
        ("ABCD-EFGH-JKM", "12 characters"),
        ("<script>alert(1)</script>", "12 characters"),
        ("x" * 41, "12 characters"),
        ("ÄÖÜ-ßßß-€€€€", "12 characters"),
        ("1OIL-1OIL-1OIL", "12 characters"),
    ],
)
def test_wrong_codes_get_a_clear_message_and_the_input_is_kept(
    app: Flask, resident_client: FlaskClient, resident: Any, typed: str, message: str
) -> None:
    response = resident_client.post("/account/residency", data={"code": typed})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in unescape(html)
    assert 'href="#code"' in html and 'aria-invalid="true"' in html
    assert "<script>alert(1)</script>" not in html
    if typed.strip() and len(typed) <= 40:
        assert f'value="{typed}"' in unescape(html) or "&lt;script&gt;" in html
    assert not is_verified(app, resident.id)


def test_wrong_types_and_nul_bytes_do_not_break_the_form(resident_client: FlaskClient) -> None:
    assert resident_client.post("/account/residency", data={"code": ["A", "B"]}).status_code == 200
    assert resident_client.post("/account/residency", data={}).status_code == 200
    assert resident_client.post("/account/residency", data={"code": "AB\x00CD"}).status_code == 400
    response = resident_client.post("/account/residency", data={"code": "x" * 2_000_000})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("fields", "explanation"),
    [
        ({"email_confirmed_at": None}, "confirm your e-mail address first"),
        ({"accepted_terms_version": "2000-01"}, "accept the new terms"),
        ({"blocked_until": blocking.PERMANENT_BLOCK}, "Your account is blocked"),
    ],
)
def test_people_who_may_not_take_part_are_told_why_and_cannot_post(
    app: Flask, make_user: Callable[..., Any], fields: dict[str, Any], explanation: str
) -> None:
    person = make_user(**fields)
    client = app.test_client()
    login(client, person)
    english(client)
    html = client.get("/account/residency").get_data(as_text=True)
    assert explanation in html and 'name="code"' not in html
    [code] = generate(app, 1)
    assert client.post("/account/residency", data={"code": code}).status_code == 403
    assert not is_verified(app, person.id) and unused_codes(app) == 1


def test_anonymous_visitors_are_sent_to_login(client: FlaskClient) -> None:
    for method in ("GET", "POST"):
        response = client.open("/account/residency", method=method, data={"code": "x"})
        assert response.status_code == 302
        assert response.location.startswith("/login?next=")


def test_redeeming_is_rate_limited(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_CODE="3 per hour")
    with app.app_context():
        user = accounts.create_confirmed_user(
            email="r@example.org",
            password="correct horse battery staple",
            display_name="Rita",
            roles=[],
        )
        codes = residency.generate_residency_codes(None, 1, "B")
        user_id = user.id
    client = app.test_client()
    login(client, SimpleNamespace(email="r@example.org"))
    for _ in range(3):
        assert client.post("/account/residency", data={"code": "ABCD-EFGH-JKMN"}).status_code == 200
    assert client.post("/account/residency", data={"code": codes[0]}).status_code == 429
    assert client.get("/account/residency").status_code == 200  # reading is not limited
    assert not is_verified(app, user_id)


def _residents(app: Flask, count: int) -> list[int]:
    with app.app_context():
        return [
            accounts.create_confirmed_user(
                email=f"counter{n}@example.org", password="correct horse battery staple",
                display_name=f"Person {n}", roles=[],
            ).id
            for n in range(count)
        ]  # fmt: skip


def _at(address: str, app: Flask, number: int) -> FlaskClient:
    """Return a client logged in as counter<number>@ from this address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    login(client, SimpleNamespace(email=f"counter{number}@example.org"))
    return client


def test_a_counter_address_serves_more_residents_than_the_limit(
    app_factory: Callable[..., Flask],
) -> None:
    """Only wrong codes count: one library address, many residents with their letters."""
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_CODE="2 per hour",
                      RATELIMIT_CODE_ADDRESS="3 per hour")  # fmt: skip
    user_ids = _residents(app, 5)
    with app.app_context():
        codes = residency.generate_residency_codes(None, 5, "Schalter")
    for number, code in enumerate(codes):
        client = _at("10.0.0.7", app, number)
        assert client.post("/account/residency", data={"code": code}).status_code == 303
    assert all(is_verified(app, user_id) for user_id in user_ids)


def test_wrong_codes_are_limited_per_account_and_per_address(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_CODE="2 per hour",
                      RATELIMIT_CODE_ADDRESS="3 per hour")  # fmt: skip
    user_ids = _residents(app, 3)
    with app.app_context():
        (code,) = residency.generate_residency_codes(None, 1, "B")
    wrong = {"code": "ABCD-EFGH-JKMN"}
    # One account, two addresses: the account's limit follows it.
    for address in ("10.0.0.1", "10.0.0.2"):
        assert _at(address, app, 0).post("/account/residency", data=wrong).status_code == 200
    assert (
        _at("10.0.0.3", app, 0).post("/account/residency", data={"code": code}).status_code == 429
    )
    # Other accounts from one address: the address's limit (3) catches the third wrong code.
    guesser = _at("10.0.0.9", app, 1)
    assert guesser.post("/account/residency", data=wrong).status_code == 200
    assert guesser.post("/account/residency", data=wrong).status_code == 200
    other = _at("10.0.0.9", app, 2)
    assert other.post("/account/residency", data=wrong).status_code == 200
    assert other.post("/account/residency", data={"code": code}).status_code == 429
    assert not any(is_verified(app, user_id) for user_id in user_ids)


def test_redeeming_without_csrf_token_is_refused(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        user = accounts.create_confirmed_user(
            email="r@example.org",
            password="correct horse battery staple",
            display_name="Rita",
            roles=[],
        )
        [code] = residency.generate_residency_codes(None, 1, "B")
        user_id = user.id
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    data = {"email": "r@example.org", "password": "correct horse battery staple"}
    assert client.post("/login", data={**data, "csrf_token": token}).status_code == 303
    assert client.post("/account/residency", data={"code": code}).status_code == 400
    assert not is_verified(app, user_id)
    html = client.get("/account/residency").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post("/account/residency", data={"code": code, "csrf_token": token})
    assert response.status_code == 303 and is_verified(app, user_id)


# --- the staff page -------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client: FlaskClient, make_user: Callable[..., Any]) -> FlaskClient:
    login(client, make_user(Role.staff, name="Stefan Staff"))
    return english(client)


def open_form(client: FlaskClient) -> str:
    """Open the code form; return its one-time value."""
    html = client.get("/admin/codes").get_data(as_text=True)
    return re.search(r'name="once" type="hidden" value="([^"]+)"', html).group(1)


def test_staff_generate_a_printable_sheet_shown_once(
    app: Flask, staff_client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    once = open_form(staff_client)
    data = {"count": "4", "batch": "Nord <Brief> 1", "language": "de", "once": once}
    response = staff_client.post("/admin/codes", data=data)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    codes = CODE.findall(html)
    assert len(codes) == 4 == html.count('class="code-sheet__letter"')
    assert '<html lang="de"' in html  # the letters' language, not the staff member's
    assert "http://localhost/account/residency" in html
    assert "Nord &lt;Brief&gt; 1" in html and "<Brief>" not in html
    assert html.count("<h1") == 1
    assert unused_codes(app) == 4
    # Reloading the sheet (the browser sends the form again) makes no second batch.
    again = staff_client.post("/admin/codes", data=data)
    assert again.status_code == 200 and not CODE.findall(again.get_data(as_text=True))
    assert "already sent" in again.get_data(as_text=True)
    assert unused_codes(app) == 4
    # The printed codes work.
    person = make_user()
    with app.app_context():
        residency.redeem_residency_code(db.session.get(User, person.id), codes[0])
    html = staff_client.get("/admin/codes").get_data(as_text=True)
    assert re.search(r"Nord &lt;Brief&gt; 1</th>\s*<td[^>]*>3</td>", html)


@pytest.mark.parametrize("once", ["²", "ä" * 40, "\u202e"])
def test_a_one_time_value_with_any_characters_is_refused_not_a_500(
    staff_client: FlaskClient, once: str
) -> None:
    open_form(staff_client)
    response = staff_client.post(
        "/admin/codes", data={"count": "1", "batch": "B", "language": "de", "once": once}
    )
    assert response.status_code == 200
    assert "Ihr Wohnsitz-Code" not in response.get_data(as_text=True)  # no sheet issued


def test_the_sheet_in_english(staff_client: FlaskClient) -> None:
    once = open_form(staff_client)
    response = staff_client.post(
        "/admin/codes", data={"count": "1", "batch": "B", "language": "en", "once": once}
    )
    html = response.get_data(as_text=True)
    assert '<html lang="en"' in html and "Your residency code for KL.dialog" in html


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"count": ""}, "count"),
        ({"count": "0"}, "count"),
        ({"count": "5001"}, "count"),
        ({"count": "-3"}, "count"),
        ({"count": "3.5"}, "count"),
        ({"count": "drei"}, "count"),
        ({"count": "9" * 50}, "count"),
        ({"batch": ""}, "batch"),
        ({"batch": "x" * 61}, "batch"),
        ({"language": "fr"}, "language"),
    ],
)
def test_code_form_rejects_bad_input_and_keeps_it(
    app: Flask, staff_client: FlaskClient, data: dict[str, str], field: str
) -> None:
    once = open_form(staff_client)
    form = {"count": "3", "batch": "Brief", "language": "de", "once": once, **data}
    response = staff_client.post("/admin/codes", data=form)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'href="#{field}"' in html
    assert not CODE.findall(html)
    if field == "count" and data["count"] and len(data["count"]) < 10:
        assert f'value="{data["count"]}"' in html
    assert unused_codes(app) == 0


def test_code_page_counts_unused_codes_per_batch(app: Flask, staff_client: FlaskClient) -> None:
    generate(app, 3, "Erster Brief")
    generate(app, 2, "Zweiter Brief")
    generate(app, 1, "Erster Brief")
    with app.app_context():  # the second batch was printed a day ago: the newest batch leads
        db.session.execute(
            sa.update(ResidencyCode)
            .where(ResidencyCode.batch == "Zweiter Brief")
            .values(created_at=utcnow() - dt.timedelta(days=1))
        )
        db.session.commit()
    html = staff_client.get("/admin/codes").get_data(as_text=True)
    rows = re.findall(r'scope="row">([^<]+)</th>\s*<td[^>]*>([^<]+)</td>', html)
    assert rows == [("Erster Brief", "4"), ("Zweiter Brief", "2"), ("Total", "6")]
    assert "<caption" in html


# --- the command line ------------------------------------------------------------------------------


def test_cli_prints_codes_one_per_line(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["codes", "generate", "3", "--batch", "CLI"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.split()
    assert len(lines) == 3 and all(CODE.fullmatch(line) for line in lines)
    assert "only hashes are stored" in result.stderr
    assert unused_codes(app) == 3
    stored = every_stored_value(app)
    assert not any(line in stored or line.replace("-", "") in stored for line in lines)


def test_cli_writes_a_printable_file_that_works_offline(app: Flask, tmp_path: Path) -> None:
    output = tmp_path / "codes.html"
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "codes",
            "generate",
            "5",
            "--batch",
            "Post 2026",
            "--output",
            str(output),
            "--base-url",
            "https://beteiligung.example.org",
        ]
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    html = output.read_text("utf-8")
    assert len(set(CODE.findall(html))) == 5 == html.count('class="code-sheet__letter"')
    assert "https://beteiligung.example.org/account/residency" in html
    assert '<link rel="stylesheet"' not in html and "<style>" in html and "@media print" in html
    assert '<html lang="de"' in html
    assert result.stdout == ""  # the codes went to the file only
    # An existing sheet is never overwritten, and then no codes are made.
    result = runner.invoke(args=["codes", "generate", "2", "--output", str(output)])
    assert result.exit_code != 0 and "exists already" in result.output
    assert unused_codes(app) == 5


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["0"], "0"),
        (["5001"], "5001"),
        (["drei"], "drei"),
        (["3", "--language", "fr"], "fr"),
        (["3", "--batch", "x" * 61], "1 bis 60"),
    ],
)
def test_cli_refuses_bad_arguments(
    app: Flask, tmp_path: Path, args: list[str], problem: str
) -> None:
    output = tmp_path / "never.html"
    result = app.test_cli_runner().invoke(
        args=["codes", "generate", *args, "--output", str(output)]
    )
    assert result.exit_code != 0
    assert problem in result.output
    assert not output.exists()
    assert unused_codes(app) == 0


def test_stored_digest_is_keyed_so_a_copied_database_alone_cannot_be_searched(
    app: Flask,
) -> None:
    import hashlib

    (code,) = generate(app, 1)
    with app.app_context():
        stored = db.session.scalars(sa.select(ResidencyCode.code_hash)).all()
        normalised = code.replace("-", "")
        assert stored == [residency.hash_residency_code(normalised)]
    assert hashlib.sha256(normalised.encode()).hexdigest() not in stored
