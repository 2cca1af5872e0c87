"""`make prod-check`: run the production setup of docs/deploy.md on this machine and prove it.

Starts, as child processes on free ports with temporary folders: nginx from Debian's package
with deploy/nginx/kldialog.conf (TLS with a throwaway certificate), two gunicorn processes with
deploy/gunicorn.conf.py and several workers each, on a fresh PostgreSQL database
(127.0.0.1:5432, user postgres) and a Redis database number of its own (127.0.0.1:6379). Then
it proves, printing each check: sessions, rate limits and votes are shared between the
processes, static files come from nginx compressed and cached, the cron jobs and `flask check`
run, and a pg_dump backup restored into a fresh database serves the same pages.

Besides the balanced port, nginx gets one port pinned to each app process (copies of the same
server block), so a check can say exactly which process answered. Everything is removed at the
end (--keep leaves the temporary folder for a look). Exit code 1 on any failed check.
"""

from __future__ import annotations

import argparse
import gzip
import html
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import pyotp
import redis
import sqlalchemy as sa

from kldialog.auth.mfa import DEMO_SECRET
from kldialog.config import DefaultConfig as Config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PACKAGE = ROOT / "kldialog"
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get(
    "KLDIALOG_PRODCHECK_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("KLDIALOG_PRODCHECK_REDIS_DB", "12"))
WORKERS = 3
PASSWORD = "kl-dialog-demo"  # noqa: S105  (the demo accounts' published password, throwaway db)
RESIDENT = "einwohnerin@demo.kldialog.invalid"
STAFF = "verwaltung@demo.kldialog.invalid"


class CheckFailed(Exception):
    """A check that the rest of the run depends on did not hold."""

    def __init__(self, message: str, *, reported: bool = False) -> None:
        """Remember whether the failure was printed (and counted) already."""
        super().__init__(message)
        self.reported = reported


@dataclass
class Results:
    """The checks printed so far."""

    failed: list[str] = field(default_factory=list)
    passed: int = 0

    def check(self, label: str, condition: bool, detail: str = "") -> bool:
        """Print one check; remember a failure."""
        mark = "PASS" if condition else "FAIL"
        print(f"  {mark}  {label}" + (f" — {detail}" if detail else ""), flush=True)
        if condition:
            self.passed += 1
        else:
            self.failed.append(label)
        return condition

    def require(self, label: str, condition: bool, detail: str = "") -> None:
        """Print one check; stop the run when it fails (later checks build on it)."""
        if not self.check(label, condition, detail):
            raise CheckFailed(label, reported=True)


STARTED = time.monotonic()


def section(title: str) -> None:
    """Print a heading for a group of checks, with the seconds since the start."""
    print(f"\n== {title} ({time.monotonic() - STARTED:.0f} s)", flush=True)


# --- a small HTTPS client with cookies, pinned to one port and one source address -----------


@dataclass
class Reply:
    """What came back."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """Return the body as text."""
        return self.body.decode("utf-8", "replace")


class Person:
    """A visitor with a cookie jar; requests name the nginx port they go through."""

    def __init__(self, ca_file: Path, source: str = "127.0.0.1") -> None:
        """Trust the throwaway certificate; connect from the given loopback address."""
        self.context = ssl.create_default_context(cafile=str(ca_file))
        self.source = source
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def request(
        self,
        port: int,
        method: str,
        path: str,
        form: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send one request (no redirects followed) and keep the cookies it sets."""
        conn = http.client.HTTPSConnection(
            "127.0.0.1", port, context=self.context, timeout=60, source_address=(self.source, 0)
        )
        sent = {"Host": "localhost", "User-Agent": "kldialog-prod-check", **(headers or {})}
        if method == "POST":
            # Flask-WTF checks the Referer on HTTPS: the app must know the request was HTTPS.
            sent.setdefault("Referer", f"https://localhost:{port}{path}")
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            for header in response.msg.get_all("Set-Cookie") or []:
                self._keep(header)
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            conn.close()

    def _keep(self, header: str) -> None:
        self.set_cookie_headers.append(header)
        jar = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            if morsel.value == "" or morsel["max-age"] == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel.value

    def get(self, port: int, path: str, headers: dict[str, str] | None = None) -> Reply:
        """GET path through the given nginx port."""
        return self.request(port, "GET", path, headers=headers)

    def post(
        self,
        port: int,
        path: str,
        form: list[tuple[str, str]],
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """POST a form through the given nginx port, with a CSRF token of this session."""
        token = self.csrf_token(port, path)
        return self.request(port, "POST", path, [("csrf_token", token), *form], headers)

    def csrf_token(self, port: int, page: str) -> str:
        """Read a CSRF token of this session from a page."""
        reply = self.get(port, page)
        match = CSRF_INPUT.search(reply.text)
        if match is None:
            raise CheckFailed(f"no CSRF token on {page} (status {reply.status})")
        return html.unescape(match.group(1))

    def log_in(self, port: int, email: str, password: str = PASSWORD) -> Reply:
        """Log in through the login form (and the code step for the demo's staff and admin)."""
        reply = self.post(port, "/login", [("email", email), ("password", password)])
        if reply.headers.get("location", "").endswith("/login/code"):
            # The demo's staff and admin accounts have the published demo secret.
            code = pyotp.TOTP(DEMO_SECRET).now()
            reply = self.post(port, "/login/code", [("code", code)])
        return reply


CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
CSRF_ANY = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+(")')


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, what: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    """Wait until something accepts connections on port, or fail with the process's log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CheckFailed(f"{what} exited with {process.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise CheckFailed(f"{what} did not listen on {port} within {seconds:.0f} s")


@dataclass
class Stack:
    """Everything the check started, so that all of it is removed again."""

    tmp: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start a child process whose output goes to logs/<name>.log."""
        log = open(self.tmp / "logs" / f"{name}.log", "ab")
        process = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()  # the child has its own copy of the descriptor
        self.processes[name] = process
        return process

    def stop(self, name: str) -> subprocess.Popen[bytes] | None:
        """Ask one child to stop (SIGTERM: graceful for gunicorn, fast for nginx)."""
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
        return process

    def stop_all(self) -> None:
        """Stop every child at once; kill what is still there after 30 s."""
        stopping = [self.stop(name) for name in list(self.processes)[::-1]]
        deadline = time.monotonic() + 30
        for process in stopping:
            if process is None:
                continue
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def log_tail(self, name: str, lines: int = 15) -> str:
        """Return the end of a child's log, for a failure message."""
        path = self.tmp / "logs" / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])


def wait_until_closed(port: int, seconds: float) -> None:
    """Wait until nothing accepts connections on port any more."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)
    raise CheckFailed(f"port {port} still accepts connections after {seconds:.0f} s")


def wait_until_ready(port: int, what: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until a gunicorn worker answers /healthz (the master listens before they boot)."""
    wait_for_port(port, what, process, 60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    raise CheckFailed(f"{what} does not answer /healthz")


def run(args: list[str], env: dict[str, str], what: str) -> str:
    """Run a command to completion; fail the check with its output if it fails."""
    result = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise CheckFailed(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


# --- set-up ---------------------------------------------------------------------------------


def preflight() -> str:
    """Make sure nginx, PostgreSQL and Redis are there; return the nginx binary."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        if os.geteuid() != 0:
            raise CheckFailed("nginx is missing: apt-get install -y nginx")
        print("nginx is missing: apt-get install -y nginx", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "nginx"], check=True)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    for tool in ("openssl", "pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            raise CheckFailed(f"{tool} is missing (apt-get install -y openssl postgresql-client)")
    engine = sa.create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        raise CheckFailed(f"PostgreSQL does not answer at {PG_ADMIN_URL}: {error}") from None
    finally:
        engine.dispose()
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, socket_timeout=2).ping()
    except redis.RedisError as error:
        raise CheckFailed(f"Redis does not answer at {REDIS_HOST}:{REDIS_PORT}: {error}") from None
    return nginx


def create_database(stack: Stack, name: str) -> str:
    """Create an empty database that the stack drops at the end; return its URL."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    stack.databases.append(name)
    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_databases(stack: Stack) -> None:
    """Drop the databases the check created."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in stack.databases:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def libpq_url(url: str) -> str:
    """Return the URL as pg_dump and pg_restore read it (no SQLAlchemy driver suffix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def throwaway_certificate(folder: Path) -> tuple[Path, Path]:
    """Create a self-signed certificate for 127.0.0.1/localhost, valid for one day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def app_environment(tmp: Path, database_url: str, public_port: int) -> dict[str, str]:
    """Return the settings of deploy/systemd/kldialog.env.example, filled in for this run."""
    return {
        "KLDIALOG_SECRET_KEY": secrets.token_hex(32),
        "KLDIALOG_DATABASE_URL": database_url,
        "KLDIALOG_RATELIMIT_STORAGE_URI": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
        "KLDIALOG_PAGE_CACHE_REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
        "KLDIALOG_PUBLIC_URL": f"https://127.0.0.1:{public_port}",
        "KLDIALOG_SESSION_COOKIE_SECURE": "true",
        "KLDIALOG_PROXY_COUNT": "1",
        "KLDIALOG_INSTANCE_PATH": str(tmp / "instance"),
        "KLDIALOG_MAIL_FROM": '"KL.dialog prod check <noreply@prodcheck.example>"',
        "WEB_CONCURRENCY": str(WORKERS),
    }


def write_env_file(path: Path, settings: dict[str, str]) -> None:
    """Write the settings as /etc/kldialog/kldialog.env would hold them."""
    path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    path.chmod(0o600)


def process_environment(settings: dict[str, str]) -> dict[str, str]:
    """Return this process's environment without KLDIALOG_* leftovers, plus the settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("KLDIALOG_") and k != "DATABASE_URL"
    }
    env.update({key: value.strip('"') for key, value in settings.items()})
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def start_app(stack: Stack, name: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start one app process as the systemd unit does (plus an access log for the checks)."""
    return stack.start(
        name,
        [
            str(VENV_BIN / "gunicorn"),
            "--config", str(DEPLOY / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}",
            # Only here: the checks read which process saw which request.
            "--access-logfile", str(stack.tmp / "logs" / f"{name}.access.log"),
            "kldialog:create_app()",
        ],
        env,
    )  # fmt: skip


# --- nginx: the shipped config, with this machine's ports and paths ---------------------------


def render_nginx(tmp: Path, ports: dict[str, int], cert: Path, key: Path) -> tuple[str, str]:
    """Return deploy/nginx/kldialog.conf for this run, and the two pinned server blocks."""
    text = (DEPLOY / "nginx" / "kldialog.conf").read_text()
    replacements = [
        ("server 127.0.0.1:8001 ", f"server 127.0.0.1:{ports['app_a']} "),
        ("server 127.0.0.1:8002 ", f"server 127.0.0.1:{ports['app_b']} "),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("    listen [::]:80;\n", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{ports['https']} ssl http2;"),
        ("listen 80;", f"listen 127.0.0.1:{ports['http']};"),
        ("/etc/letsencrypt/live/beteiligung.example.de/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/beteiligung.example.de/privkey.pem", str(key)),
        ("/var/log/nginx/", f"{tmp}/logs/"),
        ("/var/www/letsencrypt", f"{tmp}/acme"),
        ("root /srv/kldialog/kldialog;", f"root {PACKAGE};"),
        ("beteiligung.example.de", "localhost"),
    ]
    for old, new in replacements:
        if old not in text:  # the shipped file changed: keep this check in step with it
            raise CheckFailed(f"deploy/nginx/kldialog.conf no longer contains {old!r}")
        text = text.replace(old, new)
    tls_block = next(b for b in server_blocks(text) if "ssl_certificate" in b)
    pins = []
    for app, pin in (("app_a", "pin_a"), ("app_b", "pin_b")):
        block = tls_block.replace(
            f"listen 127.0.0.1:{ports['https']} ssl", f"listen 127.0.0.1:{ports[pin]} ssl"
        )
        block = block.replace(
            "proxy_pass http://kldialog_app;", f"proxy_pass http://127.0.0.1:{ports[app]};"
        )
        pins.append(f"# Check only: every request to this port goes to {app}.\n{block}\n")
    return text, "\n".join(pins)


def server_blocks(text: str) -> Iterator[str]:
    """Yield each top-level `server { ... }` block (the config has no braces in strings)."""
    for match in re.finditer(r"^server \{", text, flags=re.MULTILINE):
        depth = 0
        for index in range(match.start(), len(text)):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0 and text[index] == "}":
                yield text[match.start() : index + 1]
                break


def start_nginx(stack: Stack, nginx: str, ports: dict[str, int], cert: Path, key: Path) -> None:
    """Write a top-level nginx.conf around the shipped file and run nginx in the foreground."""
    prefix = stack.tmp / "nginx"
    (stack.tmp / "acme").mkdir()
    site, pins = render_nginx(stack.tmp, ports, cert, key)
    (prefix / "kldialog.conf").write_text(site)
    (prefix / "pins.conf").write_text(pins)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"""# Like Debian's /etc/nginx/nginx.conf, reduced to what KL.dialog needs.
daemon off;
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {stack.tmp}/logs/nginx-error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    gzip on;  # as in Debian's nginx.conf: the site turns it off for pages, on for /static/
{temp_paths}
    access_log {stack.tmp}/logs/nginx-other.log;
    include {prefix}/kldialog.conf;
    include {prefix}/pins.conf;
}}
"""
    )
    conf = str(prefix / "nginx.conf")
    test = subprocess.run(
        [nginx, "-t", "-q", "-p", str(prefix), "-c", conf], capture_output=True, text=True
    )
    if test.returncode != 0:
        raise CheckFailed(f"nginx -t refused the configuration:\n{test.stderr}")
    process = stack.start("nginx", [nginx, "-p", str(prefix), "-c", conf], dict(os.environ))
    for name in ("https", "http", "pin_a", "pin_b"):
        wait_for_port(ports[name], "nginx", process, 20)


# --- the checks -----------------------------------------------------------------------------


def access_log_paths(stack: Stack, app: str) -> list[str]:
    """Return the request paths an app process logged (gunicorn's default access format)."""
    path = stack.tmp / "logs" / f"{app}.access.log"
    if not path.exists():
        return []
    return re.findall(r'"[A-Z]+ (\S+) HTTP/', path.read_text("utf-8", "replace"))


def check_unit(results: Results, tmp: Path) -> None:
    """Check the systemd unit with systemd-analyze (it cannot run here: no systemd as PID 1)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("  (systemd-analyze is missing: the unit file is not checked)")
        return
    folder = tmp / "systemd"
    folder.mkdir()
    unit = (DEPLOY / "systemd" / "kldialog@.service").read_text()
    (folder / "kldialog@.service").write_text(
        unit.replace("/srv/kldialog/.venv/bin/gunicorn", str(VENV_BIN / "gunicorn"))
    )
    result = subprocess.run(
        [analyze, "verify", "./kldialog@8001.service"], cwd=folder, capture_output=True, text=True
    )
    complaints = (result.stdout + result.stderr).strip()
    results.check(
        "deploy/systemd/kldialog@.service passes systemd-analyze verify",
        result.returncode == 0 and not complaints,
        complaints or "no complaints",
    )


def check_front(results: Results, stack: Stack, ca: Path, ports: dict[str, int]) -> None:
    """Prove nginx terminates TLS, redirects plain HTTP and spreads requests over both apps."""
    section("nginx in front of two app processes")
    visitor = Person(ca)
    reply = visitor.get(ports["https"], "/healthz")
    results.require("HTTPS through nginx answers", reply.status == 200, f"/healthz {reply.status}")
    results.check(
        "HSTS is sent",
        reply.headers.get("strict-transport-security", "").startswith("max-age="),
        reply.headers.get("strict-transport-security", "missing"),
    )
    conn = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=10)
    conn.request("GET", "/projects", headers={"Host": "localhost"})
    plain = conn.getresponse()
    location = plain.getheader("Location") or ""
    conn.close()
    results.check(
        "plain HTTP is redirected to HTTPS",
        plain.status == 301 and location.startswith("https://"),
        f"{plain.status} → {location}",
    )
    for _ in range(12):
        visitor.get(ports["https"], "/healthz?spread")
    seen = {app: access_log_paths(stack, app).count("/healthz?spread") for app in APPS}
    results.check(
        "the balanced port uses both processes",
        all(seen.values()),
        ", ".join(f"{app}: {n} of 12" for app, n in seen.items()),
    )


APPS = ("app_a", "app_b")


def check_sessions(results: Results, ca: Path, ports: dict[str, int]) -> Person:
    """Prove a login through process A is valid on process B (signed cookie, one key)."""
    section("sessions are shared")
    resident = Person(ca)
    reply = resident.log_in(ports["pin_a"], RESIDENT)
    results.require(
        "resident logs in through process A",
        reply.status == 303 and reply.headers.get("location", "").endswith("/account"),
        f"{reply.status} → {reply.headers.get('location')}",
    )
    cookie = next(
        h for h in resident.set_cookie_headers[::-1] if h.startswith("__Host-kldialog_session=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    results.check(
        "the session cookie is Secure, HttpOnly, SameSite=Lax",
        {"secure", "httponly", "samesite=lax"} <= flags,
        "; ".join(sorted(f for f in flags if not f.startswith(("expires", "path")))),
    )
    account = resident.get(ports["pin_b"], "/account")
    results.require(
        "the same session is valid on process B",
        account.status == 200 and "Demo Einwohnerin" in account.text,
        f"/account through B: {account.status}",
    )
    stranger = Person(ca).get(ports["pin_b"], "/account")
    results.check(
        "without the cookie, process B asks to log in",
        stranger.status == 302 and "/login" in stranger.headers.get("location", ""),
        f"{stranger.status} → {stranger.headers.get('location')}",
    )
    page = Person(ca).get(ports["https"], "/projects", headers={"Accept-Encoding": "gzip"})
    results.check(
        "pages are not kept by shared HTTP caches (the page cache is on the server)",
        page.headers.get("cache-control") == "private, no-cache",
        f"Cache-Control: {page.headers.get('cache-control')}",
    )
    results.check(
        "pages with CSRF tokens are not compressed (BREACH)",
        "content-encoding" not in page.headers and b"csrf_token" in page.body,
        f"Content-Encoding: {page.headers.get('content-encoding', 'none')}",
    )
    return resident


def _first_limit(setting: str) -> int:
    """Return N of the first "N per period" in a rate-limit setting."""
    return int(setting.split(";")[0].split()[0])


def check_rate_limits(results: Results, ca: Path, ports: dict[str, int]) -> None:
    """Prove the per-address and per-account login limits count in Redis for both processes."""
    per_address = _first_limit(Config.RATELIMIT_LOGIN)
    per_account = _first_limit(Config.LOGIN_ACCOUNT_LIMIT)
    section(
        f"rate limits are shared (failed logins: {per_address} per minute per client address,"
        f" {per_account} per 15 minutes per account)"
    )
    # A loopback address of its own gives this client a fresh counter; a different unknown
    # address on every try keeps the per-account throttle out of this count.
    attacker = Person(ca, source="127.0.0.2")
    statuses = []
    for attempt in range(per_address + 2):
        port = ports["pin_a"] if attempt % 2 == 0 else ports["pin_b"]
        # A forged X-Forwarded-For must not give a fresh counter: nginx sets the header itself.
        reply = attacker.post(
            port,
            "/login",
            [("email", f"guess{attempt}@example.org"), ("password", "wrong password")],
            headers={"X-Forwarded-For": f"203.0.113.{attempt + 1}"},
        )
        statuses.append(("A" if attempt % 2 == 0 else "B") + f":{reply.status}")
    allowed = [s for s in statuses if s.endswith(":200")]
    limited = [s for s in statuses if s.endswith(":429")]
    results.check(
        f"{per_address} failed logins alternating A and B are allowed, then both refuse",
        len(allowed) == per_address and limited == statuses[per_address:] and len(limited) == 2,
        " ".join(statuses),
    )
    other = Person(ca, source="127.0.0.3").post(
        ports["pin_b"], "/login", [("email", RESIDENT), ("password", "wrong password")]
    )
    results.check(
        "another client address still has its own allowance",
        other.status == 200,
        f"from 127.0.0.3: {other.status}",
    )
    # One address guessed from a new client address each time, alternating processes: the
    # account's counter is shared, so the pause starts after the limit wherever they come from.
    target = "lock-probe@example.org"
    paused = []
    for attempt in range(per_account + 1):
        port = ports["pin_a"] if attempt % 2 == 0 else ports["pin_b"]
        reply = Person(ca, source=f"127.0.1.{attempt + 1}").post(
            port, "/login", [("email", target), ("password", "wrong password")]
        )
        paused.append("paused" if LOCK_TEXT in reply.text else f"{reply.status}")
    results.check(
        f"{per_account} wrong passwords for one address from {per_account + 1} client addresses"
        " over both processes pause it",
        paused[: per_account - 1] == ["200"] * (per_account - 1)
        and paused[per_account - 1 :] == ["paused", "paused"],
        " ".join(paused),
    )
    keys = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB).dbsize()
    results.check("the counters live in Redis", keys > 0, f"{keys} key(s) in Redis db {REDIS_DB}")


# The German lock message's first words (kldialog/auth/views.py _lock_message).
LOCK_TEXT = "Zu viele falsche Passwörter"


def check_page_cache(results: Results, ca: Path, ports: dict[str, int], resident: Person) -> None:
    """Prove a page cached by process A is replaced at once after a write through process B."""
    section("the anonymous page cache is shared (data version in Redis)")
    path = "/projects/handyparken"
    visitor = Person(ca, source="127.0.0.4")
    # Each worker of process A keeps its own entries: a few views reach every worker once.
    for _ in range(12):
        cached = visitor.get(ports["pin_a"], path)
        if cached.headers.get("x-page-cache") == "hit":
            break
    results.check(
        "a visitor's repeated view through process A comes from the page cache",
        cached.status == 200 and cached.headers.get("x-page-cache") == "hit",
        f"{cached.status}, X-Page-Cache: {cached.headers.get('x-page-cache')}",
    )
    text = f"Prüfung {secrets.token_hex(4)}: gilt das auch für Anwohnerparken?"
    page = resident.get(ports["pin_b"], path)
    token = CSRF_INPUT.search(page.text)
    if token is None:
        raise CheckFailed(f"no comment form for the resident on {path} ({page.status})")
    posted = resident.request(
        ports["pin_b"],
        "POST",
        f"{path}/comments",
        [("csrf_token", html.unescape(token.group(1))), ("body", text)],
    )
    results.require(
        "the resident comments through process B", posted.status == 303, f"{posted.status}"
    )
    after = visitor.get(ports["pin_a"], path)
    version_keys = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB).keys("*pagecache*")
    results.check(
        "the page cache's data version lives in Redis",
        bool(version_keys),
        ", ".join(k.decode() for k in version_keys) or "no key",
    )
    results.check(
        "the visitor's next view through process A shows the new comment at once",
        after.status == 200 and html.escape(text, quote=False) in after.text,
        f"{after.status}, X-Page-Cache: {after.headers.get('x-page-cache')}",
    )


def staff_round_counts(staff: Person, port: int) -> dict[int, int]:
    """Return {round id: ballot count} as the staff list of rounds shows them."""
    page = staff.get(port, "/staff/rounds")
    if page.status != 200:
        raise CheckFailed(f"/staff/rounds answered {page.status}")
    counts = {}
    for row in page.text.split("<tr")[1:]:
        link = re.search(r'href="/staff/rounds/(\d+)"', row)
        count = re.search(r'kern-table__cell--numeric">([\d.,]+)</td>', row)
        if link and count:
            counts[int(link.group(1))] = int(re.sub(r"\D", "", count.group(1)))
    return counts


CHECKBOX = re.compile(r'<input[^>]*type="checkbox"[^>]*name="project" value="(\d+)"([^>]*)>')


def check_votes(
    results: Results, ca: Path, ports: dict[str, int], resident: Person
) -> tuple[int, Person]:
    """Prove a ballot cast through process A is counted and shown through process B."""
    section("a vote through one process is seen through the other")
    staff = Person(ca)
    results.require(
        "staff logs in through process B", staff.log_in(ports["pin_b"], STAFF).status == 303
    )
    counts = staff_round_counts(staff, ports["pin_b"])
    pages = {rid: resident.get(ports["pin_a"], f"/priorities/{rid}") for rid in counts}
    open_ids = [rid for rid, page in pages.items() if 'id="ballot"' in page.text]
    results.require("the demo has an open round", len(open_ids) == 1, f"rounds {sorted(counts)}")
    round_id, before, page = open_ids[0], counts[open_ids[0]], pages[open_ids[0]]
    boxes = CHECKBOX.findall(page.text)
    results.require("the ballot form shows the projects", len(boxes) >= 3, f"{len(boxes)} projects")
    chosen = [boxes[0][0], boxes[2][0]]
    reply = resident.post(
        ports["pin_a"], f"/priorities/{round_id}", [("project", pid) for pid in chosen]
    )
    results.require(
        "the resident votes through process A", reply.status == 303, f"POST {reply.status}"
    )
    after = staff_round_counts(staff, ports["pin_b"])[round_id]
    results.check(
        "staff sees the new ballot through process B",
        after == before + 1,
        f"ballots {before} → {after}",
    )
    again = CHECKBOX.findall(resident.get(ports["pin_b"], f"/priorities/{round_id}").text)
    ticked = [pid for pid, rest in again if "checked" in rest]
    results.check(
        "the resident's own ballot page on process B shows the choice",
        ticked == chosen,
        f"chosen {chosen}, shown {ticked}",
    )
    return round_id, staff


def check_static(results: Results, stack: Stack, ca: Path, ports: dict[str, int]) -> None:
    """Prove static files come from nginx (never the app), gzip-compressed and cached."""
    section("static files are served by nginx")
    visitor = Person(ca)
    for name in ("css/kldialog.css", "vendor/kern/kern.min.css", "js/ballot.js"):
        path = f"/static/{name}"
        reply = visitor.get(ports["https"], path, headers={"Accept-Encoding": "gzip"})
        original = (PACKAGE / "static" / name).read_bytes()
        encoding = reply.headers.get("content-encoding", "none")
        same = encoding == "gzip" and gzip.decompress(reply.body) == original
        results.check(
            f"{path} compressed, identical to the package's file",
            reply.status == 200 and same,
            f"{reply.status}, {encoding}, {len(reply.body):,} of {len(original):,} bytes",
        )
        results.check(
            f"{path} cached and revalidated",
            reply.headers.get("cache-control", "").startswith("public, max-age=")
            and "accept-encoding" in reply.headers.get("vary", "").lower()
            and bool(reply.headers.get("etag")),
            f"Cache-Control: {reply.headers.get('cache-control')}; "
            f"Vary: {reply.headers.get('vary')}",
        )
    missing = "/static/css/kldialog.0123456789ab.css"
    reply = visitor.get(ports["https"], missing)
    # gunicorn writes its access line after the response: wait for this one, which also
    # means the lines of the requests before it are written.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        passed_on = any(missing in access_log_paths(stack, app) for app in APPS)
        if passed_on:
            break
        time.sleep(0.2)
    reached = [
        p
        for app in APPS
        for p in access_log_paths(stack, app)
        if p.startswith("/static/") and p != missing
    ]
    results.check("no static request reached an app process", not reached, f"{reached[:3]}")
    results.check(
        "a name nginx does not have (e.g. fingerprinted) is passed on to the app",
        passed_on,
        f"{missing}: the app answered {reply.status}",
    )


def check_jobs_and_self_check(results: Results, env: dict[str, str]) -> None:
    """Run the jobs of deploy/cron.d/kldialog and `flask check` against this setup."""
    section("cron jobs and the deployment self-check")
    runner = str(DEPLOY / "kldialog-run")
    jobs = [["rounds", "close-due"], ["surveys", "flush"], ["maintenance", "purge"]]
    # All four at once: each spends most of its time importing the app.
    running = [
        subprocess.Popen(
            [runner, *command], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for command in [["check"], *(["--cron", *job] for job in jobs)]
    ]
    outputs = [process.communicate(timeout=300) for process in running]
    for job, process, (out, _err) in zip(jobs, running[1:], outputs[1:], strict=True):
        results.check(
            f"kldialog-run --cron {' '.join(job)}",
            process.returncode == 0 and out == b"",
            f"exit {process.returncode}, silent" if out == b"" else out.decode().strip(),
        )
    report = subprocess.CompletedProcess(
        ["check"], running[0].returncode, outputs[0][0].decode(), outputs[0][1].decode()
    )
    warnings = re.findall(r"^  warning  (\S+)", report.stdout, flags=re.MULTILINE)
    errors = re.findall(r"^  ERROR    (\S+)", report.stdout, flags=re.MULTILINE)
    results.check(
        "flask check passes (exit 0, no errors)",
        report.returncode == 0 and not errors,
        f"exit {report.returncode}; errors: {errors or 'none'}; warnings: {', '.join(warnings)}",
    )
    if report.returncode != 0:
        print(report.stdout + report.stderr)


def normalised(reply: Reply) -> str:
    """Return a page without what differs per request (CSRF tokens carry a timestamp)."""
    return f"{reply.status}\n" + CSRF_ANY.sub(r"\1…\2", reply.text)


def key_pages(round_id: int, closed_id: int) -> list[tuple[str, str]]:
    """Return (who, path) of the pages compared before and after the restore."""
    return [
        ("anonymous", "/"),
        ("anonymous", "/projects"),
        ("anonymous", "/projects?status=in_progress"),
        ("anonymous", "/projects/handyparken"),
        ("anonymous", "/priorities"),
        ("anonymous", f"/priorities/{closed_id}/results"),
        ("anonymous", f"/priorities/{closed_id}/ballots.json"),
        ("anonymous", "/surveys"),
        ("anonymous", "/moderationsbericht"),
        ("resident", "/account"),
        ("resident", f"/priorities/{round_id}"),
        ("staff", "/staff/rounds"),
        ("staff", "/staff/projects"),
    ]


def closed_round_id(ca: Path, port: int) -> int:
    """Return the id of the demo's closed round (linked to its results)."""
    match = re.search(r'href="/priorities/(\d+)/results"', Person(ca).get(port, "/priorities").text)
    if match is None:
        raise CheckFailed("no closed round with results on /priorities")
    return int(match.group(1))


def check_backup(
    results: Results,
    stack: Stack,
    ca: Path,
    ports: dict[str, int],
    people: dict[str, Person],
    settings: dict[str, str],
    round_id: int,
) -> None:
    """pg_dump with deploy/kldialog-backup, pg_restore into a fresh database, same pages."""
    section("backup and restore")
    env = process_environment(settings)
    env["KLDIALOG_BACKUP_DATABASE"] = libpq_url(settings["KLDIALOG_DATABASE_URL"])
    env["KLDIALOG_BACKUP_DIR"] = str(stack.tmp / "backups")
    dump = Path(run([str(DEPLOY / "kldialog-backup")], env, "kldialog-backup").strip())
    results.require(
        "kldialog-backup wrote a dump",
        dump.is_file() and dump.stat().st_size > 0,
        f"{dump.name}, {dump.stat().st_size:,} bytes, mode {oct(dump.stat().st_mode & 0o777)}",
    )
    restored_url = create_database(stack, stack.databases[0] + "_restored")
    run(
        ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq_url(restored_url)}",
         str(dump)],
        env,
        "pg_restore",
    )  # fmt: skip
    results.check("pg_restore into a fresh database", True, restored_url.rsplit("/", 1)[-1])

    closed_id = closed_round_id(ca, ports["pin_a"])
    pages = key_pages(round_id, closed_id)
    fresh = {"anonymous": lambda: Person(ca)}
    before = {}
    for who, path in pages:
        person = fresh[who]() if who in fresh else people[who]
        before[(who, path)] = normalised(person.get(ports["pin_a"], path))

    # Process B now runs on the restored database; A keeps the original.
    stack.stop("app_b")
    wait_until_closed(ports["app_b"], 30)  # gunicorn closes its socket first, then drains
    restored_settings = {**settings, "KLDIALOG_DATABASE_URL": restored_url}
    process = start_app(
        stack, "app_b_restored", ports["app_b"], process_environment(restored_settings)
    )
    wait_until_ready(ports["app_b"], "gunicorn on the restored database", process)
    differing = []
    for who, path in pages:
        person = fresh[who]() if who in fresh else people[who]
        after = normalised(person.get(ports["pin_b"], path))
        if after != before[(who, path)]:
            differing.append(f"{who} {path}")
            (stack.tmp / "logs" / f"diff-{len(differing)}.before").write_text(before[(who, path)])
            (stack.tmp / "logs" / f"diff-{len(differing)}.after").write_text(after)
    ok_status = all(text.startswith("200\n") for text in before.values())
    results.check(
        f"{len(pages)} key pages answer 200 on the original database",
        ok_status,
        ", ".join(f"{w} {p}" for (w, p), t in before.items() if not t.startswith("200\n")),
    )
    results.check(
        "the restored database serves the same pages (sessions still valid)",
        not differing,
        "identical: " + ", ".join(p for _, p in pages) if not differing else "; ".join(differing),
    )


def main() -> int:
    """Run the whole check; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    started = time.monotonic()
    results = Results()
    tmp = Path(tempfile.mkdtemp(prefix="kldialog-prodcheck-"))
    tmp.chmod(0o711)  # nginx workers (nobody) reach the log and temp folders, cannot list
    for sub in ("logs", "nginx", "instance", "backups"):
        (tmp / sub).mkdir()
    (tmp / "logs").chmod(0o777)
    stack = Stack(tmp)
    redis_db = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    try:
        nginx = preflight()
        redis_db.flushdb()
        ports = {
            name: free_port() for name in ("https", "http", "pin_a", "pin_b", "app_a", "app_b")
        }
        section("setting up")
        database_url = create_database(stack, f"kldialog_prodcheck_{secrets.token_hex(4)}")
        settings = app_environment(tmp, database_url, ports["https"])
        write_env_file(tmp / "kldialog.env", settings)
        runner_env = {**process_environment({}), "KLDIALOG_ENV_FILE": str(tmp / "kldialog.env")}
        runner = str(DEPLOY / "kldialog-run")
        run([runner, "db", "upgrade"], runner_env, "flask db upgrade")
        print(f"  migrated the database ({time.monotonic() - started:.0f} s)", flush=True)
        # Content for the pages: the demo loader (only this one command sees DEMO).
        run([runner, "demo", "load"], {**runner_env, "KLDIALOG_DEMO": "true"}, "flask demo load")
        print(f"  loaded the demo content ({time.monotonic() - started:.0f} s)", flush=True)
        cert, key = throwaway_certificate(tmp)
        env = process_environment(settings)
        apps = {app: start_app(stack, app, ports[app], env) for app in APPS}
        for app, process in apps.items():  # both boot at the same time
            wait_until_ready(ports[app], f"gunicorn {app}", process)
        start_nginx(stack, nginx, ports, cert, key)
        print(
            f"  nginx https :{ports['https']} (pinned: A :{ports['pin_a']}, B :{ports['pin_b']}),"
            f" gunicorn A :{ports['app_a']} and B :{ports['app_b']} with {WORKERS} workers each,"
            f" PostgreSQL {database_url.rsplit('/', 1)[-1]}, Redis db {REDIS_DB}"
            f" ({time.monotonic() - started:.0f} s)",
            flush=True,
        )

        check_unit(results, tmp)
        check_front(results, stack, cert, ports)
        resident = check_sessions(results, cert, ports)
        check_rate_limits(results, cert, ports)
        check_page_cache(results, cert, ports, resident)
        round_id, staff = check_votes(results, cert, ports, resident)
        check_static(results, stack, cert, ports)
        check_jobs_and_self_check(results, runner_env)
        check_backup(
            results,
            stack,
            cert,
            ports,
            {"resident": resident, "staff": staff},
            settings,
            round_id,
        )
    except CheckFailed as error:
        if not error.reported:
            results.failed.append(str(error))
            print(f"  FAIL  {error}", flush=True)
        print("  (stopped: the remaining checks build on this one)", flush=True)
        for name in list(stack.processes):
            tail = stack.log_tail(name)
            if tail:
                print(f"--- end of {name}'s log:\n{tail}")
    finally:
        section("cleaning up")
        stack.stop_all()
        print(f"  stopped nginx and gunicorn ({time.monotonic() - started:.0f} s)", flush=True)
        try:
            drop_databases(stack)
            print(f"  dropped the databases ({time.monotonic() - started:.0f} s)", flush=True)
        finally:
            redis_db.flushdb()
            redis_db.close()
            if args.keep:
                print(f"\nKept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.monotonic() - started
    if results.failed:
        total = results.passed + len(results.failed)
        print(f"\nprod-check FAILED: {len(results.failed)} of {total} checks ({seconds:.0f} s):")
        print("  " + "\n  ".join(results.failed))
        return 1
    print(f"\nprod-check passed: {results.passed} checks in {seconds:.0f} s; everything removed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
