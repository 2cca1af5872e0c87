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


# --- the vendored front end (frontend/vendor.sh) --------------------------------------------

KERN = PACKAGE / "static" / "vendor" / "kern"
# Used by templates but not part of KERN at all (so pruning cannot be what removed it).
NOT_IN_KERN = {"kern-btn--small"}


def kern_classes_in(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(kern-[a-z0-9]+(?:(?:-{1,2}|__)[a-z0-9]+)*)(?![\w-])", text))


def sources() -> list[Path]:
    return [
        *(PACKAGE / "templates").rglob("*.html"),
        *(PACKAGE / "static" / "js").rglob("*.js"),
        *PACKAGE.rglob("*.py"),
    ]


def test_pruned_kern_css_keeps_every_class_we_write() -> None:
    """A KERN class added to a template after vendoring needs `bash frontend/vendor.sh`."""
    defined = set(re.findall(r"\.(kern-[\w-]+)", (KERN / "kern.min.css").read_text("utf-8")))
    used = set().union(*(kern_classes_in(path.read_text("utf-8")) for path in sources()))
    assert used - defined - NOT_IN_KERN == set()


def test_pruned_kern_css_keeps_the_variants_templates_build() -> None:
    """Icons, buttons and alerts named in macro arguments, flash categories and badge maps."""
    css = (KERN / "kern.min.css").read_text("utf-8")
    templates = "\n".join(p.read_text("utf-8") for p in (PACKAGE / "templates").rglob("*.html"))
    icons = set(re.findall(r"icon=['\"]([a-z-]+)['\"]", templates))
    for variant, icon in re.findall(
        r"submit\((?:_\('[^']*'\)|\w+),\s*'([a-z]+)'(?:,\s*'([a-z-]+)')?", templates
    ):
        assert f".kern-btn--{variant}" in css, variant
        icons |= {icon} - {""}
    for variant in ("info", "success", "warning", "danger"):  # flash categories and notice()
        assert f".kern-alert--{variant}" in css and f".kern-badge--{variant}" in css, variant
        icons.add(variant)
    assert icons >= {"add", "check", "delete", "mail", "search", "logout"}
    for icon in icons:
        assert f".kern-icon--{icon}" in css, icon


def font_faces() -> list[dict[str, str]]:
    css = (KERN / "fonts" / "fira-sans.css").read_text("utf-8")
    faces = []
    for block in re.findall(r"@font-face\s*{([^}]*)}", css):
        faces.append(dict(re.findall(r"([a-z-]+):\s*([^;]+);", block)))
    return faces


def code_points(unicode_range: str) -> set[int]:
    points: set[int] = set()
    for part in unicode_range.split(","):
        first, _, last = part.strip().removeprefix("U+").partition("-")
        points.update(range(int(first, 16), int(last or first, 16) + 1))
    return points


def applied_font_weights() -> set[int]:
    """Every font-weight KERN's CSS or ours sets, with KERN's custom properties resolved."""
    kern = (KERN / "kern.min.css").read_text("utf-8")
    ours = (PACKAGE / "static" / "css" / "kldialog.css").read_text("utf-8")
    definitions: dict[str, str] = {}
    for name, value in re.findall(r"(--kern-typography-font-weight-[a-z-]+):\s*([^;}]+)", kern):
        definitions.setdefault(name, value.strip())

    def resolve(value: str) -> str:
        match = re.fullmatch(r"var\((--[\w-]+)(?:,\s*(.+))?\)", value.strip())
        if not match:
            return {"normal": "400", "bold": "700"}.get(value.strip(), value.strip())
        name, fallback = match.groups()
        return resolve(definitions[name] if name in definitions else fallback)

    values = re.findall(r"font-weight:\s*([^;}]+)", kern + ours)
    return {int(resolve(value)) for value in values}


def test_fonts_come_in_exactly_the_faces_our_css_applies() -> None:
    weights = applied_font_weights()
    assert weights == {400, 500, 600, 700}
    wanted = {(w, "normal") for w in weights} | {
        (400, "italic"),
        (600, "italic"),
    }  # see kldialog.css
    css = (PACKAGE / "static" / "css" / "kldialog.css").read_text("utf-8")
    assert "font-style: italic" in css
    declared = {(int(face["font-weight"]), face["font-style"]) for face in font_faces()}
    assert declared == wanted
    for face in font_faces():
        assert (KERN / "fonts" / face["src"].split('"')[1]).is_file(), face["src"]


def test_every_character_our_texts_use_is_in_the_latin_subset() -> None:
    """The larger "other" file of a face is fetched only for characters it alone has."""
    faces = [face for face in font_faces() if face["font-weight"] == "400"]
    latin = next(code_points(f["unicode-range"]) for f in faces if ".latin." in f["src"])
    other = next(code_points(f["unicode-range"]) for f in faces if ".other." in f["src"])
    assert not latin & other
    texts = [
        *(PACKAGE / "templates").rglob("*.html"),
        *(PACKAGE / "templates").rglob("*.txt"),
        *(PACKAGE / "translations").rglob("*.po"),
        *(PACKAGE / "data").glob("*.json"),
    ]
    used = {ord(ch) for path in texts for ch in path.read_text("utf-8") if ord(ch) > 0x7E}
    assert {0xE4, 0xF6, 0xFC, 0xDF, 0x201E, 0x201C, 0x2013, 0x2026, 0x2192} <= used
    assert {hex(cp) for cp in used & other} == set()


def test_font_licence_travels_with_the_fonts() -> None:
    licence = (KERN / "LICENSE-OFL-1.1-FiraSans.txt").read_text("utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence
    assert "The Mozilla Foundation and Telefonica S.A." in licence
    assert "LICENSE-OFL-1.1-FiraSans.txt" in (KERN / "fonts" / "fira-sans.css").read_text("utf-8")
