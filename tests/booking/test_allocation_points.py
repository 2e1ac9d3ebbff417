"""``allocation: points`` and weighted draws: criteria declared in the file, points counted from the
household file and the answers at the ranking, ties broken by the verifiable draw, and each family
told how the rule applied to it (page, e-mail, letter, downloadable detail)."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from booking_helpers import registration_input, stage_definition, write_plugins
from sqlalchemy import select, update

from inscriptions.allocation import draw, priority
from inscriptions.allocation.draws import DRAW_GRACE, verify_draw
from inscriptions.allocation.priority import ApplicationFacts
from inscriptions.allocation.worker import drain
from inscriptions.definitions.loader import load_services
from inscriptions.definitions.schema import Criterion, DrawWeight
from inscriptions.extensions import db
from inscriptions.models import AllocationDraw, AllocationRun, Application, Registration, Status, public_number
from inscriptions.registrations.create import create_registrations

DRAW_AT = "2026-09-20T12:00:00"  # Paris time: 10:00 UTC; the tests' clock starts on 15 September
AFTER_DRAW = dt.datetime(2026, 9, 20, 10, 0, tzinfo=dt.UTC) + DRAW_GRACE + dt.timedelta(seconds=5)

RESIDENT = {"code": "resident", "label": "Famille domiciliée à Villebelle", "fact": "household.resident",
            "equals": True, "points": 10}
LOW_QF = {"code": "qf", "label": "Quotient familial jusqu'à 700", "fact": "household.qf", "at_most": 700,
          "points": 3}
LEVEL_B = {"code": "level_b", "label": "Niveau B", "answer": "level", "equals": "b", "points": 1}


def points_definition(capacity: int = 2, criteria: list | None = None, **overrides: object) -> dict:
    allocation = {"rule": "points", "draw_at": DRAW_AT, "criteria": criteria or [RESIDENT, LOW_QF]}
    return stage_definition(capacity=capacity, **{"allocation": allocation, **overrides})


def pdf_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


# -- the rule itself, on hand-built facts ---------------------------------------------------------

def criterion(**test: object) -> Criterion:
    return Criterion.model_validate({"code": "c", "label": "C", "points": 5, **test})


@pytest.mark.parametrize(("test", "facts", "met"), [
    ({"fact": "household.resident", "equals": True}, {"household.resident": True}, True),
    ({"fact": "household.resident", "equals": True}, {"household.resident": False}, False),
    ({"fact": "household.qf", "at_most": 700}, {"household.qf": 700}, True),
    ({"fact": "household.qf", "at_most": 700}, {"household.qf": 701}, False),
    # No QF given: unknown never meets a test, not even "at most".
    ({"fact": "household.qf", "at_most": 700}, {"household.qf": None}, False),
    ({"fact": "household.qf", "at_least": 300, "at_most": 700}, {"household.qf": 299}, False),
    ({"fact": "household.children_enrolled", "at_least": 1}, {"household.children_enrolled": 2}, True),
    ({"fact": "household.single_guardian", "equals": True}, {"household.single_guardian": True}, True),
    # True is not 1: a yes/no fact never passes a number test.
    ({"fact": "household.children_enrolled", "at_least": 1}, {"household.children_enrolled": True}, False),
])
def test_household_tests(test: dict, facts: dict, met: bool) -> None:
    assert priority.holds(criterion(**test), ApplicationFacts(facts)) is met


def test_a_participant_test_holds_when_one_child_meets_it() -> None:
    older = criterion(fact="participant.age", at_least=8)
    siblings = ApplicationFacts({}, ({"participant.age": 6}, {"participant.age": 9}))
    assert priority.holds(older, siblings)
    assert not priority.holds(older, ApplicationFacts({}, ({"participant.age": 6}, {"participant.age": None})))
    school = criterion(fact="participant.school", **{"in": ["Jules Ferry", "Prévert"]})
    assert priority.holds(school, ApplicationFacts({}, ({"participant.school": "Prévert"},)))
    assert not priority.holds(school, ApplicationFacts({}, ({"participant.school": ""},)))


def test_answer_tests_read_choices_and_lists() -> None:
    ticked = criterion(answer="days", **{"in": ["wed"]})
    assert priority.holds(ticked, ApplicationFacts({}, ({"days": ["mon", "wed"]},)))
    assert not priority.holds(ticked, ApplicationFacts({}, ({"days": ["mon"]},)))
    yes = criterion(answer="both_working", equals=True)
    assert priority.holds(yes, ApplicationFacts({}, ({"both_working": True},)))
    assert not priority.holds(yes, ApplicationFacts({}, ({"both_working": "true"},)))


def test_score_adds_the_points_of_the_criteria_met_and_keeps_each_one() -> None:
    criteria = [Criterion.model_validate(c) for c in (RESIDENT, LOW_QF, LEVEL_B)]
    found = priority.score(criteria, ApplicationFacts({"household.resident": True, "household.qf": 900},
                                                      ({"level": "b"},)))
    assert found.points == 11
    assert [(d["code"], d["met"], d["value"]) for d in found.detail] == [
        ("resident", True, True), ("qf", False, 900), ("level_b", True, ["b"])]


def test_the_largest_weight_met_counts() -> None:
    weights = [DrawWeight.model_validate({"label": "Résident", "fact": "household.resident", "equals": True,
                                          "weight": 2}),
               DrawWeight.model_validate({"label": "QF bas", "fact": "household.qf", "at_most": 500, "weight": 3})]
    assert priority.weight(weights, ApplicationFacts({"household.resident": True, "household.qf": 400})) == 3
    assert priority.weight(weights, ApplicationFacts({"household.resident": True, "household.qf": 900})) == 2
    assert priority.weight(weights, ApplicationFacts({"household.resident": False, "household.qf": None})) == 1


# -- definitions that cannot work are refused, with where and why ---------------------------------

SENSITIVE_FORM = {"pages": [{"title": "Santé", "fields": [
    {"name": "allergy", "type": "yes_no", "label": "Allergie", "sensitive": True},
    {"name": "notes", "type": "text", "label": "Remarques"},
    {"name": "level", "type": "single_choice", "label": "Niveau",
     "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
]}]}

BAD = [
    ("unknown fact", {"fact": "household.income", "equals": True}, "allocation.criteria.0.fact", "must be one of"),
    ("sensitive answer", {"answer": "allergy", "equals": True}, "allocation.criteria[0] (c).answer",
     "may never weigh on a place"),
    ("free text", {"answer": "notes", "equals": "x"}, "allocation.criteria[0] (c).answer", "not a 'text' field"),
    ("missing field", {"answer": "siblings", "equals": True}, "allocation.criteria[0] (c).answer",
     "not a field of the form"),
    ("unknown choice", {"answer": "level", "equals": "z"}, "allocation.criteria[0] (c).answer", "not a choice"),
    ("yes/no tested as number", {"fact": "household.resident", "at_least": 1}, "allocation.criteria[0] (c).fact",
     "yes or no"),
    ("number tested as yes/no", {"fact": "household.qf", "equals": True}, "allocation.criteria[0] (c).fact",
     "is a number"),
    ("two operators", {"fact": "household.qf", "equals": 3, "at_most": 5}, "allocation.criteria[0]",
     "exactly one of"),
]


@pytest.mark.parametrize(("case", "test", "where", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_criteria_are_explained(tmp_path: Path, case: str, test: dict, where: str, words: str) -> None:
    defn = points_definition(criteria=[{"code": "c", "label": "C", "points": 2, **test}], form=SENSITIVE_FORM)
    services, problems = load_services(write_plugins(tmp_path, defn))
    assert services == {}, case
    assert [p.path.replace(".0.", "[0].") for p in problems][:1] == [where.replace(".0.", "[0].")], \
        [str(p) for p in problems]
    assert words in problems[0].message, problems[0].message


@pytest.mark.parametrize(("case", "allocation", "where", "words"), [
    ("points without criteria", {"rule": "points", "draw_at": DRAW_AT}, "allocation.criteria", "at least one"),
    ("criteria without points", {"rule": "draw", "draw_at": DRAW_AT, "criteria": [RESIDENT]},
     "allocation.criteria", "only used with 'rule: points'"),
    ("weights by arrival", {"weights": [{"label": "R", "fact": "household.resident", "equals": True,
                                         "weight": 2}]}, "allocation.weights", "only used with"),
    ("points without date", {"rule": "points", "criteria": [RESIDENT]}, "allocation.draw_at", "needs its date"),
    ("points before opening", {"rule": "points", "criteria": [RESIDENT], "draw_at": "2026-08-01T12:00:00"},
     "allocation.draw_at", "after 'opening'"),
])
def test_bad_allocation_settings_are_explained(tmp_path: Path, case: str, allocation: dict, where: str,
                                               words: str) -> None:
    services, problems = load_services(write_plugins(tmp_path, stage_definition(allocation=allocation)))
    assert services == {}, case
    assert [p.path for p in problems] == [where], [str(p) for p in problems]
    assert words in problems[0].message


# -- end to end -----------------------------------------------------------------------------------

def test_most_points_first_then_the_draw_breaks_ties(  # type: ignore[no-untyped-def]
        app, install, make_household, frozen_clock) -> None:
    install(points_definition(capacity=3))
    # Arrival order: the non-residents first. Points: 10 per resident, 3 more for a QF up to 700.
    families = [
        make_household(last_name="Loin1", resident=False, quotient_familial=500),  # 3
        make_household(last_name="Loin2", resident=False, quotient_familial=900),  # 0
        make_household(last_name="Ici1", resident=True, quotient_familial=900),  # 10
        make_household(last_name="Ici2", resident=True, quotient_familial=650),  # 13
        make_household(last_name="Ici3", resident=True, quotient_familial=None),  # 10: no QF given
    ]
    channels = ["web", "web", "paper", "counter", "web"]
    outcomes = [create_registrations(registration_input(f, channel=c))
                for f, c in zip(families, channels, strict=True)]
    assert {o.status for o in outcomes} == {"pending"}
    frozen_clock(AFTER_DRAW)
    assert drain("stage") == 5
    db.session.rollback()
    apps = [db.session.get(Application, o.application_id) for o in outcomes]
    assert [a.points for a in apps] == [3, 0, 10, 13, 10]
    assert [d["met"] for d in apps[3].points_detail] == [True, True]
    assert apps[4].points_detail[1] == {"code": "qf", "label": LOW_QF["label"], "points": 3, "met": False,
                                        "value": None}
    status = [db.session.scalar(select(Registration.status).filter_by(application_id=a.id)) for a in apps]
    # 13 first, then the two residents with 10 (the draw orders them, both fit), the rest wait.
    assert status == [Status.WAITLISTED, Status.WAITLISTED, Status.ACCEPTED, Status.ACCEPTED, Status.ACCEPTED]
    # The waiting list follows the points too: 3 points before 0, although both sent first.
    first, second = (db.session.scalar(select(Registration).filter_by(application_id=apps[i].id)) for i in (0, 1))
    assert (first.waitlisted_at, first.id) < (second.waitlisted_at, second.id)
    assert db.session.scalar(select(AllocationRun.rule)) == "points"
    assert "points/1" in db.session.scalar(select(AllocationRun.algorithm))
    # Every application was drawn (the tie-break), and the draw checks out.
    assert sorted(a.draw_rank for a in apps) == [1, 2, 3, 4, 5]
    assert verify_draw("stage", "STG").ok


def test_ties_follow_the_draw(  # type: ignore[no-untyped-def]
        app, install, make_household, frozen_clock) -> None:
    install(points_definition(capacity=2, criteria=[RESIDENT]))
    families = [make_household(last_name=f"Ici{n}") for n in range(6)]
    outcomes = [create_registrations(registration_input(f)) for f in families]
    frozen_clock(AFTER_DRAW)
    drain("stage")
    db.session.rollback()
    apps = [db.session.get(Application, o.application_id) for o in outcomes]
    assert {a.points for a in apps} == {10}
    accepted = {a.draw_rank for a in apps
                if db.session.scalar(select(Registration.status).filter_by(application_id=a.id)) == Status.ACCEPTED}
    assert accepted == {1, 2}


def test_siblings_are_ranked_and_placed_together(  # type: ignore[no-untyped-def]
        app, install, make_household, frozen_clock) -> None:
    older = {"code": "older", "label": "Enfant de 8 ans ou plus", "fact": "participant.age", "at_least": 8,
             "points": 5}
    install(points_definition(capacity=2, criteria=[older], age={"min": 3, "max": 12, "on": "2026-09-01"}))
    young = make_household(last_name="Petit", children=[("Zoé", dt.date(2021, 1, 1))])
    pair = make_household(last_name="Fratrie", children=[("Noé", dt.date(2020, 1, 1)), ("Ana", dt.date(2017, 1, 1))])
    solo = make_household(last_name="Grand", children=[("Eli", dt.date(2016, 1, 1))])
    outcomes = [create_registrations(registration_input(f)) for f in (young, pair, solo)]
    frozen_clock(AFTER_DRAW)
    drain("stage")
    db.session.rollback()
    points = [db.session.get(Application, o.application_id).points for o in outcomes]
    assert points == [0, 5, 5]  # one child of 8 or more is enough for the pair
    regs = {o.application_id: list(db.session.scalars(select(Registration.status).filter_by(
        application_id=o.application_id))) for o in outcomes}
    pair_status = regs[outcomes[1].application_id]
    # Two places: the pair together, or the older child alone then the pair waits together.
    assert len(set(pair_status)) == 1 and len(pair_status) == 2
    assert regs[outcomes[0].application_id] == [Status.WAITLISTED]


def test_alternatives_under_points(  # type: ignore[no-untyped-def]
        app, install, make_household, frozen_clock) -> None:
    install(points_definition(capacity=1, criteria=[RESIDENT], alternatives=1))
    near = make_household(last_name="Ici", resident=True)
    far = make_household(last_name="Loin", resident=False)
    # The non-resident sends first; both rank s1 first, s2 second.
    for family in (far, near):
        create_registrations(registration_input(family, session=None, wishes=[["s1", "s2"]]))
    frozen_clock(AFTER_DRAW)
    drain("stage")
    db.session.rollback()
    got = {r.household_id: r.session.code for r in db.session.scalars(select(Registration))}
    assert got == {near.id: "s1", far.id: "s2"}


def test_children_already_enrolled_count_siblings_only(  # type: ignore[no-untyped-def]
        app, install, make_household, frozen_clock) -> None:
    sibling = {"code": "fratrie", "label": "Frère ou sœur déjà inscrit", "fact": "household.children_enrolled",
               "at_least": 1, "points": 4}
    install(stage_definition(capacity=5, sessions=[
        {"code": "s1", "label": "Semaine 1", "starts_at": "2027-02-15T09:00:00", "capacity": 5},
        {"code": "s2", "label": "Semaine 2", "starts_at": "2027-02-22T09:00:00", "capacity": 5}]))
    family = make_household(children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2019, 3, 1))])
    alone = make_household(last_name="Seul")
    lea, tom = family.children
    create_registrations(registration_input(family, children=[lea]))  # Léa holds a place (arrival)
    create_registrations(registration_input(alone))
    install(points_definition(capacity=5, criteria=[sibling]))
    tom_app = create_registrations(registration_input(family, children=[tom], session="s2"))
    lea_again = create_registrations(registration_input(family, children=[lea], session="s2"))
    other = create_registrations(registration_input(alone, session="s2"))
    frozen_clock(AFTER_DRAW)
    drain("stage")
    db.session.rollback()
    found = {o.application_id: db.session.get(Application, o.application_id).points
             for o in (tom_app, lea_again, other)}
    # Tom's sister is enrolled: 4. Léa herself is not her own sibling: Tom holds no place yet.
    assert found == {tom_app.application_id: 4, lea_again.application_id: 0, other.application_id: 0}


def test_the_family_sees_its_points_and_can_download_the_detail(  # type: ignore[no-untyped-def]
        app, client, install, make_household, login, frozen_clock, outbox) -> None:
    install(points_definition(capacity=1))
    page = client.get("/services/stage").get_data(as_text=True)
    assert "points de priorité" in page and "Famille domiciliée à Villebelle : 10 points" in page
    rules = html.unescape(client.get("/services/stage/tirage").get_data(as_text=True))
    assert "Quotient familial jusqu'à 700 : 3 points" in rules and "santé" in rules

    family = make_household(quotient_familial=640)
    login(family)
    outcome = create_registrations(registration_input(family))
    assert client.get(f"/demandes/{outcome.application_id}/decision.pdf").status_code == 404  # not ranked yet
    frozen_clock(AFTER_DRAW)
    drain("stage")
    mine = html.unescape(client.get(f"/demandes/{outcome.application_id}").get_data(as_text=True))
    assert "13 points" in mine and "Famille domiciliée à Villebelle" in mine
    assert "tirée au rang 1 sur 1" in mine and "L311-3-1" in mine and "CADA" in mine
    detail = client.get(f"/demandes/{outcome.application_id}/decision.pdf")
    assert detail.status_code == 200 and detail.mimetype == "application/pdf"
    assert "no-store" in detail.headers["Cache-Control"]
    printed = " ".join(pdf_text(detail.data).split())
    # The rules, the data used (the QF read), the points, the operations, the rights.
    for words in ("Famille domiciliée à Villebelle : 10 points", "640", "13 points", "rang 1 sur 1",
                  "Les opérations effectuées", "CADA"):
        assert words in printed, words
    # The e-mail says the same.
    body = outbox[-1].body
    assert "13 points" in body and "Quotient familial jusqu'à 700 : critère rempli, 3 points" in body
    assert "L311-3-1" in body

    # Another family's detail: not found, as for everything of another household.
    stranger = make_household(last_name="Autre")
    login(stranger)
    assert client.get(f"/demandes/{outcome.application_id}/decision.pdf").status_code == 404


def test_a_letter_explains_the_points(  # type: ignore[no-untyped-def]
        app, install, make_household, frozen_clock, tmp_path) -> None:
    from inscriptions.paper.letters import pending_letters, render_letters

    install(points_definition(capacity=1))
    since = dt.datetime(2026, 9, 1)
    family = make_household(email=None, quotient_familial=640)
    create_registrations(registration_input(family, channel="paper"))
    frozen_clock(AFTER_DRAW)
    drain("stage")
    db.session.rollback()
    with app.test_request_context():
        letters = pending_letters(since)
        render_letters(letters, tmp_path / "letters.pdf")
    text = " ".join(pdf_text((tmp_path / "letters.pdf").read_bytes()).split())
    assert "13 points" in text and "L311-3-1" in text and "critère rempli" in text


def test_an_application_after_the_ranking_follows_by_arrival_and_is_told_so(  # type: ignore[no-untyped-def]
        app, client, install, make_household, login, frozen_clock) -> None:
    install(points_definition(capacity=1))
    create_registrations(registration_input(make_household(last_name="Tot")))
    late_family = make_household(last_name="Tard")
    frozen_clock(AFTER_DRAW)
    drain("stage")
    late = create_registrations(registration_input(late_family))
    login(late_family)
    application = db.session.get(Application, late.application_id)
    assert application.points is None and application.draw_rank is None
    mine = html.unescape(client.get(f"/demandes/{late.application_id}").get_data(as_text=True))
    assert "après le classement" in mine


# -- weighted draws -------------------------------------------------------------------------------

WEIGHTS = [{"label": "Famille domiciliée à Villebelle", "fact": "household.resident", "equals": True, "weight": 3}]


def test_a_weighted_draw_records_the_tickets_and_checks_out(  # type: ignore[no-untyped-def]
        app, client, install, make_household, frozen_clock) -> None:
    install(stage_definition(capacity=2, allocation={"rule": "draw", "draw_at": DRAW_AT, "weights": WEIGHTS}))
    for n in range(3):
        create_registrations(registration_input(make_household(last_name=f"Ici{n}", resident=True)))
        create_registrations(registration_input(make_household(last_name=f"Loin{n}", resident=False)))
    rules = client.get("/services/stage/tirage").get_data(as_text=True)
    assert "3 fois plus de chances" in rules
    frozen_clock(AFTER_DRAW)
    drain("stage")
    db.session.rollback()
    record = db.session.scalar(select(AllocationDraw))
    apps = list(db.session.scalars(select(Application)))
    weights = {public_number("STG", a.queue_number): a.draw_weight for a in apps}
    assert sorted(weights.values()) == [1, 1, 1, 3, 3, 3]
    order = draw.draw_order(record.seed, list(weights.items()))
    assert [a.draw_rank for a in sorted(apps, key=lambda a: order.index(public_number("STG", a.queue_number)))] \
        == [1, 2, 3, 4, 5, 6]
    assert verify_draw("stage", "STG").ok
    page = client.get("/services/stage/tirage").get_data(as_text=True)
    assert "Tickets" in page or "Billets" in page
    # A weight changed afterwards is caught when it changes the order (a weight of 3 whose first
    # ticket was already its smallest gives the same order as 1: look for one that does not).
    changed = next(a for a in apps if draw.draw_order(
        record.seed, [(pid, (4 - w) if pid == public_number("STG", a.queue_number) else w)
                      for pid, w in weights.items()]) != order)
    db.session.execute(update(Application).where(Application.id == changed.id)
                       .values(draw_weight=4 - changed.draw_weight))
    db.session.commit()
    assert not verify_draw("stage", "STG").ok


def test_weights_change_the_odds() -> None:
    """Over many seeds, an entry of weight 3 among one of weight 1 comes first 3 times in 4."""
    wins = sum(draw.draw_order(f"seed-{n}", [("A", 3), ("B", 1)])[0] == "A" for n in range(4000))
    # Binomial(4000, 0.75): mean 3000, sd 27.4; 5 sd either side.
    assert 2863 < wins < 3137


def test_the_allocation_log_shows_points_and_ranks(  # type: ignore[no-untyped-def]
        app, client, install, make_household, staff, login_as, frozen_clock) -> None:
    install(points_definition(capacity=1))
    families = [make_household(last_name="Loin", resident=False, quotient_familial=900),
                make_household(last_name="Ici", resident=True, quotient_familial=500)]
    for family in families:
        create_registrations(registration_input(family))
    frozen_clock(AFTER_DRAW)
    drain("stage")
    run_id = db.session.scalar(select(AllocationRun.id))
    login_as(staff("agent", "stage"))
    page = client.get(f"/gestion/stage/rapports/attribution/{run_id}").get_data(as_text=True)
    assert "Points de priorité, puis tirage au sort" in page and "Rang tiré au sort" in page
    lines = client.get(f"/gestion/stage/rapports/attribution/{run_id}.csv").get_data(as_text=True).splitlines()
    sep = ";" if ";" in lines[0] else ","
    header = lines[0].split(sep)
    points = header.index("Points")
    # Decided most points first: the resident (13) before the non-resident (0), who sent first.
    assert [int(line.split(sep)[points]) for line in lines[1:]] == [13, 0]


def test_staff_preview_a_trial_ranking_that_is_never_recorded(  # type: ignore[no-untyped-def]
        app, client, install, make_household, staff, login_as) -> None:
    install(points_definition(capacity=1))
    near = make_household(last_name="Ici", resident=True, quotient_familial=500)
    far = make_household(last_name="Loin", resident=False, quotient_familial=900)
    outcomes = [create_registrations(registration_input(f)) for f in (far, near)]
    secret = db.session.scalar(select(AllocationDraw.seed))
    login_as(staff("agent", "stage"))
    page = html.unescape(client.get("/gestion/stage/rapports/attribution/essai").get_data(as_text=True))
    assert "Ceci est un essai" in page and "2 demandes reçues jusqu'ici" in page
    ids = [public_number("STG", db.session.get(Application, o.application_id).queue_number) for o in outcomes]
    # Most points first: the resident (13 points) would get the place, the other would wait.
    assert page.index(ids[1]) < page.index(ids[0])
    assert "Place attribuée" in page and "Liste d'attente" in page
    # A trial seed, never the secret one; nothing ranked, decided or published.
    assert secret not in page
    db.session.rollback()
    assert db.session.scalar(select(AllocationDraw.drawn_at)) is None
    assert all(a.draw_rank is None and a.points is None and a.status == "pending"
               for a in db.session.scalars(select(Application)))
    assert db.session.scalar(select(db.func.count(Registration.id))) == 0
    log = client.get("/gestion/stage/rapports/attribution").get_data(as_text=True)
    assert 'data-link="allocation-trial"' in log


def test_the_explanation_of_each_rule(app) -> None:  # type: ignore[no-untyped-def]
    from flask_babel import force_locale

    from inscriptions.allocation.explain import Criterion as Met
    from inscriptions.allocation.explain import Explanation

    with app.test_request_context(), force_locale("fr"):
        drawn = Explanation(rule="draw", drawn_rank=4, drawn_of=30).sentences()
        weighted = Explanation(rule="draw", drawn_rank=4, drawn_of=30, weight=2).sentences()
        points = Explanation(rule="points", drawn_rank=2, drawn_of=9, points=10, criteria=[
            Met("Famille domiciliée à Villebelle", 10, True), Met("Parent seul", 4, False)]).sentences()
        late = Explanation(rule="points", after_ranking=True, ranking_at="14 septembre 2026 à 18:00").sentences()
        before = Explanation(rule="draw").sentences()
    assert drawn == ["Les places ont été attribuées par tirage au sort, dans l'ordre du tirage : votre "
                     "demande a été tirée au rang 4 sur 30."]
    assert weighted[-1] == "Au tirage, votre demande avait 2 billets."
    assert points == [
        "Les places ont été attribuées selon des points de priorité, en commençant par les demandes qui en ont "
        "le plus. Votre demande a 10 points.",
        "Famille domiciliée à Villebelle : critère rempli, 10 points",
        "Parent seul : critère non rempli (0 point)",
        "À points égaux, les places ont été attribuées dans l'ordre d'un tirage au sort : votre demande a été "
        "tirée au rang 2 sur 9.",
    ]
    assert late == ["Votre demande a été envoyée après le classement du 14 septembre 2026 à 18:00 : elle a été "
                    "traitée dans l'ordre d'arrivée des demandes."]
    assert before == []
