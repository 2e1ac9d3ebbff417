"""``allocation: draw``: applications sent until ``draw_at`` wait, are drawn at ``draw_at`` from a
seed committed to in advance, and are decided in the drawn order; anyone can recompute it."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from booking_helpers import registration_input, stage_definition, write_plugins
from sqlalchemy import select, update

from inscriptions.allocation import draw
from inscriptions.allocation.draws import DRAW_GRACE, verify_draw
from inscriptions.allocation.worker import drain
from inscriptions.definitions.loader import load_services
from inscriptions.extensions import db
from inscriptions.models import AllocationDraw, AllocationRun, Application, Registration, Status, public_number
from inscriptions.registrations.create import create_registrations

DRAW_AT = "2026-09-20T12:00:00"  # Paris time: 10:00 UTC; the tests' clock starts on 15 September
DRAWN = dt.datetime(2026, 9, 20, 10, 0, tzinfo=dt.UTC)


def draw_definition(**overrides: object) -> dict:
    return stage_definition(capacity=2, **{"allocation": {"rule": "draw", "draw_at": DRAW_AT}, **overrides})


BAD = [
    ("no date", {"allocation": {"rule": "draw"}}, "allocation.draw_at", "needs its date"),
    ("before opening", {"allocation": {"rule": "draw", "draw_at": "2026-08-01T12:00:00"}}, "allocation.draw_at",
     "after 'opening'"),
    ("after closing", {"allocation": {"rule": "draw", "draw_at": "2027-08-01T12:00:00"}}, "allocation.draw_at",
     "after 'closing'"),
    ("date without draw", {"allocation": {"draw_at": DRAW_AT}}, "allocation.draw_at", "only used with"),
    ("unknown rule", {"allocation": {"rule": "lottery"}}, "allocation.rule", "'arrival', 'draw' or 'points'"),
]


@pytest.mark.parametrize(("case", "change", "where", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_allocation_settings_are_explained(tmp_path: Path, case: str, change: dict, where: str,
                                               words: str) -> None:
    services, problems = load_services(write_plugins(tmp_path, stage_definition(**change)))
    assert services == {}, case
    assert [p.path for p in problems] == [where], [str(p) for p in problems]
    assert words in problems[0].message


def test_applications_wait_for_the_draw_then_are_decided_in_its_order(  # type: ignore[no-untyped-def]
        app, install, make_household, frozen_clock) -> None:
    install(draw_definition())
    record = db.session.scalar(select(AllocationDraw).filter_by(service_code="stage"))
    # The seed exists from the definition's sync; only its SHA-256 is public until the draw.
    assert record.commitment == hashlib.sha256(record.seed.encode()).hexdigest() and record.drawn_at is None

    families = [make_household(last_name=f"F{n}") for n in range(5)]
    channels = ["web", "counter", "paper", "api", "web"]
    outcomes = [create_registrations(registration_input(f, channel=c)) for f, c in zip(families, channels,
                                                                                          strict=True)]
    # Inline allocation, yet nobody is decided before the draw: first come is not first served.
    assert [o.status for o in outcomes] == ["pending"] * 5
    assert db.session.scalar(select(db.func.count(Registration.id))) == 0
    frozen_clock(DRAWN + DRAW_GRACE / 2)  # sends that began before draw_at may still commit
    assert drain("stage") == 0

    frozen_clock(DRAWN + dt.timedelta(minutes=1))
    assert drain("stage") == 5
    db.session.rollback()
    apps = {a.id: a for a in db.session.scalars(select(Application))}
    ids = {public_number("STG", a.queue_number): a.id for a in apps.values()}
    order = draw.draw_order(record.seed, ids)
    assert [apps[ids[pid]].draw_rank for pid in order] == [1, 2, 3, 4, 5]
    status_of = {app_id: db.session.scalar(select(Registration.status).filter_by(application_id=app_id))
                 for app_id in ids.values()}
    # The two places go to the two first drawn, whatever their channel or arrival.
    assert [status_of[ids[pid]] for pid in order] == [Status.ACCEPTED] * 2 + [Status.WAITLISTED] * 3
    assert db.session.scalar(select(AllocationRun.rule)) == "draw"

    # After the draw, later applications follow by arrival, after the drawn ones.
    late = create_registrations(registration_input(make_household(last_name="Tard")))
    assert late.status == Status.WAITLISTED
    assert db.session.get(Application, late.application_id).draw_rank is None
    assert verify_draw("stage", "STG").ok


def test_anyone_can_check_the_draw_and_a_changed_rank_is_caught(  # type: ignore[no-untyped-def]
        app, install, make_household, frozen_clock) -> None:
    install(draw_definition())
    for n in range(4):
        create_registrations(registration_input(make_household(last_name=f"F{n}")))
    runner = app.test_cli_runner()
    secret = runner.invoke(args=["allocation", "verify", "stage"])
    assert secret.exit_code == 1 and "still secret" in secret.output
    frozen_clock(DRAWN + dt.timedelta(minutes=1))
    drain("stage")
    checked = runner.invoke(args=["allocation", "verify", "stage"])
    assert checked.exit_code == 0 and "4 application(s) drawn" in checked.output, checked.output

    first, second = db.session.scalars(select(Application).order_by(Application.draw_rank).limit(2))
    db.session.execute(update(Application).where(Application.id == first.id).values(draw_rank=2))
    db.session.execute(update(Application).where(Application.id == second.id).values(draw_rank=1))
    db.session.commit()
    tampered = runner.invoke(args=["allocation", "verify", "stage"])
    assert tampered.exit_code == 1 and "differs" in tampered.output


def test_the_service_page_and_the_family_page_say_it(  # type: ignore[no-untyped-def]
        app, client, install, make_household, login, frozen_clock) -> None:
    install(draw_definition())
    record = db.session.scalar(select(AllocationDraw).filter_by(service_code="stage"))
    seed, commitment = record.seed, record.commitment
    page = client.get("/services/stage").get_data(as_text=True)
    assert "tirage au sort le" in page and commitment in page and seed not in page

    family = make_household()
    login(family)
    outcome = create_registrations(registration_input(family))
    mine = client.get(f"/demandes/{outcome.application_id}").get_data(as_text=True)
    assert "votre demande y participe" in mine and 'http-equiv="refresh"' not in mine
    assert "dans la file" not in mine

    frozen_clock(DRAWN + dt.timedelta(minutes=1))
    drain("stage")
    page = client.get("/services/stage").get_data(as_text=True)
    assert seed in page and "1 demande y a participé" in page
    mine = client.get(f"/demandes/{outcome.application_id}").get_data(as_text=True)
    assert "Inscription confirmée" in mine or "Acceptée" in mine
    # Why, as the law asks of a decision taken by an algorithm: the rank, the rules, whom to ask.
    assert "tirée au rang 1 sur 1" in mine and "L311-3-1" in mine and "CADA" in mine


def test_the_allocation_log_shows_the_drawn_ranks(  # type: ignore[no-untyped-def]
        app, client, install, make_household, staff, login_as, frozen_clock) -> None:
    install(draw_definition())
    for n in range(3):
        create_registrations(registration_input(make_household(last_name=f"F{n}")))
    frozen_clock(DRAWN + dt.timedelta(minutes=1))
    drain("stage")
    run_id = db.session.scalar(select(AllocationRun.id))
    ranks = {public_number("STG", a.queue_number): a.draw_rank for a in db.session.scalars(select(Application))}
    login_as(staff("agent", "stage"))
    page = client.get(f"/gestion/stage/rapports/attribution/{run_id}").get_data(as_text=True)
    assert "Rang tiré au sort" in page and "Tirage au sort" in page
    lines = client.get(f"/gestion/stage/rapports/attribution/{run_id}.csv").get_data(as_text=True).splitlines()
    header = lines[0].split(";") if ";" in lines[0] else lines[0].split(",")
    column = header.index("Rang tiré au sort")
    application = header.index("Demande")
    cells = [line.split(";" if ";" in lines[0] else ",") for line in lines[1:]]
    # The run decided them in the drawn order, and says so line by line.
    assert [int(c[column]) for c in cells] == [1, 2, 3]
    assert {c[application]: int(c[column]) for c in cells} == ranks


def test_the_paper_form_says_it_enters_the_same_draw(app, install) -> None:  # type: ignore[no-untyped-def]
    from flask_babel import force_locale

    from inscriptions.paper.layout import compute_layout

    with app.test_request_context(), force_locale("fr"):
        layout = compute_layout(draw_definition_model(), "stage", 1)
    texts = " ".join(t.text for page in layout.pages for t in page.texts)
    assert "tirage au sort le" in texts and "20 septembre 2026" in texts and "même chance" in texts
    with app.test_request_context(), force_locale("fr"):
        plain = compute_layout(draw_definition_model(allocation={"rule": "arrival"}), "stage", 1)
    assert "tirage au sort" not in " ".join(t.text for page in plain.pages for t in page.texts)


def draw_definition_model(**overrides: object):  # type: ignore[no-untyped-def]
    from inscriptions.definitions.schema import ServiceDefinition

    return ServiceDefinition.model_validate(draw_definition(**overrides))


def test_the_public_draw_page_lists_every_rank_once_drawn(  # type: ignore[no-untyped-def]
        app, client, install, make_household, frozen_clock) -> None:
    install(draw_definition())
    record = db.session.scalar(select(AllocationDraw).filter_by(service_code="stage"))
    seed, commitment = record.seed, record.commitment
    for n in range(3):
        create_registrations(registration_input(make_household(last_name=f"F{n}")))
    before = client.get("/services/stage/tirage").get_data(as_text=True)
    assert commitment in before and seed not in before and "Rang de chaque demande" not in before

    frozen_clock(DRAWN + dt.timedelta(minutes=1))
    drain("stage")
    after = client.get("/services/stage/tirage")
    text = after.get_data(as_text=True)
    assert after.status_code == 200 and seed in text and "(3 demandes)" in text
    ids = {public_number("STG", a.queue_number): a.id for a in db.session.scalars(select(Application))}
    drawn = draw.draw_order(seed, ids)
    # The page's list is the order anyone recomputes from the seed, and no name is on it.
    assert [text.index(pid) for pid in drawn] == sorted(text.index(pid) for pid in drawn)
    assert "F0" not in text and "F1" not in text
    # The command shown gives the first application's ticket.
    first = f"{draw.ALGORITHM}\n{seed}\n{drawn[0]}\n0"
    assert hashlib.sha256(first.encode()).hexdigest() == format(draw.ticket(seed, drawn[0]), "064x")
    shown = f"printf '{draw.ALGORITHM}\\n{seed}\\n{drawn[0]}\\n0' | sha256sum"
    assert shown in text


def test_no_draw_page_for_a_service_without_a_draw(app, client, install) -> None:  # type: ignore[no-untyped-def]
    install(stage_definition())
    assert client.get("/services/stage/tirage").status_code == 404


def test_the_confirmation_email_gives_the_rank_and_the_legal_mention(  # type: ignore[no-untyped-def]
        app, install, make_household, outbox, frozen_clock) -> None:
    install(draw_definition())
    for n in range(3):
        create_registrations(registration_input(make_household(last_name=f"F{n}")))
    assert outbox == []  # nothing decided, nothing written before the draw
    frozen_clock(DRAWN + dt.timedelta(minutes=1))
    drain("stage")
    ranks = sorted(int(m.body.split("tirée au rang ")[1].split(" sur ")[0]) for m in outbox)
    assert ranks == [1, 2, 3]
    assert all("L311-3-1" in m.body and "CADA" in m.body and "/services/stage/tirage" in m.body for m in outbox)


def test_siblings_and_alternatives_follow_the_drawn_order(  # type: ignore[no-untyped-def]
        app, install, make_household, frozen_clock) -> None:
    install(draw_definition(alternatives=1))  # s1: 2 places, s2: 20
    pair = make_household(last_name="Fratrie", children=[("Noé", dt.date(2018, 1, 1)), ("Ana", dt.date(2019, 1, 1))])
    singles = [make_household(last_name=f"Seul{n}") for n in range(3)]
    for family in (pair, *singles):
        create_registrations(registration_input(family, session=None, wishes=[["s1", "s2"]]))
    frozen_clock(DRAWN + dt.timedelta(minutes=1))
    drain("stage")
    db.session.rollback()
    order = [a.household_id for a in db.session.scalars(select(Application).order_by(Application.draw_rank))]
    placed = {}
    for reg in db.session.scalars(select(Registration)):
        placed.setdefault(reg.household_id, set()).add(reg.session.code)
    # Siblings in one session; s1's two places to the drawn order, each family else its second choice.
    assert all(len(codes) == 1 for codes in placed.values())
    free, expected = 2, {}
    for household_id in order:
        needed = 2 if household_id == pair.id else 1
        expected[household_id] = {"s1"} if needed <= free else {"s2"}
        free -= needed if needed <= free else 0
    assert placed == expected
