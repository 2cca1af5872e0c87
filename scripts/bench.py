"""`make bench`: every key page at 1× and 10× Kaiserslautern, on SQLite and PostgreSQL.

For each database and scale: generate the data in bulk (scripts/bulkdata.py), serve the app
with gunicorn (2 sync workers), measure a one-route hello-world Flask app on the same gunicorn
right before, then run wrk on every key page, anonymous and logged in as a resident (a session
cookie from logging in through the app): once as wrk repeats it (the resident's own page kept
for their session, kernel/pagecache.py) and once on a second gunicorn with that cache off, so
that every request renders the page as a first view does. Each page's rate is given as a
share of hello-world's: these machines are shared and noisy, so the ratio is the number to
compare, not bare req/s.
Also counts each page's SQL statements (test client, same database) and, once, the page
weight of the home page in Chromium (first and repeat visit). Writes the tables into
docs/performance.md between the bench markers.

PostgreSQL: a database of its own is created on 127.0.0.1:5432 as user postgres and dropped
afterwards; nothing else is started.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.cookiejar
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-" + "x" * 32
FIRST_VIEW = "resident, first view"  # every request rendered: the personal page cache off
# Issue 12's goals, as a share of hello-world in the same run.
GOALS = {"anonymous": 0.5, "resident": 0.2, FIRST_VIEW: 0.2}
SLOW = 0.25  # seconds per request above which wrk uses as many connections as workers
# (name, path): the key pages; {names} come from the generated data (bulkdata.Facts).
PAGES = [
    ("home", "/"),
    ("project list", "/projects"),
    ("project list, filtered", "/projects?q={search_word}&status=in_progress&sort=recent"),
    ("project with the big discussion", "/projects/{big_project}"),
    ("priorities", "/priorities"),
    ("surveys", "/surveys"),
    ("closed round's results", "/priorities/{closed_round}/results"),
    ("moderation report", "/moderationsbericht"),
    ("Datenschutz", "/datenschutz"),
    ("Impressum", "/impressum"),
    ("Barrierefreiheit", "/barrierefreiheit"),
    ("Leichte Sprache", "/leichte-sprache"),
]
RESIDENT_PAGES = [
    ("ballot form of the open round", "/priorities/{open_round}"),
    ("open survey's form", "/surveys/{open_survey}"),
]
CHROMIUM = os.environ.get("KLDIALOG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def log(message: str) -> None:
    """Say what the benchmark is doing (it runs for minutes)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- databases -------------------------------------------------------------------------------


