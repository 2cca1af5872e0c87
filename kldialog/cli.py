"""Flask CLI: each feature registers its own command group; this module only collects them."""

from __future__ import annotations

from flask import Flask

from kldialog.auth.cli import codes_cli, users_cli
from kldialog.demo import demo_cli
from kldialog.deploy_check import check_command
from kldialog.events.cli import events_cli
from kldialog.notices.cli import mail_cli, notices_cli
from kldialog.personal_data.cli import maintenance_cli
from kldialog.priorities.cli import rounds_cli
from kldialog.projects.cli import roadmap_cli
from kldialog.surveys.cli import surveys_cli


def register_commands(app: Flask) -> None:
    """Attach the command groups to `flask`."""
    app.cli.add_command(roadmap_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(maintenance_cli)
    app.cli.add_command(codes_cli)
    app.cli.add_command(rounds_cli)
    app.cli.add_command(surveys_cli)
    app.cli.add_command(check_command)
    app.cli.add_command(events_cli)
    app.cli.add_command(notices_cli)
    app.cli.add_command(mail_cli)
