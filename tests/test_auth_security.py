"""Account security: no enumeration by timing, per-account throttle, safe mail, erasure."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kldialog.auth import services as accounts
from kldialog.kernel import mail

from .conftest import PASSWORD

# Enough argon2 work that skipping it shows (about 20-40 ms here), cheap enough for CI.
TIMING_ARGON2 = {"ARGON2_TIME_COST": 2, "ARGON2_MEMORY_COST": 16384, "ARGON2_PARALLELISM": 1}


def slow_mail_server(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.05) -> list[str]:
    """Stand in for an SMTP server that takes `seconds` per mail; return the subjects sent."""
    sent: list[str] = []

    def send(message: Any) -> None:
        time.sleep(seconds)
        sent.append(str(message["Subject"]))

    monkeypatch.setattr(mail, "_send_smtp", send)
    return sent


def timed(client: FlaskClient, path: str, data: dict[str, str]) -> float:
    start = time.perf_counter()
    response = client.post(path, data=data)
    elapsed = time.perf_counter() - start
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return elapsed


def assert_same_time(known: list[float], unknown: list[float]) -> None:
    slow, fast = sorted([statistics.median(known), statistics.median(unknown)], reverse=True)
    assert slow / fast <= 1.5, (statistics.median(known), statistics.median(unknown))


def make_account(app: Flask, email: str, name: str) -> None:
    with app.app_context():
        accounts.create_confirmed_user(email=email, password=PASSWORD, display_name=name, roles=[])


@pytest.fixture
def timing_app(app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch) -> Flask:
    app = app_factory(MAIL_SERVER="smtp.example.org", MAIL_BACKGROUND=True, **TIMING_ARGON2)
    slow_mail_server(monkeypatch)
    make_account(app, "known@example.org", "Bekannte Person")
    return app


def test_registration_takes_as_long_for_known_and_unknown_addresses(timing_app: Flask) -> None:
    client = timing_app.test_client()
    known: list[float] = []
    unknown: list[float] = []
    for number in range(15):
        data = {"password": "ein langes gutes Passwort", "accept_terms": "y"}
        known.append(
            timed(
                client,
                "/register",
                {**data, "email": "known@example.org", "display_name": f"Neu A{number}"},
            )
        )
        unknown.append(
            timed(
                client,
                "/register",
                {**data, "email": f"new{number}@example.org", "display_name": f"Neu B{number}"},
            )
        )
    mail.wait_for_background_mail()
    assert_same_time(known, unknown)


def test_forgot_password_takes_as_long_for_known_and_unknown_addresses(timing_app: Flask) -> None:
    client = timing_app.test_client()
    known = [timed(client, "/password/forgot", {"email": "known@example.org"}) for _ in range(15)]
    unknown = [
        timed(client, "/password/forgot", {"email": f"nobody{n}@example.org"}) for n in range(15)
    ]
    mail.wait_for_background_mail()
    assert_same_time(known, unknown)
