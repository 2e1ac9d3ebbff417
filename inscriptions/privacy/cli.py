"""``inscriptions privacy purge``: the scheduled RGPD purge (see :mod:`inscriptions.privacy.purge`);
``inscriptions privacy files``: the register of files against the disk (:mod:`inscriptions.files`);
``inscriptions audit verify|seal|grants``: the journal's integrity (:mod:`inscriptions.privacy.integrity`)."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


@click.group("privacy")
def privacy_cli() -> None:
    """Personal data: retention purge, the register of files."""


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


@privacy_cli.command("new-key")
def new_key_command() -> None:
    """Print a new key for INSCRIPTIONS_DATA_KEYS (the keys sealing health answers and files)."""
    from inscriptions.privacy.sealing import new_key

    click.echo(new_key())


@privacy_cli.command("rotate-keys")
@with_appcontext
def rotate_keys_command() -> None:
    """Encrypt every sealed answer and file again with the first key of INSCRIPTIONS_DATA_KEYS.

    Rotation: put the new key first in INSCRIPTIONS_DATA_KEYS (keep the old ones after it),
    restart, run this, then remove the old keys. It also seals what was kept in clear before.
    """
    from inscriptions.privacy.sealing import rotate_all

    for name, count in rotate_all().items():
        click.echo(f"{name} re-encrypted: {count}")


@privacy_cli.command("files")
@click.option("--delete", "delete_unrecorded", is_flag=True,
              help="Delete the files the register does not know (older than an hour).")
@with_appcontext
def files_command(delete_unrecorded: bool) -> None:
    """Check the register of files against UPLOAD_DIR: list the files no row knows (nothing would
    ever delete them) and the recorded files gone from the disk; exit 1 if any file is unrecorded.
    """
    from inscriptions import files

    names = files.recorded_names()
    strays = files.unrecorded(names)
    gone = files.missing(names)
    click.echo(f"recorded files: {len(names)}")
    click.echo(f"unrecorded files: {len(strays)}")
    for path in strays:
        click.echo(f"  unrecorded: {files.relative(path)}")
        if delete_unrecorded:
            path.unlink(missing_ok=True)
    click.echo(f"recorded files missing on disk: {len(gone)}")
    for name in gone:
        click.echo(f"  missing: {name}")
    if strays and not delete_unrecorded:
        sys.exit(1)


@click.group("audit")
def audit_cli() -> None:
    """The audit journal: seal it, check that nobody changed it, give the database roles."""


@audit_cli.command("verify")
@click.option("--no-seal", is_flag=True, help="Check only: do not chain the entries not sealed yet first.")
@click.option("--head", "heads", multiple=True, metavar="POSITION:HASH",
              help="A head printed by an earlier verify: nothing up to it may have changed or gone.")
@with_appcontext
def verify_command(no_seal: bool, heads: tuple[str, ...]) -> None:
    """Walk the journal's hash chain; exit 1, saying where, if an entry was changed, deleted or moved.

    Prints the chain's head at the end: keep it (the DPO's register, a ticket) and give it back
    with ``--head`` next time, so that even the newest entries cannot go unnoticed.
    """
    from inscriptions.privacy.integrity import Head, verify

    try:
        expected = [Head.parse(value) for value in heads]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--head") from exc
    report = verify(seal_first=not no_seal, expected_heads=expected)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        sys.exit(1)


@audit_cli.command("seal")
@with_appcontext
def seal_command() -> None:
    """Chain the journal's entries not sealed yet (the allocation worker does it every minute)."""
    from inscriptions.privacy.integrity import seal

    result = seal()
    click.echo(f"entries sealed: {result.sealed}")
    click.echo(f"head: {result.head.text()}")


@audit_cli.command("grants")
@click.option("--app-role", required=True, help="The database role the application connects as.")
@with_appcontext
def grants_command(app_role: str) -> None:
    """Print the SQL giving the application's role INSERT only on the journal (PostgreSQL).

    Run it as the owner role after each ``db upgrade``, e.g.
    ``inscriptions audit grants --app-role inscriptions_app | psql "$OWNER_URL"``.
    """
    from inscriptions.privacy.integrity import grants_sql

    try:
        statements = grants_sql(app_role)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--app-role") from exc
    for statement in statements:
        click.echo(statement)