@contextmanager
def database(kind: str, folder: Path, scale: float, admin_url: str) -> Iterator[str]:
    """Yield the URL of an empty database of this kind; drop it afterwards (PostgreSQL)."""
    if kind == "sqlite":
        path = folder / f"bench-{scale:g}.sqlite"
        yield f"sqlite:///{path}"
        path.unlink(missing_ok=True)
        return
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"kldialog_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def generate(url: str, scale: float) -> tuple[Any, str]:
    """Create the schema and the data; return the facts and the database's version."""
    import sqlalchemy as sa

    from kldialog import create_app
    from scripts import bulkdata

    app = create_app({"SECRET_KEY": SECRET, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        db.create_all()
        facts = bulkdata.generate(scale)
        if db.engine.dialect.name == "postgresql":
            version = "PostgreSQL " + db.session.scalar(sa.text("SHOW server_version"))
        else:
            version = "SQLite " + sqlite3.sqlite_version
        db.session.remove()
        db.engine.dispose()
    return facts, version


def count_statements(url: str, facts: Any, pages: list[Page]) -> None:
    """Fill in each page's SQL statement count (test client on the same database)."""
    import sqlalchemy as sa

    from kldialog import create_app

    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    for cached, visitors in ((True, ("anonymous", "resident")), (False, (FIRST_VIEW,))):
        app = create_app(
            {
                "SECRET_KEY": SECRET,
                "SQLALCHEMY_DATABASE_URI": url,
                "WTF_CSRF_ENABLED": False,
                "RATELIMIT_ENABLED": False,
                "PAGE_CACHE_PERSONAL": cached,
            }
        )
        clients = {visitor: app.test_client() for visitor in visitors}
        for visitor, client in clients.items():
            if visitor == "anonymous":
                continue
            login = client.post(
                "/login", data={"email": facts.emails["resident"], "password": facts.password}
            )
            if login.status_code != 303:
                raise SystemExit(f"the resident could not log in: HTTP {login.status_code}")
        with app.app_context():
            engine = app.extensions["sqlalchemy"].engine
        for page in pages:
            if page.visitor not in clients:
                continue
            client = clients[page.visitor]
            client.get(page.path).close()  # first-request work is not per-page work
            statements.clear()
            sa.event.listen(engine, "before_cursor_execute", record)
            try:
                response = client.get(page.path)
                response.close()
            finally:
                sa.event.remove(engine, "before_cursor_execute", record)
            if response.status_code != 200:
                raise SystemExit(f"{page.path} as {page.visitor}: HTTP {response.status_code}")
            page.statements = len(statements)
        with app.app_context():
            engine.dispose()


# --- serving and measuring -------------------------------------------------------------------


@contextmanager
def gunicorn(app_spec: str, env: dict[str, str], cwd: Path, workers: int) -> Iterator[str]:
    """Serve an app with gunicorn (sync workers) on a free port; yield its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "300",
            "--log-level",
            "warning",
            app_spec,
        ],
        cwd=cwd,
        env={**os.environ, **env},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise SystemExit(f"gunicorn for {app_spec} exited with {server.returncode}")
            try:
                urllib.request.urlopen(base + "/", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wrk(url: str, seconds: int, connections: int, cookie: str | None) -> dict[str, Any]:
    """Run wrk against one URL; return req/s, p50/p99 in ms and any errors."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "--latency"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command + [url], check=True, capture_output=True, text=True).stdout
    done = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)

    def percentile(name: str) -> float | None:
        found = re.search(rf"\s{name}%\s+([\d.]+)(us|ms|s)\b", out)
        if not found or not done:
            return None
        value, unit = found.groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "requests": done,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": percentile("50"),
        "p99": percentile("99"),
        "errors": (f"{bad.group(1)} non-2xx" if bad else "")
        + (f" socket errors: {socket_errors.group(1)}" if socket_errors else ""),
    }


def warm_up(url: str, cookie: str | None, workers: int, rounds: int = 2) -> float:
    """Request a page `workers` times at once, twice (every worker compiles its templates).

    Returns the seconds one request took (the slower of the last round).
    """
    from concurrent.futures import ThreadPoolExecutor

    def fetch(_number: int) -> None:
        request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
        urllib.request.urlopen(request, timeout=300).read()

    with ThreadPoolExecutor(workers) as pool:
        for _round in range(rounds):
            start = time.perf_counter()
            list(pool.map(fetch, range(workers)))
            took = time.perf_counter() - start
    return took


def settle(base: str) -> None:
    """Wait until both workers are idle: requests queued by wrk are still being served."""
    quick = 0
    deadline = time.monotonic() + 300
    while quick < 3 and time.monotonic() < deadline:
        start = time.perf_counter()
        urllib.request.urlopen(base + "/healthz", timeout=300).close()
        quick = quick + 1 if time.perf_counter() - start < 0.05 else 0


