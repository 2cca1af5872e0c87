"""Static files under content-hashed URLs, compressed once in memory and cached for a year."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import posixpath
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import brotli
from flask import Flask, abort, request
from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

HASH_LENGTH = 12
# A hashed URL names one exact content: browsers and proxies may keep it for a year untouched.
IMMUTABLE = "public, max-age=31536000, immutable"
# A plain URL may change content with the next deploy: revalidate (ETag) before reuse.
REVALIDATE = "no-cache"
COMPRESSIBLE = {".css", ".js", ".svg", ".txt", ".md", ".json", ".map", ".html", ".xml"}
MIMETYPES = {".woff2": "font/woff2", ".js": "text/javascript", ".md": "text/markdown"}
# Relative url() references inside CSS; data:, absolute and fragment-only ones stay as they are.
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')\s]+)\1\s*\)""")
_NOT_RELATIVE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/|#)")
_SPLIT_QUERY = re.compile(r"([^?#]*)(.*)")


@dataclass(frozen=True)
class Asset:
    """One static file as served: its content, its hashed name and how to label it."""

    name: str
    hashed_name: str
    body: bytes
    digest: str
    mimetype: str
    compressible: bool


# Scans and compressed bodies are shared by every app in the process (tests build hundreds).
_SCANS: dict[str, tuple[tuple[tuple[str, int, int], ...], dict[str, Asset]]] = {}
_COMPRESSED: dict[tuple[str, str], bytes | None] = {}
_LOCK = threading.Lock()


class StaticFiles:
    """The app's static folder: hashed names for url_for, and the view that serves them."""

    def __init__(
        self, folder: str | Path, headers: Mapping[str, str] | None = None, refresh: bool = False
    ) -> None:
        self.folder = Path(folder)
        self.headers = dict(headers or {})
        self.refresh = refresh
        self._load()

    def _load(self) -> None:
        self.assets = scan(self.folder)
        self.by_hashed_name = {asset.hashed_name: asset for asset in self.assets.values()}

    def url_name(self, filename: str) -> str:
        """Return the hashed name to link to, or filename itself if no such file exists."""
        if self.refresh:
            self._load()  # debug server: an edited stylesheet gets its new URL on the next page
        asset = self.assets.get(filename)
        return asset.hashed_name if asset else filename

    def find(self, filename: str) -> tuple[Asset, bool] | None:
        """Return the asset a requested name means and whether the name was the hashed one."""
        if self.refresh:
            self._load()
        asset = self.by_hashed_name.get(filename)
        if asset is not None:
            return asset, True
        asset = self.assets.get(filename)
        return (asset, False) if asset is not None else None

    def body(self, filename: str) -> bytes | None:
        """Return the served content of a file named plainly or by its hash."""
        found = self.find(filename)
        return found[0].body if found else None

    def inject_hashed_name(self, endpoint: str, values: dict[str, Any]) -> None:
        """Make url_for('static', filename=...) point at the content-hashed name."""
        if endpoint == "static" and "filename" in values:
            values["filename"] = self.url_name(values["filename"])

    def serve(self, filename: str) -> Response:
        """Flask view for names the middleware did not find: the app's own 404 page."""
        found = self.find(filename)
        if found is None:
            abort(404)
        return self.response(request.environ, *found)

    def response(self, environ: WSGIEnvironment, asset: Asset, hashed: bool) -> Response:
        """Build the answer: the smallest encoding the client accepts, cached as the URL allows."""
        encoding, payload = negotiate(asset, environ.get("HTTP_ACCEPT_ENCODING", ""))
        response = Response(payload, mimetype=asset.mimetype)
        if encoding:
            response.headers["Content-Encoding"] = encoding
        if asset.compressible:
            response.vary.add("Accept-Encoding")
        response.set_etag(f"{asset.digest}-{encoding or 'identity'}")
        response.headers["Cache-Control"] = IMMUTABLE if hashed else REVALIDATE
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        return response.make_conditional(environ)


class StaticMiddleware:
    """Answer GET and HEAD for known static files before Flask runs.

    No session, login or language code sees these requests, so a long-cached public response
    can never carry a Set-Cookie or Vary: Cookie; everything else goes on to the app.
    """

    def __init__(self, app: WSGIApplication, files: StaticFiles, prefix: str) -> None:
        self.app = app
        self.files = files
        self.prefix = prefix.rstrip("/") + "/"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        """Serve the file if the path names one, else call the app."""
        path = environ.get("PATH_INFO", "")
        if path.startswith(self.prefix) and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            found = self.files.find(path[len(self.prefix) :])
            if found is not None:
                return self.files.response(environ, *found)(environ, start_response)
        return self.app(environ, start_response)


