"""Static files: hashed URLs, compression, caching headers, and what stays as it was."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient

from kldialog.auth.models import Role
from kldialog.kernel.static import IMMUTABLE, init_static

from .conftest import login

PACKAGE = Path(__file__).resolve().parent.parent / "kldialog"
HASHED_STATIC = re.compile(r"""(?:href|src)="(/static/[^"]+)\"""")
HASHED_NAME = re.compile(r"\.[0-9a-f]{12}\.[a-z0-9]+$")


def static_url(app: Flask, filename: str) -> str:
    with app.test_request_context():
        return url_for("static", filename=filename)


def mini_app(folder: Path, **config: Any) -> Flask:
    """A bare Flask app serving folder the way KL.dialog serves its static files."""
    app = Flask(__name__, static_folder=str(folder))
    app.config.update(config)
    init_static(app, {"X-Content-Type-Options": "nosniff"})
    return app


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "static" / "fonts").mkdir(parents=True)
    (tmp_path / "static" / "site.css").write_text(
        '@font-face { src: url("./fonts/a.woff2") format("woff2"); }\n'
        + "body { color: #123; background: url(data:image/png;base64,AAAA); }\n" * 200,
        "utf-8",
    )
    (tmp_path / "static" / "fonts" / "a.woff2").write_bytes(b"wOF2 font one")
    return tmp_path / "static"


def test_urls_carry_a_content_hash_and_serve_the_file(app: Flask, client: FlaskClient) -> None:
    url = static_url(app, "css/kldialog.css")
    assert re.fullmatch(r"/static/css/kldialog\.[0-9a-f]{12}\.css", url)
    response = client.get(url)
    assert response.status_code == 200
    assert response.data == (PACKAGE / "static" / "css" / "kldialog.css").read_bytes()
    assert response.mimetype == "text/css"


@pytest.mark.parametrize(
    ("accept", "encoding", "decode"),
    [
        ("gzip, deflate, br, zstd", "br", brotli.decompress),  # what Chromium sends
        ("gzip, deflate", "gzip", gzip.decompress),
        ("br;q=0, gzip", "gzip", gzip.decompress),
        ("*", "br", brotli.decompress),
    ],
)
def test_compressed_when_the_client_accepts_it(
    app: Flask, client: FlaskClient, accept: str, encoding: str, decode: Callable[[bytes], bytes]
) -> None:
    url = static_url(app, "vendor/kern/kern.min.css")
    plain = client.get(url).data
    response = client.get(url, headers={"Accept-Encoding": accept})
    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.headers["Vary"]
    assert int(response.headers["Content-Length"]) == len(response.data) < len(plain) / 3
    assert decode(response.data) == plain


@pytest.mark.parametrize("accept", ["", "identity", "gzip;q=0, br;q=0", "compress"])
def test_plain_when_the_client_accepts_no_compression(
    app: Flask, client: FlaskClient, accept: str
) -> None:
    url = static_url(app, "css/kldialog.css")
    response = client.get(url, headers={"Accept-Encoding": accept} if accept else {})
    assert "Content-Encoding" not in response.headers
    assert response.data == (PACKAGE / "static" / "css" / "kldialog.css").read_bytes()


def test_fonts_are_not_compressed_twice(app: Flask, client: FlaskClient) -> None:
    woff2 = next((PACKAGE / "static" / "vendor" / "kern" / "fonts").rglob("*.woff2"))
    name = woff2.relative_to(PACKAGE / "static").as_posix()
    response = client.get(static_url(app, name), headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response.mimetype == "font/woff2"
    assert "Content-Encoding" not in response.headers
    assert response.data == woff2.read_bytes()


def test_hashed_urls_are_cached_for_a_year(app: Flask, client: FlaskClient) -> None:
    response = client.get(static_url(app, "js/comments.js"))
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Cache-Control"] == IMMUTABLE
    assert response.mimetype == "text/javascript"


def test_plain_urls_still_work_but_revalidate(client: FlaskClient) -> None:
    response = client.get("/static/css/kldialog.css")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"
    again = client.get(
        "/static/css/kldialog.css", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize(
    "path",
    [
        "/static/no-such-file.css",
        "/static/css/kldialog.000000000000.css",  # a hash that names no content
        "/static/css/../../__init__.py",
        "/static/css/%2e%2e/%2e%2e/__init__.py",
        "/static/",
    ],
)
def test_unknown_static_paths_are_404_without_long_caching(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "immutable" not in response.headers.get("Cache-Control", "")
    assert "max-age" not in response.headers.get("Cache-Control", "")


def test_head_answers_like_get_without_a_body(app: Flask, client: FlaskClient) -> None:
    url = static_url(app, "css/kldialog.css")
    response = client.head(url)
    assert response.status_code == 200
    assert response.data == b""
    assert int(response.headers["Content-Length"]) == len(client.get(url).data)


@pytest.mark.parametrize("path", ["/", "/projects", "/impressum", "/login"])
def test_pages_get_no_long_caching(kaiserslautern: Flask, client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert "Content-Encoding" not in response.headers


def test_static_answers_carry_no_cookie_even_when_logged_in(
    app: Flask, client: FlaskClient, make_user: Callable[..., Any]
) -> None:
    """A public, year-long response with a Set-Cookie would let a shared cache hand it out."""
    login(client, make_user(Role.resident))
    assert "Set-Cookie" in client.get("/").headers  # the page refreshes the session cookie
    response = client.get(static_url(app, "css/kldialog.css"))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_static_answers_keep_the_security_headers(app: Flask, client: FlaskClient) -> None:
    response = client.get(static_url(app, "js/ballot.js"))
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "who"),
    [
        ("/", None),
        ("/projects", None),
        ("/projects/handyparken", None),
        ("/projects/handyparken", "resident"),
        ("/login", None),
    ],
)
def test_every_static_link_on_a_page_is_hashed_and_resolves(
    kaiserslautern: Flask,
    client: FlaskClient,
    make_user: Callable[..., Any],
    path: str,
    who: str | None,
) -> None:
    if who:
        login(client, make_user(Role.resident))
    html = client.get(path).get_data(as_text=True)
    links = HASHED_STATIC.findall(html)
    assert any(link.endswith(".css") for link in links)
    for link in links:
        assert HASHED_NAME.search(link), link
        assert client.get(link).status_code == 200, link


def test_no_template_hard_codes_a_static_path() -> None:
    """Only url_for('static', ...) gets the hashed name; a literal /static/ link would not."""
    for template in (PACKAGE / "templates").rglob("*.html"):
        text = template.read_text("utf-8")
        assert not re.search(r"""(?:href|src)=["']/static/""", text), template


