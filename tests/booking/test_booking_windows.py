"""Opening windows and priorities: who may register from when, checked when booking and shown."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from booking_helpers import count_registrations, sortie_definition, stage_definition, statuses, write_plugins
from flask_babel import gettext

from inscriptions.definitions.loader import read_definition
from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import Status
from inscriptions.registrations.cancel import cancel_registration
from inscriptions.registrations.create import RegistrationRefused
from inscriptions.registrations.windows import moment_text

KID = dt.date(2018, 4, 2)
# The tests' clock stands at 2026-09-15 10:00 in Paris.
OPENING = "2026-09-10T08:30:00"
LATER = "2026-09-24T08:30:00"
LATER_UTC = dt.datetime(2026, 9, 24, 6, 30, tzinfo=dt.UTC)
RESIDENTS_FIRST = [
    {"label": "Habitants de Villebelle", "opens_at": OPENING, "who": "residents"},
    {"label": "Tout le monde", "opens_at": LATER, "who": "everyone"},
]
ENROLLED_FIRST = [
    {"label": "Enfants déjà inscrits", "opens_at": OPENING, "who": "already_enrolled"},
    {"label": "Tout le monde", "opens_at": LATER, "who": "everyone"},
]


def opens_for(name: str, when: str = LATER) -> str:
    return gettext("Registration opens for %(name)s on %(when)s.", name=name,
                   when=moment_text(dt.datetime.fromisoformat(when)))


def windowed(windows: list[dict[str, Any]] = RESIDENTS_FIRST, **overrides: Any) -> dict[str, Any]:
    return stage_definition(opening=OPENING, priority_windows=windows, **overrides)


# -- checked when booking ---------------------------------------------------------------------------

def test_residents_first_then_everyone(app, make_household, install, book, frozen_clock) -> None:
    install(windowed())
    resident = make_household(children=[("Léa", KID)])
    outsider = make_household(last_name="Durand", children=[("Hugo", KID)], resident=False)
    assert book(resident).status == Status.ACCEPTED
    with pytest.raises(RegistrationRefused) as refused:
        book(outsider)
    assert refused.value.general == [opens_for("Hugo")]
    frozen_clock(LATER_UTC - dt.timedelta(minutes=1))
    with pytest.raises(RegistrationRefused):
        book(outsider)
    frozen_clock(LATER_UTC)  # 08:30 in Paris
    assert book(outsider).status == Status.ACCEPTED


def test_before_the_first_window_nobody_registers(app, make_household, install, book, frozen_clock) -> None:
    install(windowed())
    frozen_clock(dt.datetime(2026, 9, 10, 6, 29, tzinfo=dt.UTC))
    with pytest.raises(RegistrationRefused) as refused:
        book(make_household(children=[("Léa", KID)]))
    assert refused.value.general == [opens_for("Léa", OPENING)]


def test_already_enrolled_counts_any_earlier_version_and_a_later_cancellation(
    app, make_household, install, book
) -> None:
    household = make_household(children=[("Léa", KID), ("Hugo", KID)], resident=False)
    lea, _hugo = household.children
    first = book(household, children=[lea], session="s2")  # last term, before the windows existed
    cancel_registration(first.registration_ids[0], by_id=None)
    install(windowed(ENROLLED_FIRST))
    # Siblings: Hugo is not yet admitted, so neither is booked (all or nothing).
    with pytest.raises(RegistrationRefused) as refused:
        book(household)
    assert refused.value.general == [opens_for("Hugo")]
    assert statuses() == ["cancelled"]
    assert book(household, children=[lea]).status == Status.ACCEPTED


def test_enrolled_in_another_service_and_only_if_accepted(app, make_household, install, book) -> None:
    ancien = stage_definition(capacity=1, code="ancien", name="Ancien stage", reference_prefix="ANC")
    install(ancien, windowed(ENROLLED_FIRST, enrolled_in=["ancien"]))
    household = make_household(children=[("Léa", KID), ("Hugo", KID)])
    lea, hugo = household.children
    book(household, service="ancien", children=[lea])
    assert book(household, service="ancien", children=[hugo]).status == Status.WAITLISTED
    assert book(household, children=[lea]).status == Status.ACCEPTED
    # Waiting is not being enrolled.
    with pytest.raises(RegistrationRefused) as refused:
        book(household, children=[hugo])
    assert refused.value.general == [opens_for("Hugo")]


def test_nobody_admitted_by_any_window_is_told_so(app, make_household, install, book) -> None:
    install(windowed([RESIDENTS_FIRST[0]]))
    outsider = make_household(children=[("Hugo", KID)], resident=False)
    with pytest.raises(RegistrationRefused) as refused:
        book(outsider)
    assert refused.value.general == [gettext(
        "Registration for this service is not open to %(name)s (only to: %(who)s).",
        name="Hugo", who="Habitants de Villebelle")]
    assert count_registrations() == 0


def test_household_services_say_for_you(app, make_household, install, book) -> None:
    install(sortie_definition(opening=OPENING, priority_windows=RESIDENTS_FIRST))
    with pytest.raises(RegistrationRefused) as refused:
        book(make_household(resident=False), service="sortie")
    assert refused.value.general == [gettext("Registration opens for you on %(when)s.",
                                             when=moment_text(dt.datetime.fromisoformat(LATER)))]


def test_windows_follow_the_current_definition(app, make_household, install, book) -> None:
    # A form started under a version without windows is checked against today's dates.
    install(stage_definition(opening=OPENING))
    old_version = current_version(registry().get("stage")).id
    db.session.commit()
    install(windowed())
    assert current_version(registry().get("stage")).id != old_version
    outsider = make_household(children=[("Hugo", KID)], resident=False)
    with pytest.raises(RegistrationRefused) as refused:
        book(outsider, form_version_id=old_version)
    assert refused.value.general == [opens_for("Hugo")]


# -- validated with plain errors --------------------------------------------------------------------

@pytest.mark.parametrize("change, path, words", [
    ({"priority_windows": [{**RESIDENTS_FIRST[0], "opens_at": "2026-09-01T08:30:00"}]},
     "priority_windows[0].opens_at", "is before 'opening'"),
    ({"priority_windows": [RESIDENTS_FIRST[1]]}, "priority_windows", "the earliest window must open at 'opening'"),
    ({"priority_windows": [RESIDENTS_FIRST[0], {**RESIDENTS_FIRST[1], "who": "residents"}]},
     "priority_windows[1].who", "already has a window"),
    ({"priority_windows": [{**RESIDENTS_FIRST[0], "who": "staff"}]}, "priority_windows[0].who", "must be one of"),
    ({"enrolled_in": ["ancien"]}, "enrolled_in", "only used by a priority window for 'already_enrolled'"),
    ({"limits": {"per_household": 0}}, "limits.per_household", "1"),
    ({"waitlist_siblings": "split"}, "waitlist_siblings", "must be one of"),
    ({"waitlist_siblings": "parent_chooses", "sessions": []}, "waitlist_siblings", "services with sessions"),
])
def test_settings_are_checked(tmp_path: Path, change: dict[str, Any], path: str, words: str) -> None:
    data = {**stage_definition(opening=OPENING), **change}
    root = write_plugins(tmp_path / "plugins", data)
    defn, problems = read_definition(root / "stage" / "service.yaml")
    assert defn is None
    assert [p.path for p in problems] == [path], problems
    assert words in problems[0].message


def test_limits_per_booking_make_no_sense_for_a_household_service(tmp_path: Path) -> None:
    root = write_plugins(tmp_path / "plugins", sortie_definition(limits={"per_booking": 2}))
    _defn, problems = read_definition(root / "sortie" / "service.yaml")
    assert [(p.path, p.message) for p in problems] == [
        ("limits.per_booking", "a household service books the household alone")]


def test_valid_windows_are_accepted(tmp_path: Path) -> None:
    root = write_plugins(tmp_path / "plugins", windowed(ENROLLED_FIRST, enrolled_in=["cantine"],
                                                         limits={"per_household": 3, "per_booking": 2},
                                                         waitlist_siblings="parent_chooses"))
    defn, problems = read_definition(root / "stage" / "service.yaml")
    assert problems == []
    assert [w.who for w in defn.priority_windows] == ["already_enrolled", "everyone"]
    assert defn.limits.per_booking == 2


# -- shown on the portal ----------------------------------------------------------------------------

def test_the_portal_says_when_it_opens_for_this_family(app, client, make_household, login, install) -> None:
    install(windowed())
    later = moment_text(dt.datetime.fromisoformat(LATER))
    anonymous = client.get("/services/stage").get_data(as_text=True)
    # Everyone sees the schedule; the first window has opened.
    assert gettext("%(label)s: from %(when)s", label="Tout le monde", when=later) in anonymous
    assert 'href="/services/stage/inscription"' in anonymous

    login(make_household(children=[("Hugo", KID)], resident=False))
    for url in ("/services/stage", "/services/stage/inscription", "/"):
        html = client.get(url).get_data(as_text=True)
        assert gettext("Registration opens for you on %(when)s.", when=later) in html, url
    assert 'href="/services/stage/inscription"' not in client.get("/services/stage").get_data(as_text=True)
    refused = client.post("/services/stage/inscription", data={"session": "s1"})
    assert refused.status_code == 200  # no draft started


def test_the_portal_opens_for_a_resident(app, client, make_household, login, install) -> None:
    install(windowed())
    login(make_household(children=[("Léa", KID)]))
    html = client.get("/services/stage").get_data(as_text=True)
    assert 'href="/services/stage/inscription"' in html
    assert gettext("Registration opens for you on %(when)s.",
                   when=moment_text(dt.datetime.fromisoformat(LATER))) not in html


def test_a_child_not_yet_admitted_cannot_be_ticked(app, client, make_household, login, install, book) -> None:
    household = make_household(children=[("Léa", KID), ("Hugo", KID)], resident=False)
    lea, _hugo = household.children
    book(household, children=[lea], session="s2")
    install(windowed(ENROLLED_FIRST))
    login(household)
    html = client.get("/services/stage/inscription").get_data(as_text=True)
    assert opens_for("Hugo") in html  # the reason Hugo's box is disabled
    assert opens_for("Léa") not in html
