"""`flask notices queue-due` and `flask mail send-due` (cron, every few minutes)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from kldialog.notices import producers, sender

notices_cli = AppGroup("notices", help="Participation notices: queue the due mails.")
mail_cli = AppGroup("mail", help="The mail queue: send what is due.")


@notices_cli.command("queue-due")
def notices_queue_due() -> None:
    """Queue mails for rounds and surveys that opened, and the weekly digest (cron)."""
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        queued = producers.queue_due()
    click.echo(f"Queued {queued['openings']} opening notice(s) and {queued['digest']} digest(s).")


@mail_cli.command("send-due")
def mail_send_due() -> None:
    """Queue what is due, then send queued mail with retries, one connection per batch (cron)."""
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        queued = producers.queue_due()
        report = sender.send_due()
    click.echo(
        f"Queued {queued['openings'] + queued['digest']}, sent {report.sent}, "
        f"retry later {report.retried}, given up {report.given_up}, dropped {report.dropped}."
    )
