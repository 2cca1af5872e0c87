"""Structured logging: one line per record, level from LOG_LEVEL, no personal data (issue 10 §7)."""

from __future__ import annotations

import io
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from kldialog import create_app
from kldialog.kernel.logging import LineHandler, configure_logging

TOKEN = "IjEyMyI.Zm9vYmFy-c2VjcmV0_dG9rZW4"
TOKEN_PATHS = (
    "/confirm/",
    "/password/reset/",
    "/unsubscribe/",
    "/events/confirm/",
    "/events/registration/",
    "/account/email/confirm/",
)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Send every record to a buffer through the app's handler, as create_app sets it up."""
    buffer = io.StringIO()
    configure_logging("INFO", "keyvalue", stream=buffer)
    yield buffer
    configure_logging("INFO", "keyvalue")


def test_a_record_is_one_key_value_line_without_addresses_or_tokens(
    captured: io.StringIO,
) -> None:
    log = logging.getLogger("kldialog.example")
    log.info(
        "Mail to %s, link https://example.org/password/reset/%s, from 203.0.113.7 and 2001:db8::1",
        "anna.beispiel@example.org",
        TOKEN,
    )
    line = captured.getvalue()
    assert line.count("\n") == 1
    assert "level=INFO logger=kldialog.example " in line
    assert "anna.beispiel" not in line
    assert TOKEN not in line
    assert "203.0.113.7" not in line
    assert "2001:db8::1" not in line
    assert 'msg="Mail to <email>, link https://example.org/password/reset/<token>, ' in line
    assert "from <ip> and <ip>" in line


def test_a_traceback_stays_on_one_line_and_loses_addresses_too(captured: io.StringIO) -> None:
    try:
        raise OSError("550 mailbox unavailable: bernd@example.org")
    except OSError:
        logging.getLogger("kldialog.example").exception("Could not send at 22:05:00")
    text = captured.getvalue()
    assert text.count("\n") == 1
    assert "bernd@example.org" not in text
    assert "550 mailbox unavailable: <email>" in text
    assert "at 22:05:00" in text  # times are not mistaken for IPv6 addresses


def test_json_lines_and_the_level_come_from_the_configuration() -> None:
    buffer = io.StringIO()
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
        }  # fmt: skip
    )
    try:
        root = logging.getLogger()
        ours = [h for h in root.handlers if isinstance(h, LineHandler)]
        assert len(ours) == 1  # the factory replaces its handler, it never stacks them
        assert root.level == logging.WARNING
        configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"], stream=buffer)
        log = logging.getLogger("kldialog.example")
        log.info("not written at WARNING")
        log.warning("Mail to %s failed", "carla@example.org")
        (line,) = buffer.getvalue().splitlines()
        record = json.loads(line)
        assert record["level"] == "WARNING"
        assert record["msg"] == "Mail to <email> failed"
    finally:
        configure_logging("INFO", "keyvalue")


def test_an_unknown_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="LOG_LEVEL"):
        configure_logging("LOUD")
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        configure_logging("INFO", "xml")
    configure_logging("INFO", "keyvalue")


def test_the_development_server_logs_requests_without_client_ip_or_token(
    app: Flask, captured: io.StringIO
) -> None:
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path in (*TOKEN_PATHS, "/login?email=dora%40example.org"):
            url = f"http://127.0.0.1:{server.port}{path}{TOKEN if path in TOKEN_PATHS else ''}"
            try:
                urllib.request.urlopen(url, timeout=10).close()
            except urllib.error.HTTPError:
                pass  # an invalid token may answer 404; the log line is what matters
    finally:
        server.shutdown()
        thread.join(timeout=10)
    lines = [line for line in captured.getvalue().splitlines() if "logger=werkzeug" in line]
    assert len(lines) == len(TOKEN_PATHS) + 1
    text = "\n".join(lines)
    assert "127.0.0.1" not in text
    assert " - - [" not in text  # werkzeug's address-and-date prefix is gone, not only masked
    assert TOKEN not in text
    assert "dora" not in text
    for path in TOKEN_PATHS:
        assert f"GET {path}<token> HTTP/1.1" in text
    assert "GET /login?email=<email> HTTP/1.1" in text
