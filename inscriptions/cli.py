"""The ``inscriptions`` command (also reachable as ``flask --app wsgi ...``).

``inscriptions services check`` works without starting the application, so it can explain a
broken plugins folder that would stop the app from starting.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from inscriptions.definitions.loader import load_services
from inscriptions.paper.cli import paper_cli
from inscriptions.privacy.cli import audit_cli, privacy_cli
from inscriptions.settings import PROJECT_ROOT


@click.group("services")
def services_cli() -> None:
    """Check and synchronise service definitions."""


@services_cli.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def check_command(path: Path | None) -> None:
    """Validate every service in PATH (default: the configured plugins folder)."""
    import os

    folder = path or Path(os.environ.get("INSCRIPTIONS_PLUGINS_DIR", PROJECT_ROOT / "plugins"))
    if (folder / "service.yaml").is_file():
        # A single service folder: check it as its parent's only member would be checked.
        services, problems = load_services(folder.parent)
        services = {c: s for c, s in services.items() if s.folder == folder.resolve() or s.folder == folder}
        problems = [p for p in problems if p.file.startswith(str(folder))]
    else:
        services, problems = load_services(folder)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        sys.exit(1)
    for service in sorted(services.values(), key=lambda s: s.code):
        click.echo(f"ok  {service.code}: {service.definition.name}")
    if not services:
        click.echo(f"no service found in {folder}", err=True)
        sys.exit(1)


@services_cli.command("sync")
@with_appcontext
def sync_command() -> None:
    """Record the current form version (and sessions) of every service in the database."""
    from inscriptions.definitions.registry import sync_all

    for version in sync_all():
        click.echo(f"{version.service_code}: form version {version.version}")


@click.group("demo")
def demo_cli() -> None:
    """Demonstration data."""


@demo_cli.command("load")
@with_appcontext
def demo_load_command() -> None:
    """Create demo households, accounts and registrations (idempotent)."""
    from inscriptions.demo import load_demo

    for line in load_demo():
        click.echo(line)


@click.group("jobs")
def jobs_cli() -> None:
    """Background jobs (e-mails, documents) queued in Redis by the rq backend."""


@jobs_cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty instead of waiting for jobs.")
@click.option("--queue", "queues", multiple=True, help="Queue to listen to (default: INSCRIPTIONS_JOBS_QUEUE).")
@click.option("--name", default=None, help="Worker name shown by RQ (default: host and process id).")
@click.option("--scheduler/--no-scheduler", default=True, show_default=True,
              help="Also run RQ's scheduler, which puts retried jobs back on the queue when their delay is over.")
@click.option("--log-level", default="INFO", show_default=True)
@with_appcontext
def jobs_worker_command(burst: bool, queues: tuple[str, ...], name: str | None, scheduler: bool,
                        log_level: str) -> None:
    """Run an RQ worker that executes the jobs inside this application."""
    from flask import current_app

    from inscriptions.jobs import RQ, make_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("JOBS_BACKEND") != RQ:
        click.echo("Warning: INSCRIPTIONS_JOBS_BACKEND is not 'rq' here; the web application must use 'rq' "
                   "for jobs to reach this worker.", err=True)
    worker = make_worker(app, queues=list(queues) or None, name=name)
    worker.work(burst=burst, with_scheduler=scheduler, logging_level=log_level.upper())


@jobs_cli.command("info")
@with_appcontext
def jobs_info_command() -> None:
    """Show how many jobs wait, are scheduled for a retry, or failed for good."""
    from flask import current_app

    from inscriptions.jobs import job_queue

    queue = job_queue(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(f"queue {queue.name}: {queue.count} waiting, "
               f"{queue.scheduled_job_registry.count} scheduled (retries), "
               f"{queue.started_job_registry.count} running, "
               f"{queue.failed_job_registry.count} failed")


@jobs_cli.command("relay")
@with_appcontext
def jobs_relay_command() -> None:
    """Hand over again the recorded jobs (confirmations) that never reached the workers.

    The allocation worker does it every few seconds; run this from cron where it does not run.
    """
    from inscriptions.allocation import confirmations
    from inscriptions.outbox import relay_stale

    click.echo(f"{relay_stale() + confirmations.relay_stale()} recorded job(s) handed over")


@click.group("staff")
def staff_cli() -> None:
    """Staff accounts, their roles (see docs/permissions.md) and API tokens."""


@staff_cli.command("create")
@click.option("--email", required=True, help="Log-in of the staff account (created if it does not exist).")
@click.option("--role", required=True, type=click.Choice(["agent", "manager", "admin", "dpo"]))
@click.option("--service", "service_code", default=None, help="Service code, for the agent and manager roles.")
@click.option("--password", default=None, help="Set the account's password (default: unchanged, or random).")
@with_appcontext
def staff_create_command(email: str, role: str, service_code: str | None, password: str | None) -> None:
    """Create or update a staff account and grant it ROLE (for SERVICE)."""
    from inscriptions.permissions import GrantError, grant_role

    try:
        account, created, granted = grant_role(email, role, service_code, password)
    except GrantError as exc:
        raise click.ClickException(str(exc)) from exc
    scope = f" for {service_code}" if service_code else ""
    click.echo(f"{'created' if created else 'updated'} account {account.email}; "
               f"role {role}{scope} {'granted' if granted else 'already granted'}")


@staff_cli.command("token")
@click.option("--email", required=True)
@click.option("--name", required=True, help="What the token is for (e.g. 'guichet', 'bench').")
@with_appcontext
def staff_token_command(email: str, name: str) -> None:
    """Create an API token for the account EMAIL and print it (it is shown only once)."""
    from inscriptions.api.tokens import issue_token
    from inscriptions.auth.accounts import find_account

    account = find_account(email)
    if account is None:
        raise click.ClickException(f"no account {email!r}")
    click.echo(issue_token(account, name))


@staff_cli.command("revoke-token")
@click.option("--email", required=True)
@click.option("--name", default=None, help="Only the tokens with this name (default: all of the account's).")
@with_appcontext
def staff_revoke_command(email: str, name: str | None) -> None:
    """Revoke API tokens of the account EMAIL."""
    from inscriptions.api.tokens import revoke_tokens
    from inscriptions.auth.accounts import find_account

    account = find_account(email)
    if account is None:
        raise click.ClickException(f"no account {email!r}")
    click.echo(f"{revoke_tokens(account, name)} token(s) revoked")


@staff_cli.command("end-sessions")
@click.argument("email")
@with_appcontext
def staff_end_sessions_command(email: str) -> None:
    """End every session and remember-me cookie of the account EMAIL (staff or family): a lost
    laptop, a departure. The password is unchanged; the next log-in works as usual."""
    from inscriptions.auth.accounts import find_account
    from inscriptions.extensions import db

    account = find_account(email)
    if account is None:
        raise click.ClickException(f"no account {email!r}")
    account.end_sessions()
    db.session.commit()
    click.echo(f"{account.email}: every session ended.")


@staff_cli.command("permissions")
def staff_permissions_command() -> None:
    """Print the permissions table (docs/permissions.md)."""
    from inscriptions.permissions import permissions_markdown

    click.echo(permissions_markdown(), nl=False)


@click.group("waitlist")
def waitlist_cli() -> None:
    """Waiting lists: expire unanswered offers and move the lists."""


@waitlist_cli.command("expire")
@with_appcontext
def waitlist_expire_command() -> None:
    """Cancel overdue offers, offer their places to the next entries, and move every list that can.

    Idempotent; meant for cron every few minutes.
    """
    from inscriptions.registrations.waitlist import expire_offers

    for line in expire_offers().lines():
        click.echo(line)


@click.group("workflow")
def workflow_cli() -> None:
    """Review workflows: the timed moves of the services' definitions."""


