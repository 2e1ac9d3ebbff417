"""``inscriptions paper ...``: print forms and letters (registered in :mod:`inscriptions.cli`)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext


@click.group("paper")
def paper_cli() -> None:
    """Paper forms and letters (see docs/paper.md)."""


def _household_ids(value: str | None) -> list[int] | None:
    if value is None or value.strip().lower() == "all":
        return None
    if value.strip().lower() == "none":
        return []
    try:
        return [int(part) for part in value.replace(" ", "").split(",") if part]
    except ValueError as exc:
        raise click.BadParameter("give 'all', 'none' or household ids separated by commas, e.g. 1,2,3") from exc


def _log_print(service_code: str | None, kind: str, documents: int, households: list[int]) -> None:
    """A print from the command line puts the families' data in a file: logged like the back
    office's (channel ``cli``, with the system user who ran it)."""
    from inscriptions.audit import Action, log_access
    from inscriptions.extensions import db

    detail = {"service": service_code, "kind": kind, "documents": documents}
    log_access(None, Action.EXPORT, None, {k: v for k, v in detail.items() if v is not None},
               "Mass printing", households=households)
    db.session.commit()


@paper_cli.command("print")
@click.option("--service", "service_code", required=True, help="Service code, e.g. cantine.")
@click.option("--households", default=None,
              help="'all', or household ids like 1,2,3: one prefilled form each (per eligible child for a "
                   "child service). Default: 'all', or none when --blank is given.")
@click.option("--blank", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also print this many blank forms (one participant each), each with its own code.")
@click.option("--with-answers", is_flag=True,
              help="Re-enrolment: prefill each participant's latest answers to this service (never sensitive ones).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def print_command(service_code: str, households: str | None, blank: int, with_answers: bool, out_path: Path) -> None:
    """Print forms of SERVICE into one PDF, each document with its own print token."""
    from inscriptions.definitions.registry import registry
    from inscriptions.paper.render import count_documents, render_batch

    if registry().get(service_code) is None:
        raise click.ClickException(f"no service {service_code!r}; known: "
                                   + ", ".join(s.code for s in registry().all()))
    ids = _household_ids(households) if households is not None or not blank else []
    total = (count_documents(service_code, ids) if ids != [] else 0) + blank
    if total == 0:
        raise click.ClickException("nothing to print: no matching household (or child of the right age)")
    with click.progressbar(length=total, label="Printing", file=sys.stderr) as bar:
        state = {"done": 0}

        def progress(done: int, _total: int) -> None:
            bar.update(done - state["done"])
            state["done"] = done

        result = render_batch(service_code, ids, out_path, blank=blank, with_answers=with_answers,
                              progress=progress)
    _log_print(service_code, "forms", result.documents, result.households)
    click.echo(f"{result.documents} document(s), {result.pages} page(s) written to {result.path}")


@paper_cli.command("letters")
@click.option("--since", required=True, type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%d %H:%M"]),
              help="Status changes from this local date (and time) on, e.g. 2026-09-01.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def letters_command(since: dt.datetime, out_path: Path) -> None:
    """Print the letters owed to households without e-mail (confirmation, waiting list, rejection)."""
    from inscriptions.clock import local_zone
    from inscriptions.paper.letters import pending_letters, render_letters

    since_utc = since.replace(tzinfo=local_zone()).astimezone(dt.UTC).replace(tzinfo=None)
    letters = pending_letters(since_utc)
    if not letters:
        click.echo("no letter to print")
        return
    with click.progressbar(length=len(letters), label="Printing letters", file=sys.stderr) as bar:
        count = render_letters(letters, out_path, progress=lambda _n: bar.update(1))
    _log_print(None, "letters", count, [letter.household.id for letter in letters])
    click.echo(f"{count} letter(s) written to {out_path}")


@paper_cli.command("layout")
@click.option("--service", "service_code", required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the whole frozen layout as JSON.")
@with_appcontext
def layout_command(service_code: str, as_json: bool) -> None:
    """Show the frozen paper layout of SERVICE's current form version (freezing it if new)."""
    from inscriptions.definitions.registry import current_version, registry
    from inscriptions.extensions import db
    from inscriptions.paper.layout import layout_for

    service = registry().get(service_code)
    if service is None:
        raise click.ClickException(f"no service {service_code!r}")
    layout = layout_for(current_version(service))
    db.session.commit()
    if as_json:
        click.echo(json.dumps(layout.to_json(), ensure_ascii=False, indent=1))
        return
    click.echo(f"{layout.service_code} form version {layout.form_version}: {layout.page_count} page(s), "
               f"layout version {layout.layout_version}")
    for page in layout.pages:
        kinds: dict[str, int] = {}
        for box in page.boxes:
            kinds[box.kind] = kinds.get(box.kind, 0) + 1
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        click.echo(f"  page {page.number}: {summary}")
