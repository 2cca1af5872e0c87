"""`flask maintenance purge`: the daily retention job across features."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from kldialog.events.cli import purge_event_registrations
from kldialog.personal_data.services import purge_unconfirmed, rewrite_personal_tables
from kldialog.surveys import retention

maintenance_cli = AppGroup("maintenance", help="Retention jobs; run daily from cron.")


@maintenance_cli.command("purge")
def maintenance_purge() -> None:
    """Delete accounts left unconfirmed for longer than UNCONFIRMED_ACCOUNT_DAYS."""
    removed = purge_unconfirmed()
    click.echo(f"Purged {removed} unconfirmed account(s).")

    closed, moved = retention.close_due_surveys()
    purged = retention.purge_raw_answers()
    click.echo(
        f"Closed {closed} survey(s) ({moved} staged survey answer set(s) moved, answer sets "
        f"rewritten, final results released); deleted the raw answers of {purged} survey(s) "
        "past SURVEY_RETENTION_MONTHS (results kept)."
    )
    purge_event_registrations()
    # Last: the deletions of this run and of the day before leave no dead rows behind.
    rewrite_personal_tables()
    click.echo("Rewrote the tables with personal data (PostgreSQL: no dead rows remain).")