def init_static(app: Flask, headers: Mapping[str, str]) -> StaticFiles:
    """Serve the static folder hashed and compressed; make url_for('static') emit hashed names.

    headers (the security headers of every page) are added to each static response too.
    """
    files = StaticFiles(app.static_folder or "", headers=headers, refresh=app.debug)
    app.extensions["kldialog.static"] = files
    app.view_functions["static"] = files.serve
    app.url_defaults(files.inject_hashed_name)
    app.wsgi_app = StaticMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, files, app.static_url_path or "/static"
    )
    return files


def static_files(app: Flask) -> StaticFiles:
    """Return the app's StaticFiles (for code that needs a file's served content)."""
    files: StaticFiles = app.extensions["kldialog.static"]
    return files


def scan(folder: Path) -> dict[str, Asset]:
    """Read every file under folder (hidden ones excepted) once per change of the folder."""
    paths = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(folder).parts)
    )
    stats = [path.stat() for path in paths]
    signature = tuple(
        (path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns)
        for path, stat in zip(paths, stats, strict=True)
    )
    key = str(folder.resolve())
    cached = _SCANS.get(key)
    if cached is not None and cached[0] == signature:
        return cached[1]
    raw = {name: (folder / name).read_bytes() for name, _, _ in signature}
    assets: dict[str, Asset] = {}
    # Stylesheets last: their url() references are rewritten to the hashed names of the fonts
    # and images they load, so a changed font also gives its stylesheet a new URL.
    for name in sorted(raw, key=lambda name: (name.endswith(".css"), name)):
        body = raw[name]
        if name.endswith(".css"):
            body = rewrite_css_urls(name, body, assets)
        assets[name] = make_asset(name, body)
    with _LOCK:
        _SCANS[key] = (signature, assets)
    return assets


def make_asset(name: str, body: bytes) -> Asset:
    """Describe one file: content digest, hashed name (before the last suffix), media type."""
    digest = hashlib.sha256(body).hexdigest()[:HASH_LENGTH]
    stem, suffix = posixpath.splitext(name)
    mimetype = MIMETYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Asset(
        name=name,
        hashed_name=f"{stem}.{digest}{suffix}",
        body=body,
        digest=digest,
        mimetype=mimetype,
        compressible=suffix in COMPRESSIBLE,
    )


def rewrite_css_urls(name: str, body: bytes, assets: dict[str, Asset]) -> bytes:
    """Point relative url() references of a stylesheet at the hashed names of known files."""
    base = posixpath.dirname(name)

    def replace(match: re.Match[str]) -> str:
        quote, ref = match.group(1), match.group(2)
        if _NOT_RELATIVE.match(ref):
            return match.group(0)
        path, tail = _SPLIT_QUERY.match(ref).groups()  # type: ignore[union-attr]
        target = assets.get(posixpath.normpath(posixpath.join(base, path)))
        if target is None:
            return match.group(0)
        new_path = posixpath.join(posixpath.dirname(path), posixpath.basename(target.hashed_name))
        return f"url({quote}{new_path}{tail}{quote})"

    return _CSS_URL.sub(replace, body.decode("utf-8")).encode("utf-8")


def negotiate(asset: Asset, accept_encoding: str) -> tuple[str | None, bytes]:
    """Pick brotli, else gzip, else the plain body, as the client's Accept-Encoding allows."""
    if not asset.compressible:
        return None, asset.body
    accepted = _accepted_encodings(accept_encoding)
    for encoding in ("br", "gzip"):
        if encoding in accepted:
            payload = compressed(asset, encoding)
            if payload is not None:
                return encoding, payload
    return None, asset.body


def _accepted_encodings(header: str) -> set[str]:
    """Return the codings a client accepts (q > 0), with * standing for both of ours."""
    accepted: set[str] = set()
    refused: set[str] = set()
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        (accepted if quality > 0 else refused).add(coding)
    if "*" in accepted:
        accepted |= {"br", "gzip"} - refused
    return accepted


def compressed(asset: Asset, encoding: str) -> bytes | None:
    """Return the asset compressed (computed once per content), or None if that saves little."""
    key = (asset.digest, encoding)
    if key in _COMPRESSED:
        return _COMPRESSED[key]
    if encoding == "br":
        payload = brotli.compress(asset.body, mode=brotli.MODE_TEXT, quality=11)
    else:
        payload = gzip.compress(asset.body, compresslevel=9, mtime=0)
    result = payload if len(payload) < len(asset.body) * 0.95 else None
    with _LOCK:
        _COMPRESSED[key] = result
    return result
