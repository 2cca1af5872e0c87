"""`flask roadmap`: import and export the roadmap (JSON or CSV)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from kldialog.projects import roadmap_io, roadmap_parse

roadmap_cli = AppGroup("roadmap", help="Import and export the roadmap (JSON or CSV).")


@roadmap_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "json", "csv"]),
    default="auto",
    help="File format; by default taken from the file name's ending.",
)
@click.option(
    "--as-of",
    help="Date of status changes: YYYY-MM-DD or YYYY-MM (default: the file's as_of, else today).",
)
@click.option(
    "--author", default="", help="Who is accountable for the status changes, e.g. a department."
)
@click.option("--dry-run", is_flag=True, help="Check the file and report, but change nothing.")
def import_command(file: Path, fmt: str, as_of: str | None, author: str, dry_run: bool) -> None:
    """Import or update the roadmap from FILE; matched by slug, all or nothing.

    The same service as the staff console's upload: audit-logged, followers of projects whose
    status changed get their e-mail (links use PUBLIC_URL).
    """
    name = file.name if fmt == "auto" else f"{file.stem}.{fmt}"
    try:
        parsed, detected = roadmap_parse.read_roadmap_upload(
            file.read_bytes(), name, as_of=as_of or "", author=author
        )
    except roadmap_parse.RoadmapError as error:
        raise click.ClickException(
            f"{file}: nothing was imported, {len(error.problems)} problem(s):\n  "
            + "\n  ".join(error.problems)
        ) from error
    if dry_run:
        click.echo(f"{file}: valid, {len(parsed.projects)} project(s); nothing changed (dry run).")
        return
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        report = roadmap_io.import_roadmap_upload(None, parsed, filename=file.name, fmt=detected)
    click.echo(
        f"{file}: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.categories_created} new categories."
    )


@roadmap_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
def export_command(fmt: str, output: Path | None) -> None:
    """Export the whole roadmap as JSON (with history and updates) or CSV."""
    if fmt == "json":
        text = json.dumps(roadmap_io.export_roadmap_json(), ensure_ascii=False, indent=2) + "\n"
    else:
        text = roadmap_io.export_roadmap_csv()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
