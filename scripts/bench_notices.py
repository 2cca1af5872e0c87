"""Measure participation notices for 10,000 recipients against a local SMTP server.

Queues one opening notice per opted-in person (`producers.queue_due`) and sends them
(`sender.send_due`) through aiosmtpd on 127.0.0.1, counting the SMTP connections. Prints a
Markdown table for docs/performance.md. Usage: `.venv/bin/python scripts/bench_notices.py [N]`.
"""

from __future__ import annotations

import datetime as dt
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402

from kldialog import create_app  # noqa: E402
from kldialog.auth.models import User  # noqa: E402
from kldialog.kernel.db import db  # noqa: E402
from kldialog.notices import producers, sender  # noqa: E402
from kldialog.notices.models import NoticePreference  # noqa: E402
from kldialog.priorities.models import Method, PriorityRound, RoundState  # noqa: E402


class Recorder:
    """Count connections (one SMTP session each) and messages."""

    def __init__(self) -> None:
        self.sessions: list[Any] = []
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept the message and note its connection."""
        if all(known is not session for known in self.sessions):
            self.sessions.append(session)
        self.messages += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(count: int) -> None:
    """Fill a SQLite file with `count` opted-in residents and one open round; queue and send."""
    recorder = Recorder()
    port = _free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "SECRET_KEY": "bench-secret-key-not-for-production",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.sqlite",
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": port,
                "MAIL_USE_TLS": False,
                "PAGE_CACHE_ENABLED": False,
            }
        )
        now = dt.datetime.now(dt.UTC)
        with app.app_context():
            db.create_all()
            db.session.execute(
                sa.insert(User),
                [
                    {
                        "email": f"person{n}@bench.example",
                        "email_confirmed_at": now,
                        "password_hash": "x",
                        "display_name": f"Person {n}",
                        "display_name_key": f"person {n}",
                        "language": "en" if n % 3 == 0 else "de",
                        "session_token": f"{n:032d}",
                    }
                    for n in range(count)
                ],
            )
            ids = db.session.scalars(sa.select(User.id)).all()
            db.session.execute(
                sa.insert(NoticePreference),
                [{"user_id": i, "openings": True, "digest": False} for i in ids],
            )
            db.session.add(
                PriorityRound(
                    title="Haushalt 2027",
                    method=Method.approval,
                    state=RoundState.published,
                    opens_at=now - dt.timedelta(minutes=5),
                    closes_at=now + dt.timedelta(days=14),
                )
            )
            db.session.commit()
        with app.test_request_context(base_url="https://beteiligung.example"):
            started = time.perf_counter()
            queued = producers.queue_due()
            queue_seconds = time.perf_counter() - started
            started = time.perf_counter()
            report = sender.send_due()
            send_seconds = time.perf_counter() - started
    controller.stop()
    batch = app.config["NOTICES_BATCH_SIZE"]
    print(f"Measured {dt.date.today()} on {platform.processor() or platform.machine()}, "
          f"{platform.system()}, Python {platform.python_version()}, SQLite file database, "
          f"aiosmtpd on 127.0.0.1 (no TLS), NOTICES_BATCH_SIZE={batch}.")  # fmt: skip
    print()
    print("| what | count | wall time |")
    print("|---|---:|---:|")
    print(f"| queue opening notices (`notices queue-due`) | {queued['openings']:,} | "
          f"{queue_seconds:.2f} s |")  # fmt: skip
    print(f"| render and send (`mail send-due`) | {report.sent:,} mails, "
          f"{len(recorder.sessions)} SMTP connections | {send_seconds:.2f} s |")  # fmt: skip
    if recorder.messages != count or report.sent != count:
        raise SystemExit(f"expected {count} mails, server got {recorder.messages}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