@workflow_cli.command("run")
@with_appcontext
def workflow_run_command() -> None:
    """Apply the services' automatic transitions that are due (``workflow.automatic``).

    Idempotent; meant for cron (every hour is enough for delays counted in days).
    """
    from inscriptions.backoffice.workflow import run_automatic

    for line in run_automatic().lines():
        click.echo(line)


@click.group("allocation")
def allocation_cli() -> None:
    """The allocator: decides places for the applications waiting in each service's queue."""


@allocation_cli.command("run")
@click.argument("service", required=False)
@with_appcontext
def allocation_run_command(service: str | None) -> None:
    """Decide the pending applications of SERVICE (default: every service) now, then stop."""
    from inscriptions.allocation.worker import drain, services_waiting

    for code in [service] if service else services_waiting():
        click.echo(f"{code}: {drain(code)} application(s) decided")


@allocation_cli.command("verify")
@click.argument("service")
@with_appcontext
def allocation_verify_command(service: str) -> None:
    """Recompute SERVICE's draw from its revealed seed and the applications' public ids, and
    compare with the order recorded (exit status 1 when they differ)."""
    from inscriptions.allocation.draws import verify_draw
    from inscriptions.definitions.registry import registry

    loaded = registry().get(service)
    if loaded is None:
        raise click.ClickException(f"unknown service {service!r}")
    found = verify_draw(service, loaded.definition.reference_prefix)
    click.echo(f"{service}: {found.applications} application(s) drawn. {found.message}")
    if not found.ok:
        sys.exit(1)


