"""Mass printing from the command line and from a job, and letters for families without e-mail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from paper_helpers import born, page_count, page_texts
from sqlalchemy import func, select

from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import PrintToken, Registration
from inscriptions.paper.layout import layout_for
from inscriptions.paper.letters import ADDRESS_BLOCK, address_lines, pending_letters, render_letters
from inscriptions.paper.render import render_batch, render_batch_job
from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations
from inscriptions.registrations.status import change_status

CANTEEN = {"days": ["mon", "tue"], "diet": "standard", "allergy": "non", "rules": "on"}
POOL = {"level": "debutant", "rules": "on"}


def canteen_pages() -> int:
    return layout_for(current_version(registry().get("cantine"))).page_count


def tokens() -> list[PrintToken]:
    return list(db.session.scalars(select(PrintToken).order_by(PrintToken.id)))


def test_print_command_one_document_per_child(app: Any, runner: Any, tmp_path: Path,
                                              make_household: Callable[..., Any]) -> None:
    two = make_household(last_name="Bernard", children=[("Léo", born(6)), ("Inès", born(9))])
    make_household(last_name="Petit", children=[("Hugo", born(15))])  # too old for the canteen (2-12)
    none = make_household(last_name="Sanenfant", children=[])
    out = tmp_path / "forms.pdf"
    result = runner.invoke(args=["paper", "print", "--service", "cantine", "--households", "all", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 document(s)" in result.output
    assert page_count(out) == 2 * canteen_pages()
    rows = tokens()
    assert [(t.household_id, t.child_id) for t in rows] == [(two.id, c.id) for c in two.children]
    assert len({t.token for t in rows}) == 2
    text = "\n".join(page_texts(out))
    assert "Léo" in text and "Inès" in text and "Hugo" not in text and "Sanenfant" not in text
    assert none.id not in {t.household_id for t in rows}


def test_print_command_blank_forms_and_chosen_households(app: Any, runner: Any, tmp_path: Path,
                                                         make_household: Callable[..., Any]) -> None:
    first = make_household(last_name="Durand")
    make_household(last_name="Moreau")
    out = tmp_path / "mix.pdf"
    result = runner.invoke(args=["paper", "print", "--service", "cantine", "--households", str(first.id),
                                 "--blank", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert page_count(out) == 4 * canteen_pages()
    rows = tokens()
    assert [t.household_id for t in rows] == [first.id, None, None, None]
    assert "Moreau" not in "\n".join(page_texts(out))
    # --blank alone prints only blank forms.
    result = runner.invoke(args=["paper", "print", "--service", "piscine", "--blank", "2", "--out",
                                 str(tmp_path / "blank.pdf")])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(PrintToken).where(PrintToken.household_id.is_(None))) == 5


def test_print_command_errors(app: Any, runner: Any, tmp_path: Path) -> None:
    result = runner.invoke(args=["paper", "print", "--service", "nope", "--out", str(tmp_path / "x.pdf")])
    assert result.exit_code != 0 and "no service 'nope'" in result.output
    result = runner.invoke(args=["paper", "print", "--service", "cantine", "--households", "a,b",
                                 "--out", str(tmp_path / "x.pdf")])
    assert result.exit_code != 0 and "household ids" in result.output
    result = runner.invoke(args=["paper", "print", "--service", "cantine", "--out", str(tmp_path / "x.pdf")])
    assert result.exit_code != 0 and "nothing to print" in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_render_batch_reports_progress_and_commits_tokens(app: Any, tmp_path: Path,
                                                          make_household: Callable[..., Any]) -> None:
    ids = [make_household(last_name=f"Famille{n}").id for n in range(5)]
    seen: list[tuple[int, int]] = []
    result = render_batch("cantine", ids, tmp_path / "batch.pdf", blank=1, chunk=2,
                          progress=lambda done, total: seen.append((done, total)))
    assert seen == [(n, 6) for n in range(1, 7)]
    assert (result.documents, result.pages) == (6, 6 * canteen_pages())
    db.session.rollback()  # what the batch committed stays
    assert len(tokens()) == 6


def test_batch_job_takes_and_returns_json(app: Any, tmp_path: Path) -> None:
    out = tmp_path / "job.pdf"
    pages = layout_for(current_version(registry().get("piscine"))).page_count
    assert render_batch_job("piscine", [], str(out), blank=2) == {"path": str(out), "documents": 2,
                                                                   "pages": 2 * pages}
    assert page_count(out) == 2 * pages


def test_layout_command(app: Any, runner: Any) -> None:
    result = runner.invoke(args=["paper", "layout", "--service", "cantine"])
    assert result.exit_code == 0, result.output
    assert "cantine form version 1: 2 page(s)" in result.output
    result = runner.invoke(args=["paper", "layout", "--service", "cantine", "--json"])
    assert '"qr"' in result.output and '"boxes"' in result.output


def book(household: Any, code: str, answers: dict[str, Any], session: str | None = None) -> list[Registration]:
    outcome = create_registrations(RegistrationInput(
        service_code=code, household_id=household.id, channel="paper", session_code=session,
        participants=[ParticipantInput(child_id=child.id, answers=answers) for child in household.children],
    ))
    return [db.session.get(Registration, rid) for rid in outcome.registration_ids]


def test_letters_for_households_without_email(app: Any, runner: Any, tmp_path: Path,
                                              make_household: Callable[..., Any],
                                              frozen_clock: Callable[[dt.datetime], None]) -> None:
    paper = make_household(last_name="Leroux", email=None, with_account=False,
                           children=[("Jade", born(7)), ("Tom", born(8))])
    paper.address_line2 = "Résidence des Tilleuls"
    online = make_household(last_name="Connecté", children=[("Noé", born(7))])
    old = make_household(last_name="Ancien", email=None, with_account=False, children=[("Lou", born(7))])
    frozen_clock(dt.datetime(2026, 9, 1, 10, 0, tzinfo=dt.UTC))
    book(old, "cantine", CANTEEN)  # before --since: no letter
    frozen_clock(dt.datetime(2026, 9, 15, 10, 0, tzinfo=dt.UTC))
    canteen = book(paper, "cantine", CANTEEN)
    book(online, "cantine", CANTEEN)
    pool = make_household(last_name="Nageur", email=None, with_account=False, children=[("Max", born(8))])
    (declined,) = book(pool, "piscine", POOL, session="mer-14h")
    change_status(declined, "rejected", by=None, reason="Groupe complet pour ce niveau")
    db.session.commit()

    # One letter per booking and status, sorted by postcode then name (both in 99990).
    letters = pending_letters(dt.datetime(2026, 9, 10))
    assert [(letter.household.id, letter.kind, len(letter.registrations)) for letter in letters] == [
        (paper.id, "confirmation", 2), (pool.id, "rejection", 1)]

    out = tmp_path / "letters.pdf"
    result = runner.invoke(args=["paper", "letters", "--since", "2026-09-10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 letter(s)" in result.output
    texts = page_texts(out)
    assert len(texts) == 2
    everything = "\n".join(texts)
    for expected in ("Leroux", "Jade", "Tom", "Résidence des Tilleuls", "99990 VILLEBELLE", canteen[0].reference,
                     canteen[1].reference, "Max", "Groupe complet pour ce niveau"):
        assert expected in everything, expected
    assert "Connecté" not in everything and "Lou" not in everything
    # Nothing new since: nothing printed.
    result = runner.invoke(args=["paper", "letters", "--since", "2026-10-01", "--out", str(tmp_path / "none.pdf")])
    assert result.exit_code == 0 and "no letter" in result.output
    assert not (tmp_path / "none.pdf").exists()


def test_address_fits_the_envelope_window(app: Any, tmp_path: Path, make_household: Callable[..., Any]) -> None:
    household = make_household(last_name="De La Fontaine-Saint-Exupéry-Montmorency", email=None,
                               with_account=False)
    lines = address_lines(household)
    assert all(len(line) <= 38 for line in lines) and len(lines) <= 6
    assert lines[-1] == "99990 VILLEBELLE"
    x, y, w, h = ADDRESS_BLOCK
    assert (x, y) == (110.0, 50.0) and w <= 90 and h >= len(lines) * 5.0
    regs = book(household, "cantine", CANTEEN)
    db.session.commit()
    letters = pending_letters(dt.datetime(2026, 1, 1))
    assert [letter.registrations for letter in letters] == [regs]
    assert render_letters(letters, tmp_path / "one.pdf") == 1
