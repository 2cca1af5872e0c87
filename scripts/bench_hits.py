"""In-process cost of an anonymous page-cache hit, next to the hello-world app (no gunicorn).

Calls the WSGI callables directly, as a new visitor without cookies (like wrk), after one
rendering stored each page: `python scripts/bench_hits.py sqlite:////tmp/x.sqlite` on data
from scripts/bulkdata.py. Prints the best of five runs in microseconds per request.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

PAGES = ["/", "/projects", "/impressum", "/priorities", "/surveys", "/moderationsbericht"]


def environ(path: str) -> dict[str, Any]:
    """Return a GET as gunicorn passes it, without cookies."""
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def call(app: Any, path: str) -> bytes:
    """Run one request through a WSGI app and return its body."""

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        return None

    iterable = app(environ(path), start_response)
    try:
        return b"".join(iterable)
    finally:
        getattr(iterable, "close", lambda: None)()


def microseconds(app: Any, path: str, count: int) -> float:
    """Return the best of five runs of count requests, in microseconds per request."""
    for _ in range(50):
        call(app, path)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(count):
            call(app, path)
        best = min(best, (time.perf_counter() - started) / count * 1e6)
    return best


def main() -> None:
    """Measure hello-world and each page's cache hit."""
    url = sys.argv[1] if len(sys.argv) > 1 else "sqlite:////tmp/kldialog-bench.sqlite"
    os.environ.update(
        KLDIALOG_SECRET_KEY="bench-secret-key-" + "x" * 32,
        KLDIALOG_DATABASE_URL=url,
        KLDIALOG_RATELIMIT_ENABLED="false",
        KLDIALOG_INSTANCE_PATH=tempfile.mkdtemp(prefix="kldialog-hits-"),  # its own version file
    )
    from bench_hello import app as hello

    from kldialog import create_app

    app = create_app()
    print(f"load average {os.getloadavg()[0]:.2f}")
    baseline = microseconds(hello, "/", 3000)
    print(f"hello-world: {baseline:.1f} µs")
    for path in PAGES:
        took = microseconds(app, path, 1000)
        print(f"{path}: {took:.1f} µs per hit ({baseline / took:.2f} × hello-world)")


if __name__ == "__main__":
    main()