@allocation_cli.command("worker")
@click.option("--interval", default=0.1, show_default=True,
              help="Seconds between the starts of two passes (and to wait when the queues are empty).")
@with_appcontext
def allocation_worker_command(interval: float) -> None:
    """Run the allocator until stopped (ALLOCATION=worker mode; one per installation)."""
    import logging

    from inscriptions.allocation.worker import work

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    work(interval=interval)


@click.group("backup")
def backup_cli() -> None:
    """Database backups (see docs/production.md, "Backups")."""


@backup_cli.command("check")
@click.argument("dump", required=False, type=click.Path(path_type=Path))
@click.option("--max-age", "max_age", type=float, default=None,
              help="Fail when the dump is older than this many hours (e.g. 26 for a nightly dump).")
@click.option("--keep", is_flag=True, help="Leave the scratch database in place to look into it (name printed).")
@click.option("--jobs", default=1, show_default=True, help="Parallel jobs for pg_restore.")
@with_appcontext
def backup_check_command(dump: Path | None, max_age: float | None, keep: bool, jobs: int) -> None:
    """Restore DUMP (default: the newest *.dump in INSCRIPTIONS_BACKUP_DIR; a folder: its newest)
    into a scratch PostgreSQL database, compare row counts table by table with the live database,
    then drop it. Exit status 1 when no dump is found, the restore fails, holds no table, lacks a
    live table or is older than --max-age; 2 when the application does not run on PostgreSQL."""
    from flask import current_app
    from sqlalchemy.engine import make_url

    from inscriptions.backup import BackupError, check_backup, find_dump, is_postgresql

    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    if not is_postgresql(url):
        click.echo(f"backup check only checks PostgreSQL dumps (pg_dump --format=custom); this application's "
                   f"database is {make_url(url).get_backend_name()}. Back up an SQLite file with "
                   f"`sqlite3 FILE \".backup COPY\"` and check the copy opens.", err=True)
        sys.exit(2)
    try:
        report = check_backup(url, find_dump(dump or current_app.config.get("BACKUP_DIR")),
                              keep=keep, jobs=jobs, max_age_hours=max_age)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        sys.exit(1)


def register_app_commands(app: Flask) -> None:
    """Commands that need the application, for ``flask --app wsgi ...``."""
    app.cli.add_command(services_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(waitlist_cli)
    app.cli.add_command(workflow_cli)
    app.cli.add_command(allocation_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(staff_cli)
    app.cli.add_command(paper_cli)
    app.cli.add_command(privacy_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(backup_cli)


def _create_app() -> Flask:
    from inscriptions import create_app
    from inscriptions.definitions.errors import ServiceDefinitionError
    from inscriptions.town import TownConfigError

    try:
        return create_app()
    except (ServiceDefinitionError, TownConfigError) as exc:
        # One line, not a traceback: the person starting the app must see what to fix.
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


main = FlaskGroup(
    name="inscriptions",
    help="Inscriptions: the town's registration engine.",
    create_app=_create_app,
)
main.add_command(services_cli)
main.add_command(demo_cli)
main.add_command(waitlist_cli)
main.add_command(workflow_cli)
main.add_command(allocation_cli)
main.add_command(jobs_cli)
main.add_command(staff_cli)
main.add_command(paper_cli)
main.add_command(privacy_cli)
main.add_command(audit_cli)
main.add_command(backup_cli)
