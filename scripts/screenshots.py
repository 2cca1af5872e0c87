"""Take the README's screenshots (German, desktop and phone) with Debian's Chromium."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kldialog import create_app  # noqa: E402
from kldialog.demo import DEMO_PASSWORD  # noqa: E402
from kldialog.kernel.db import db  # noqa: E402
from tests.conftest import base_config  # noqa: E402
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

# name: (path, who is logged in)
SHOTS = {
    "home": ("/", None),
    "projects": ("/projects", None),
    "projects-filtered": ("/projects?status=in_progress&sort=category", None),
    "project": ("/projects/handyparken", None),
    "register": ("/register", None),
    "account": ("/account", "einwohnerin"),
    "discussion": ("/projects/handyparken#discussion", "einwohnerin"),
    "staff-projects": ("/staff/projects", "verwaltung"),
    "staff-status": ("/staff/projects/1/status", "verwaltung"),
    "admin-users": ("/admin/users", "admin"),
    "admin-audit": ("/admin/audit", "admin"),
    "moderation-queue": ("/moderation", "moderation"),
    "moderation-report": ("/moderationsbericht", None),
    "priorities": ("/priorities", None),
    "ballot": ("/priorities/1", "einwohnerin"),
    "round-results": ("/priorities/2/results", None),
    "council": ("/council", "rat"),
    "staff-round": ("/staff/rounds/new", "verwaltung"),
    "survey": ("/surveys/1", "einwohnerin"),
}
OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    """Serve the demo roadmap on a free port and photograph each key page."""
    only = set(sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            base_config(
                SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/shots.sqlite",
                MAIL_OUTBOX=f"{tmp}/outbox",
                DEMO=True,
            )
        )
        with app.app_context():
            db.create_all()
        # The showroom's own data: roadmap, one account per role, a discussion.
        app.test_cli_runner().invoke(args=["demo", "load"])
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for device, viewport in (("desktop", (1280, 900)), ("phone", (360, 740))):
                for name, (path, who) in SHOTS.items():
                    if only and name not in only:
                        continue
                    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                    if who:
                        page.goto(base + "/login")
                        page.fill("#email", f"{who}@demo.kldialog.invalid")
                        page.fill("#password", DEMO_PASSWORD)
                        page.click("main form button[type=submit]")
                    page.goto(base + path)
                    target = OUT / f"{name}-{device}.png"
                    page.screenshot(path=str(target), full_page=True)
                    print(target.relative_to(ROOT))
                    page.close()
            browser.close()
        server.shutdown()
        with app.app_context():
            db.engine.dispose()
    os.sync()


if __name__ == "__main__":
    main()