def log_in(base: str, email: str, password: str) -> str:
    """Log in through the app's form (CSRF included); return the session cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(base + "/login", timeout=30).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    if token is None:
        token = re.search(r'value="([^"]+)"[^>]*name="csrf_token"', form)
    body = urllib.parse.urlencode(
        {"csrf_token": token.group(1), "email": email, "password": password}
    ).encode()
    opener.open(base + "/login", body, timeout=60).close()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    # The header alone (as wrk sends it) must open the account page, not the login form.
    request = urllib.request.Request(base + "/account", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=30) as account:
        if account.geturl() != base + "/account":
            raise SystemExit("logging in through the app did not work")
    return cookie


def page_weight(base: str) -> dict[str, Any]:
    """Return bytes transferred for the home page in Chromium: first and repeat visit."""
    from playwright.sync_api import sync_playwright

    script = """() => performance.getEntriesByType('navigation')
        .concat(performance.getEntriesByType('resource'))
        .map(e => ({name: e.name, transfer: e.transferSize, body: e.decodedBodySize}))"""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        visits = []
        for _visit in ("first", "repeat"):
            page.goto(base + "/", wait_until="networkidle")
            entries = page.evaluate(script)
            visits.append(
                {
                    "bytes": sum(e["transfer"] for e in entries),
                    "requests": len(entries),
                    "uncompressed": sum(e["body"] for e in entries),
                }
            )
        browser.close()
    return {"first": visits[0], "repeat": visits[1]}


# --- one data set ----------------------------------------------------------------------------


@dataclass
class Page:
    """One page as one visitor sees it, and what was measured."""

    name: str
    visitor: str
    path: str
    statements: int | None = None
    connections: int = 0
    seconds: int = 0
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def goal(self) -> float:
        """Return the share of hello-world this page should reach."""
        return GOALS[self.visitor]


@dataclass
class Run:
    """One database at one scale."""

    database: str
    scale: float
    version: str = ""
    facts: Any = None
    hello: dict[str, Any] = field(default_factory=dict)
    pages: list[Page] = field(default_factory=list)
    weight: dict[str, Any] | None = None
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after


def measure(run: Run, page: Page, base: str, cookie: str, args: argparse.Namespace) -> None:
    """Warm one page up in every worker, then run wrk on it."""
    log(f"{run.database} {run.scale:g}×: {page.visitor} {page.path}")
    target = base + page.path
    jar = None if page.visitor == "anonymous" else cookie
    took = warm_up(target, jar, args.workers)  # templates and caches in every worker
    # A slow page gets as many connections as workers: 16 queued requests would add nothing to
    # the rate, only minutes of waiting until the queue is served.
    page.connections = args.connections if took < SLOW else args.workers
    # ... and runs longer, so that each connection completes a few requests.
    page.seconds = args.seconds if took < SLOW else min(15, max(args.seconds, math.ceil(4 * took)))
    page.result = wrk(target, page.seconds, page.connections, jar)
    settle(base)


def run_one(kind: str, scale: float, folder: Path, args: argparse.Namespace) -> Run:
    """Generate, serve and measure one database at one scale."""
    run = Run(database="SQLite" if kind == "sqlite" else "PostgreSQL", scale=scale)
    started, load = time.perf_counter(), os.getloadavg()[0]
    with database(kind, folder, scale, args.postgres_url) as url:
        log(f"{run.database} {scale:g}×: generating data")
        run.facts, run.version = generate(url, scale)
        log(
            f"{run.database} {scale:g}×: {run.facts.seconds:.1f} s to generate; counting statements"
        )
        values = vars(run.facts)
        run.pages = [Page(name, "anonymous", path.format_map(values)) for name, path in PAGES]
        for visitor in ("resident", FIRST_VIEW):
            run.pages += [
                Page(name, visitor, path.format_map(values))
                for name, path in PAGES + RESIDENT_PAGES
            ]
        count_statements(url, run.facts, run.pages)
        env = {
            "KLDIALOG_SECRET_KEY": SECRET,
            "KLDIALOG_DATABASE_URL": url,
            "KLDIALOG_RATELIMIT_ENABLED": "false",
            "KLDIALOG_INSTANCE_PATH": str(folder / "instance"),
        }
        with gunicorn("bench_hello:app", {}, ROOT / "scripts", args.workers) as hello:
            log(f"{run.database} {scale:g}×: hello-world")
            warm_up(hello + "/", None, args.workers)
            run.hello = wrk(hello + "/", args.seconds, args.connections, None)
        # One login per server: a login ends the account's earlier sessions.
        for visitors, personal in ((("anonymous", "resident"), "true"), ((FIRST_VIEW,), "false")):
            server_env = {**env, "KLDIALOG_PAGE_CACHE_PERSONAL": personal}
            with gunicorn("kldialog:create_app()", server_env, ROOT, args.workers) as base:
                cookie = log_in(base, run.facts.emails["resident"], run.facts.password)
                for page in run.pages:
                    if page.visitor in visitors:
                        measure(run, page, base, cookie, args)
                if "anonymous" in visitors and args.weight and kind == "sqlite":
                    if scale == min(args.scales):
                        log("page weight in Chromium")
                        run.weight = page_weight(base)
    run.seconds = time.perf_counter() - started
    run.load = (load, os.getloadavg()[0])
    return run


# --- the report ------------------------------------------------------------------------------


def machine() -> str:
    """Describe the machine the numbers come from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}"


