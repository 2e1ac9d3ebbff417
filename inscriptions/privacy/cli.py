"""``inscriptions privacy purge``: the scheduled RGPD purge (see :mod:`inscriptions.privacy.purge`)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("privacy")
def privacy_cli() -> None:
    """Personal data: retention purge."""


@privacy_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Show what would be purged; change nothing, send nothing.")
@with_appcontext
def purge_command(dry_run: bool) -> None:
    """Anonymise registrations past retention, warn then delete inactive accounts, age out the audit log.

    Idempotent: run it every night, e.g. ``15 3 * * * inscriptions privacy purge``.
    """
    from inscriptions.privacy.purge import purge

    report = purge(dry_run=dry_run)
    for line in report.lines():
        click.echo(line)
