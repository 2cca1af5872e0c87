"""`flask surveys flush`: move staged answers into the answer table, close due surveys."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from kldialog.surveys import retention, storage

surveys_cli = AppGroup("surveys", help="Surveys: move staged answers into the answer table.")


@surveys_cli.command("flush")
def surveys_flush() -> None:
    """Move staged answers (full batches; short ones after SURVEY_FLUSH_MAX_HOURS); close."""
    report = storage.flush_due()
    closed, moved = retention.close_due_surveys()
    click.echo(
        f"Flushed {report.moved + moved} staged survey answer set(s); closed {closed} survey(s)."
    )
    for survey_id in report.waiting:
        click.echo(
            f"Survey {survey_id}: fewer than SURVEY_MIN_GROUP_SIZE answer sets in all, so its "
            "staged answers stay staged (encrypted) until more arrive or it closes."
        )
