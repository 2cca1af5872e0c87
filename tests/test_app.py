"""The app factory, configuration layers, security headers, error pages and language choice."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient

from kldialog import create_app, normalise_database_url


def test_defaults_then_instance_config_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.py").write_text(
        "SECRET_KEY = 'from-instance-config-0123456789'\nPROJECTS_PER_PAGE = 7\nSITE_NAME = 'X'\n"
    )
    monkeypatch.setenv("KLDIALOG_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KLDIALOG_PROJECTS_PER_PAGE", "9")
    monkeypatch.setenv("KLDIALOG_SESSION_COOKIE_SECURE", "true")
    monkeypatch.delenv("KLDIALOG_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-instance-config-0123456789"
    assert app.config["SITE_NAME"] == "X"  # instance config beats the default
    assert app.config["PROJECTS_PER_PAGE"] == 9  # environment beats instance config
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["BABEL_DEFAULT_LOCALE"] == "de"  # untouched default
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("kldialog.sqlite")


def test_database_url_from_environment_selects_psycopg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLDIALOG_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KLDIALOG_SECRET_KEY", "0123456789abcdef-env")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/plain")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/plain"
    monkeypatch.setenv("KLDIALOG_DATABASE_URL", "postgresql://u@db/prefixed")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/prefixed"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://a@h/d", "postgresql+psycopg://a@h/d"),
        ("postgresql://a@h/d", "postgresql+psycopg://a@h/d"),
        ("postgresql+psycopg://a@h/d", "postgresql+psycopg://a@h/d"),
        ("sqlite:///x.sqlite", "sqlite:///x.sqlite"),
    ],
)
def test_normalise_database_url(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected


@pytest.mark.parametrize("secret", [None, "", "short"])
def test_refuses_to_start_in_production_without_a_real_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str | None
) -> None:
    monkeypatch.setenv("KLDIALOG_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("KLDIALOG_SECRET_KEY", raising=False)
    if secret is not None:
        monkeypatch.setenv("KLDIALOG_SECRET_KEY", secret)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


def test_numeric_secret_key_from_environment_stays_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLDIALOG_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("KLDIALOG_SECRET_KEY", "12345678901234567890")
    assert create_app().config["SECRET_KEY"] == "12345678901234567890"


@pytest.mark.parametrize("path", ["/", "/projects", "/impressum", "/no-such-page", "/healthz"])
def test_security_headers_on_every_response(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_static_files_get_security_headers_too(client: FlaskClient) -> None:
    response = client.get("/static/css/kldialog.css")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    response.close()


def test_session_cookie_is_httponly_and_samesite_lax(app_factory: Callable[..., Flask]) -> None:
    app = app_factory(SESSION_COOKIE_SECURE=True)
    client = app.test_client()
    response = client.post("/language", data={"lang": "en", "next": "/"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie


@pytest.fixture
def error_app(app_factory: Callable[..., Flask]) -> Flask:
    """An app with routes that raise each handled error (registered before first request)."""
    app = app_factory(PROPAGATE_EXCEPTIONS=False, MAX_CONTENT_LENGTH=100)

    @app.route("/raise/<int:code>", methods=["GET", "POST"])
    def raise_code(code: int) -> str:
        abort(code)

    @app.route("/crash")
    def crash() -> str:
        raise ValueError("boom")

    @app.post("/upload")
    def upload() -> str:
        from flask import request

        return str(len(request.form))

    return app


ERROR_TITLES = {
    400: ("Ungültige Anfrage", "Bad request"),
    403: ("Zugriff verweigert", "Access denied"),
    404: ("Seite nicht gefunden", "Page not found"),
    405: ("Aktion nicht erlaubt", "Method not allowed"),
    413: ("Zu viele Daten", "Too much data"),
    429: ("Zu viele Anfragen", "Too many requests"),
    500: ("Bei uns ist ein Fehler aufgetreten", "Something went wrong on our side"),
}


@pytest.mark.parametrize("code", sorted(ERROR_TITLES))
def test_error_pages_in_the_site_layout_in_both_languages(error_app: Flask, code: int) -> None:
    client = error_app.test_client()
    german, english = ERROR_TITLES[code]
    response = client.get(f"/raise/{code}")
    assert response.status_code == code
    html = response.get_data(as_text=True)
    assert f'<h1 class="kern-heading-x-large">{german}</h1>' in html
    assert 'class="site-footer"' in html and '<html lang="de"' in html
    client.post("/language", data={"lang": "en", "next": "/"})
    html = client.get(f"/raise/{code}").get_data(as_text=True)
    assert f">{english}</h1>" in html and '<html lang="en"' in html


def test_unhandled_exception_shows_the_500_page(error_app: Flask) -> None:
    response = error_app.test_client().get("/crash")
    assert response.status_code == 500
    assert "Bei uns ist ein Fehler aufgetreten" in response.get_data(as_text=True)
    assert "boom" not in response.get_data(as_text=True)


def test_real_method_and_size_errors(error_app: Flask) -> None:
    client = error_app.test_client()
    assert client.post("/projects").status_code == 405
    response = client.post("/upload", data={"text": "x" * 500})
    assert response.status_code == 413
    assert "Zu viele Daten" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused_with_a_clear_page(
    app_factory: Callable[..., Flask],
) -> None:
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post("/language", data={"lang": "en", "next": "/"})
    assert response.status_code == 400
    assert "Das Formular war abgelaufen" in response.get_data(as_text=True)
    # With the token from the page, the same request works.
    html = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/language", data={"lang": "en", "next": "/", "csrf_token": token})
    assert response.status_code == 303


def test_german_is_the_default_and_english_is_chosen(client: FlaskClient) -> None:
    html = client.get("/", headers={"Accept-Language": "en-US,en"}).get_data(as_text=True)
    assert '<html lang="de"' in html
    response = client.post("/language", data={"lang": "en", "next": "/projects?status=planned"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/projects?status=planned"
    html = client.get("/projects").get_data(as_text=True)
    assert '<html lang="en"' in html and "Projects of the digital roadmap" in html


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "",
        "x",
    ],
)
def test_language_switch_never_redirects_to_another_site(client: FlaskClient, target: str) -> None:
    response = client.post("/language", data={"lang": "en", "next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("lang", ["fr", "", "de<script>", "e" * 5000])
def test_language_switch_rejects_unknown_languages(client: FlaskClient, lang: str) -> None:
    response = client.post("/language", data={"lang": lang, "next": "/"})
    assert response.status_code == 400
    assert '<html lang="de"' in client.get("/").get_data(as_text=True)


def test_language_switch_is_post_only(client: FlaskClient) -> None:
    assert client.get("/language?lang=en").status_code == 405


def test_health_check_answers_without_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok"


def test_instance_templates_override_packaged_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_factory: Callable[..., Flask]
) -> None:
    pages = tmp_path / "templates" / "pages"
    pages.mkdir(parents=True)
    (pages / "impressum.de.html").write_text(
        '{% extends "base.html" %}{% block title %}Impressum{% endblock %}'
        "{% block content %}<h1>Stadt Musterstadt, Rathausplatz 1</h1>{% endblock %}"
    )
    monkeypatch.setenv("KLDIALOG_INSTANCE_PATH", str(tmp_path))
    app = app_factory()
    html = app.test_client().get("/impressum").get_data(as_text=True)
    assert "Stadt Musterstadt, Rathausplatz 1" in html
