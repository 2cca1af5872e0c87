"""`flask events`: reminder mail and deleting registrations (cron)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from kldialog.events import cron as event_cron

events_cli = AppGroup("events", help="Events: reminder mail and deleting registrations.")


def purge_event_registrations() -> None:
    """Delete past events' and unconfirmed registrations; say how many (also `maintenance`)."""
    removed = event_cron.purge_registrations()
    click.echo(
        f"Deleted {removed} event registration(s): events over since yesterday, or never "
        "confirmed within EVENT_CONFIRM_HOURS."
    )


@events_cli.command("purge")
def events_purge() -> None:
    """Delete registrations the day after their event, and unconfirmed ones (cron)."""
    purge_event_registrations()


@events_cli.command("send-reminders")
def events_send_reminders() -> None:
    """Mail everyone with a place at an event today or tomorrow, once each (cron, daily or more)."""
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        sent = event_cron.send_reminders()
    click.echo(f"Sent {sent} event reminder(s).")