def versions(runs: list[Run]) -> str:
    """Return the versions of the stack under test."""
    names = ["Flask", "SQLAlchemy", "gunicorn", "Jinja2", "Werkzeug"]
    parts = [f"Python {platform.python_version()}"]
    parts += [f"{name} {importlib.metadata.version(name)}" for name in names]
    parts += sorted({run.version for run in runs})
    return ", ".join(parts)


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _load_warning(runs: list[Run]) -> list[str]:
    """Say so when other processes kept the machine busy: then the ratios mean little."""
    cores = os.cpu_count() or 1
    highest = max(max(run.load) for run in runs)
    # wrk and the workers alone keep the load near the number of cores (2.0-2.8 on 2 cores on
    # a quiet machine); other work on the machine shows as more than twice that.
    if highest <= 2 * cores:
        return []
    return [
        f"**Warning:** the load average reached {highest:.1f} on {cores} cores during this "
        "run, more than the benchmark itself makes (about the number of cores): other "
        "processes took CPU time, so pages (even those without SQL) lose more against "
        "hello-world than they would on a quiet machine, and the run took longer. Rerun "
        "`make bench` on a quiet machine before comparing.",
        "",
    ]


def report(runs: list[Run], args: argparse.Namespace, total: float) -> str:
    """Return the markdown block for docs/performance.md."""
    lines = [
        BEGIN,
        f"Measured {dt.date.today().isoformat()} on {machine()}; {versions(runs)}.",
        "",
        f"gunicorn with {args.workers} sync workers; `wrk -t2 -c{args.connections} "
        f"-d{args.seconds}s` on the same machine, after each worker has served the page twice "
        "(templates compiled); after each run the script waits until both workers are idle. "
        "*Hello* is a one-route Flask app (`scripts/bench_hello.py`) on the same gunicorn, "
        "measured right before each data set's pages; *× hello* is a page's rate divided by it. "
        "*Statements*: SQL statements of one request (test client, same database; for a page "
        "from a cache, the statements of the answer). Visitors: *anonymous* (the shared page "
        "cache), *resident* (logged in, requesting the same page again: their own page kept "
        f"for their session), *{FIRST_VIEW}* (logged in, a second server with that cache off: "
        "every request rendered). Goals "
        "(issue 12): anonymous ≥ 0.50 × hello, logged in (a resident) ≥ 0.20 × hello. "
        f"A page that took more than {SLOW * 1000:.0f} ms per request in the warm-up is "
        f"measured with as many connections as workers ({args.workers}) and for up to 15 s "
        "(*slow* in the last column): its rate is the same, and 16 queued requests would only "
        "add minutes of waiting; with few requests in the run its rate is a rough figure. "
        f"The whole run took {total / 60:.1f} minutes.",
        "",
        *_load_warning(runs),
        "**Data** (`scripts/bulkdata.py`, fixed seed; a ballot line is one project on one "
        "ballot, in the open round's rows or a closed round's published ballot file)",
        "",
    ]
    scales = sorted({run.scale for run in runs})
    first = {scale: next(run for run in runs if run.scale == scale) for scale in scales}
    lines.append("| | " + " | ".join(f"{scale:g}×" for scale in scales) + " |")
    lines.append("|---|" + "---:|" * len(scales))

    def row(label: str, value: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(value(first[s].facts) for s in scales) + " |")

    rows = lambda facts, *names: sum(facts.rows.get(name, 0) for name in names)  # noqa: E731
    row("accounts", lambda f: f"{rows(f, 'user_account'):,}")
    row("projects", lambda f: f"{rows(f, 'project'):,}")
    row("comments (in the big discussion)",
        lambda f: f"{rows(f, 'comment'):,} ({f.big_discussion:,})")  # fmt: skip
    row("comment supports / reports", lambda f: f"{rows(f, 'comment_support'):,} / "
        f"{rows(f, 'comment_report'):,}")  # fmt: skip
    row("ballot lines (open round / closed rounds' files)",
        lambda f: f"{rows(f, 'ballot_choice') + f.ballots_in_files:,} "
                  f"({rows(f, 'ballot_choice'):,} / {f.ballots_in_files:,})")  # fmt: skip
    row("survey answer sets (answer rows)",
        lambda f: f"{rows(f, 'survey_response', 'survey_staged_response'):,} "
                  f"({rows(f, 'survey_answer'):,})")  # fmt: skip
    row("indicator ratings", lambda f: f"{rows(f, 'project_rating'):,}")
    row("followers", lambda f: f"{rows(f, 'project_follow'):,}")
    lines.append(
        "| generation time | "
        + " | ".join(
            ", ".join(f"{r.database} {r.facts.seconds:.0f} s" for r in runs if r.scale == s)
            for s in scales
        )
        + " |"
    )
    lines.append("")
    weight = next((run.weight for run in runs if run.weight), None)
    if weight is None:
        lines += ["**Page weight**: not measured in this run (no Chromium, or --no-weight).", ""]
    else:
        first_visit, repeat = weight["first"], weight["repeat"]
        lines += [
            f"**Page weight** of the home page in Chromium (Performance API, sum of "
            f"`transferSize`): first visit {first_visit['bytes'] / 1000:,.0f} KB in "
            f"{first_visit['requests']} requests ({first_visit['uncompressed'] / 1000:,.0f} KB "
            f"uncompressed), repeat visit {repeat['bytes'] / 1000:,.1f} KB. Goals: ≤ 300 KB "
            f"first, ≤ 15 KB repeat: {'met' if first_visit['bytes'] <= 300_000 else 'not met'}"
            f" / {'met' if repeat['bytes'] <= 15_000 else 'not met'}.",
            "",
        ]
    for run in runs:
        hello = run.hello["rps"]
        lines += [
            f"**{run.database}, {run.scale:g}×** — hello-world {hello:,.0f} req/s; "
            f"load average {run.load[0]:.1f} before, {run.load[1]:.1f} after (other "
            "processes on this machine count too)",
            "",
            "| page | visitor | req/s | × hello | p50 ms | p99 ms | statements | goal | met |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for page in run.pages:
            result = page.result
            ratio = result["rps"] / hello if hello else 0.0
            met = "yes" if ratio >= page.goal else "**no**"
            if page.connections != args.connections:
                met += f" (slow: c{page.connections}, {page.seconds} s)"
            if result["errors"]:
                met += f" ({result['errors'].strip()})"
            lines.append(
                f"| {page.name} `{page.path}` | {page.visitor} | {result['rps']:,.1f} "
                f"| {ratio:.3f} | {_number(result['p50'])} | {_number(result['p99'])} "
                f"| {page.statements} | {page.goal:.2f} | {met} |"
            )
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main() -> None:
    """Measure everything, print the tables and record them in docs/performance.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="wrk duration per page")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--scales", type=lambda text: [float(s) for s in text.split(",")],
                        default=[1.0, 10.0])  # fmt: skip
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_ADMIN_URL,
                        help="where to create (and drop) the benchmark's own database")  # fmt: skip
    parser.add_argument("--no-weight", dest="weight", action="store_false")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("make bench needs wrk: apt-get install -y wrk")
    if args.weight and not Path(CHROMIUM).exists():
        log(f"!! no Chromium at {CHROMIUM} (apt-get install -y chromium): page weight not measured")
        args.weight = False
    started = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory(prefix="kldialog-bench-") as tmp:
        for kind in args.databases.split(","):
            for scale in args.scales:
                runs.append(run_one(kind, scale, Path(tmp), args))
    block = report(runs, args, time.perf_counter() - started)
    print(block)
    results = [
        {
            "database": run.database,
            "scale": run.scale,
            "hello": run.hello,
            "weight": run.weight,
            "facts": run.facts.as_json(),
            "pages": [vars(page) for page in run.pages],
        }
        for run in runs
    ]
    print(json.dumps(results, indent=1, default=str), file=sys.stderr)
    if args.no_write:
        return
    target = ROOT / "docs" / "performance.md"
    text = target.read_text("utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    target.write_text(text[:start] + block + text[end:], "utf-8")
    log(f"updated {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
