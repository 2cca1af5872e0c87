"""Browser tests: the app on a real port, driven by Debian's Chromium (never a downloaded one)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from kldialog import create_app
from kldialog.kernel.db import db

from ..conftest import base_config, load_bundled_roadmap

CHROMIUM = os.environ.get("KLDIALOG_CHROMIUM", "/usr/bin/chromium")
# CI sets this: a skipped browser test must fail the run there, not pass quietly.
REQUIRE_BROWSER = os.environ.get("KLDIALOG_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # tests run as root on CI machines
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here as e2e and skip (or fail, on CI) them without Chromium."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
            if not os.access(CHROMIUM, os.X_OK):
                reason = f"no Chromium at {CHROMIUM}: browser and axe tests cannot run"
                if REQUIRE_BROWSER:
                    item.add_marker(pytest.mark.usefixtures("_fail_without_browser"))
                else:
                    item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def _fail_without_browser() -> None:
    pytest.fail(f"KLDIALOG_REQUIRE_BROWSER=1 but there is no Chromium at {CHROMIUM}")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch the system Chromium with flags that keep it off the network."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """Return the app with the Kaiserslautern roadmap in a file database (shared by threads)."""
    path = tmp_path_factory.mktemp("live") / "kldialog.sqlite"
    app = create_app(
        base_config(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}",
            WTF_CSRF_ENABLED=True,
            MAIL_OUTBOX=str(path.parent / "outbox"),
            PAGE_CACHE_ENABLED=True,  # as in production: the browser sees what residents see
        )
    )
    with app.app_context():
        db.create_all()
        load_bundled_roadmap()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def base_url(live_app: Flask) -> Iterator[str]:
    """Serve the app on a free local port for the whole session (pytest-playwright reads this)."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def live_outbox(live_app: Flask) -> Path:
    """Return the folder where the live app writes its mail."""
    return Path(live_app.config["MAIL_OUTBOX"])


def run_axe(page: Any) -> Any:
    """Run axe (WCAG 2.1 AA) once the page has settled: fonts loaded, no requests pending."""
    from axe_playwright_python.sync_playwright import Axe

    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => true)")
    return Axe().run(
        page,
        options={
            "runOnly": {
                "type": "tag",
                "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
            }
        },
    )
