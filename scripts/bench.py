"""Measure throughput of the public pages with gunicorn + wrk; write docs/performance.md.

Every number is reported next to /healthz (no database, no template) measured in the same run,
because these machines are noisy: ratios travel, bare requests per second do not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROUTES = [
    ("/healthz", "baseline: no database, no template"),
    ("/", "home: counts per status and category, latest changes"),
    ("/projects", "project list, first page"),
    ("/projects?q=projekt+1&status=planned&sort=recent", "filtered, searched, sorted"),
    ("/projects/{slug}", "one project with history and updates"),
]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database(url: str, projects: int) -> str:
    """Create the schema and load the Kaiserslautern roadmap, padded to `projects` projects."""
    from kldialog import create_app
    from kldialog.kernel.db import db
    from tests.conftest import base_config, load_bundled_roadmap
    from tests.test_projects import create_projects

    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        db.drop_all()
        db.create_all()
        if projects <= 25:
            load_bundled_roadmap()
            slug = "handyparken"
        else:
            create_projects(projects)
            slug = "projekt-1"
        db.engine.dispose()
    return slug


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    """Run wrk against one URL and return requests/s and latency percentiles in ms."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} error responses\n{out}")

    def percentile(name: str) -> float:
        value, unit = re.search(rf"\s{name}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rate, "p50": percentile("50"), "p99": percentile("99")}


def run(database: str, projects: int, seconds: int, workers: int, connections: int) -> list[dict]:
    """Serve one data set with gunicorn and measure every route."""
    slug = prepare_database(database, projects)
    port = free_port()
    env = {
        **os.environ,
        "KLDIALOG_SECRET_KEY": "bench-" + "x" * 32,
        "KLDIALOG_DATABASE_URL": database,
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "kldialog:create_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 (loopback only)
                break
            except OSError:
                time.sleep(0.1)
        rows = []
        for route, meaning in ROUTES:
            path = route.format(slug=slug)
            wrk(base + path, 2, connections)  # warm-up: imports, template compilation
            rows.append(
                {"route": path, "meaning": meaning, **wrk(base + path, seconds, connections)}
            )
        return rows
    finally:
        server.terminate()
        server.wait(timeout=10)


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
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    """Measure, print and record the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url", help="PostgreSQL URL (a scratch database: it is wiped)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("make bench needs wrk: apt-get install -y wrk")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for projects in (25, 2000):
            database = args.database_url or f"sqlite:///{tmp}/bench-{projects}.sqlite"
            label = f"{projects} projects"
            results[label] = run(database, projects, args.seconds, args.workers, args.connections)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    lines = [
        BEGIN,
        f"Measured {dt.date.today().isoformat()} on {machine()};"
        f" gunicorn {args.workers} sync workers, {backend},"
        f" `wrk -t2 -c{args.connections} -d{args.seconds}s` on the same machine.",
        "",
    ]
    for label, rows in results.items():
        baseline = rows[0]["rps"]
        lines += [
            f"**{label}** (plus their history entries and updates)",
            "",
            "| route | what it does | req/s | × baseline | p50 ms | p99 ms |",
            "|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| `{r['route']}` | {r['meaning']} | {r['rps']:,.0f} | {r['rps'] / baseline:.2f} "
            f"| {r['p50']:.1f} | {r['p99']:.1f} |"
            for r in rows
        ]
        lines.append("")
    lines.append(END)
    block = "\n".join(lines)
    print(block)
    print(json.dumps(results, indent=1), file=sys.stderr)
    if args.no_write:
        return
    target = ROOT / "docs" / "performance.md"
    text = target.read_text("utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    target.write_text(text[:start] + block + text[end:], "utf-8")
    print(f"updated {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
