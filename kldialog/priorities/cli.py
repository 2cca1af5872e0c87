"""`flask rounds`: close ended priority rounds, recount a published ballot file."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from kldialog.priorities import services as priorities

rounds_cli = AppGroup("rounds", help="Priority rounds: close ended rounds, recount a ballot file.")


@rounds_cli.command("close-due")
def rounds_close_due() -> None:
    """Close every round whose window has ended: freeze results, anonymise the ballots.

    Run it from cron every few minutes: closing never happens on a visitor's request, so
    until this runs (or staff close the round) its results page says they are being prepared.
    """
    due = priorities.rounds_due()
    for round_ in due:
        result = priorities.close_round(round_)
        click.echo(f"Closed round {round_.id} “{round_.title}”: sha256 {result.ballot_sha256}")
    click.echo(f"{len(due)} round(s) closed.")


@rounds_cli.command("recount")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--expect",
    metavar="SHA256",
    default=None,
    help="The hash published on the results page; a different file fails (exit status 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full results as JSON.")
@click.option("--samples", type=click.IntRange(10, 100_000), default=None, help="Resamples.")
@click.option("--min-group-size", type=click.IntRange(1, 1000), default=None)
def rounds_recount(
    file: Path, expect: str | None, as_json: bool, samples: int | None, min_group_size: int | None
) -> None:
    """Recompute a round's results from its published ballot file alone.

    With --expect, the file's SHA-256 must equal the published one: a changed byte fails
    before anything is counted, so a tampered file never yields a result with exit status 0.
    """
    expected = (expect or "").strip().lower()
    if expect is not None and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise click.BadParameter("a SHA-256 is 64 hexadecimal digits", param_hint="--expect")
    data = file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if expect is not None and digest != expected:
        raise click.ClickException(
            f"{file}: sha256 {digest} differs from the expected {expected}; "
            "the file is not the published one"
        )
    try:
        text = data.decode("utf-8")
        results = priorities.compute_results(
            text,
            samples=samples or current_app.config["ROUND_BOOTSTRAP_SAMPLES"],
            min_group_size=min_group_size or current_app.config["ROUND_MIN_GROUP_SIZE"],
        )
    except UnicodeDecodeError:
        raise click.ClickException(f"{file}: not UTF-8 text") from None
    except priorities.BallotFileError as error:
        raise click.ClickException(f"{file}: {error}") from None
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False, indent=2, sort_keys=True))
        return
    click.echo(f"sha256 {digest}" + (" (as expected)" if expect is not None else ""))
    click.echo(f"method {results['method']}, n = {results['n']} ballots")
    channels = results.get("channels") or {}
    if channels.get("paper"):
        click.echo(f"channels: {channels['online']} online, {channels['paper']} paper")
    if results["suppressed"]:
        click.echo("fewer ballots than the minimum group size: no shares published")
        return
    click.echo("tier  ranks    supporters  points  share   95 % interval    project")
    for p in results["projects"]:
        click.echo(
            f"{p['tier']:>4}  {p['rank_low']:>3}–{p['rank_high']:<3}  {p['supporters']:>10}  "
            f"{p['points']:>6}  {p['share']:6.1%}  {p['share_low']:6.1%}–{p['share_high']:6.1%}  "
            f"{p['title']}"
        )