def test_stylesheets_load_fonts_by_hashed_name(app: Flask, client: FlaskClient) -> None:
    css = client.get(static_url(app, "vendor/kern/fonts/fira-sans.css")).get_data(as_text=True)
    fonts = re.findall(r"""url\(["']?([^"')]+\.woff2)""", css)
    assert fonts
    base = static_url(app, "vendor/kern/fonts/fira-sans.css").rsplit("/", 1)[0]
    for font in fonts:
        assert HASHED_NAME.search(font), font
        response = client.get(f"{base}/{font.removeprefix('./')}")
        assert response.status_code == 200, font
        assert response.headers["Cache-Control"] == IMMUTABLE


def test_a_changed_file_gets_a_new_url(folder: Path) -> None:
    before = static_url(mini_app(folder), "site.css")
    (folder / "site.css").write_text("body { color: red; }\n", "utf-8")
    app = mini_app(folder)
    after = static_url(app, "site.css")
    assert before != after
    client = app.test_client()
    assert client.get(after).data == b"body { color: red; }\n"
    assert client.get(before).status_code == 404  # the old content is gone, not served as new


def test_a_changed_font_gives_its_stylesheet_a_new_url(folder: Path) -> None:
    app = mini_app(folder)
    css_before, font_before = static_url(app, "site.css"), static_url(app, "fonts/a.woff2")
    served = app.test_client().get(css_before).get_data(as_text=True)
    assert f'url("./fonts/{font_before.rsplit("/", 1)[1]}")' in served
    assert "url(data:image/png;base64,AAAA)" in served  # inline data is left alone
    (folder / "fonts" / "a.woff2").write_bytes(b"wOF2 font two")
    app = mini_app(folder)
    assert static_url(app, "fonts/a.woff2") != font_before
    assert static_url(app, "site.css") != css_before


def test_debug_server_picks_up_an_edit_without_restart(folder: Path) -> None:
    app = mini_app(folder, DEBUG=True)
    assert app.debug
    before = static_url(app, "site.css")
    (folder / "site.css").write_text("body { color: blue; }\n", "utf-8")
    after = static_url(app, "site.css")
    assert before != after
    assert app.test_client().get(after).data == b"body { color: blue; }\n"
