"""The one validation function: field types, conditions, channels, groups and service hooks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import minimal_definition, read_definition

from inscriptions.definitions.registry import registry
from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.forms.validation import is_required, is_visible, validate_answers

pytestmark = pytest.mark.usefixtures("app")  # messages are translated: an app context is needed

FIELDS: list[dict[str, Any]] = [
    {"name": "nickname", "type": "text", "label": "Surnom", "max_length": 10},
    {"name": "notes", "type": "long_text", "label": "Notes", "max_length": 20},
    {"name": "email", "type": "email", "label": "Courriel"},
    {"name": "phone", "type": "phone_fr", "label": "Téléphone"},
    {"name": "postcode", "type": "postcode_fr", "label": "Code postal"},
    {"name": "day", "type": "date", "label": "Date", "min": "2026-01-01", "max": "2027-12-31"},
    {"name": "birth", "type": "date", "label": "Naissance"},
    {"name": "seats", "type": "integer", "label": "Places", "min": 0, "max": 6},
    {"name": "colour", "type": "single_choice", "label": "Couleur",
     "choices": [{"value": "red", "label": "Rouge"}, {"value": "blue", "label": "Bleu"}]},
    {"name": "sports", "type": "multiple_choice", "label": "Sports", "max_selected": 2,
     "choices": [{"value": "judo", "label": "Judo"}, {"value": "foot", "label": "Foot"},
                 {"value": "tennis", "label": "Tennis"}]},
    {"name": "days", "type": "weekdays", "label": "Jours", "days": ["mon", "tue", "thu", "fri"]},
    {"name": "allergy", "type": "yes_no", "label": "Allergie"},
    {"name": "details", "type": "text", "label": "Laquelle", "required": "online",
     "show_if": {"field": "allergy", "equals": True}},
    {"name": "tennis_level", "type": "single_choice", "label": "Niveau de tennis", "required": True,
     "show_if": {"field": "sports", "contains": "tennis"},
     "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
    {"name": "shade", "type": "text", "label": "Nuance", "show_if": {"field": "colour", "in": ["red"]}},
    {"name": "photos", "type": "consent", "label": "Photos"},
    {"name": "rules", "type": "consent", "label": "Règlement", "required": True},
    {"name": "contacts", "type": "group", "label": "Contacts", "max_items": 2, "fields": [
        {"name": "name", "type": "text", "label": "Nom", "required": True},
        {"name": "phone", "type": "phone_fr", "label": "Téléphone", "required": "online"},
    ]},
]


@pytest.fixture
def defn() -> ServiceDefinition:
    return ServiceDefinition.model_validate(
        minimal_definition(form={"pages": [{"title": "Tout", "fields": FIELDS}]})
    )


def check(defn: ServiceDefinition, answers: dict[str, Any], channel: str = "web") -> Any:
    return validate_answers(defn, {"rules": "on", **answers}, channel=channel)


@pytest.mark.parametrize(("field", "raw", "clean"), [
    ("nickname", "  Lou  ", "Lou"),
    ("notes", "ligne 1\nligne 2", "ligne 1\nligne 2"),
    ("email", "Parent@Example.FR", "Parent@example.fr"),
    ("phone", "0612345678", "06 12 34 56 78"),
    ("phone", "+33 6 12 34 56 78", "06 12 34 56 78"),
    ("phone", "01.23.45.67.89", "01 23 45 67 89"),
    ("postcode", "75011", "75011"),
    ("postcode", "20 000", "20000"),
    ("postcode", "97400", "97400"),
    ("postcode", "99990", "99990"),  # the town's own postcode (town.yaml), outside the real range
    ("day", "31/12/2026", "2026-12-31"),
    ("day", "2026-03-01", "2026-03-01"),
    ("day", "01/02/27", "2027-02-01"),
    ("seats", "0", 0),
    ("seats", " 6 ", 6),
    ("seats", 3, 3),
    ("colour", "blue", "blue"),
    ("sports", ["foot", "judo"], ["judo", "foot"]),  # kept in the definition's order
    ("sports", "judo,foot", ["judo", "foot"]),
    ("days", ["fri", "mon"], ["mon", "fri"]),
    ("allergy", "non", False),
    ("allergy", "oui", True),
    ("allergy", False, False),
    ("photos", "on", True),
])
def test_good_values_are_cleaned(defn: ServiceDefinition, field: str, raw: Any, clean: Any) -> None:
    # Counter channel: "allergy: oui" alone is complete there (the details are asked online only).
    result = check(defn, {field: raw}, channel="counter")
    assert result.errors == {}
    assert result.values[field] == clean


@pytest.mark.parametrize(("field", "raw", "message"), [
    ("nickname", "x" * 11, "10 caractères au maximum."),
    ("notes", "x" * 21, "20 caractères au maximum."),
    ("email", "parent@", "Adresse e-mail non valide"),
    ("phone", "06 12 34 56 7", "Numéro de téléphone non valide"),
    ("phone", "12", "Numéro de téléphone non valide"),
    ("postcode", "7501", "Code postal non valide"),
    ("postcode", "00100", "Code postal non valide"),
    ("postcode", "99991", "Code postal non valide"),
    ("day", "31/02/2026", "Date non valide"),
    ("day", "12/31/2026", "Date non valide"),
    ("day", "2025-12-31", "en dehors des dates possibles"),
    ("day", "01/01/2028", "en dehors des dates possibles"),
    ("birth", "14/03/0019", "Date non valide"),  # a typing slip, not the year 19
    ("seats", "-1", "d'au moins 0"),
    ("seats", "7", "de 6 au maximum"),
    ("seats", "2.5", "nombre entier"),
    ("seats", "deux", "nombre entier"),
    ("seats", True, "nombre entier"),
    ("colour", "green", "Choix non valide."),
    ("sports", ["judo", "foot", "tennis"], "au maximum 2 réponse(s)"),
    ("sports", ["boxe"], "Choix non valide."),
    ("days", ["wed"], "Choix non valide."),
    ("allergy", "peut-être", "Choisissez oui ou non."),
])
def test_bad_values_are_refused(defn: ServiceDefinition, field: str, raw: Any, message: str) -> None:
    result = check(defn, {field: raw})
    assert not result.ok
    assert message in str(result.errors[field])
    assert field not in result.values


def test_empty_optional_fields_are_not_stored(defn: ServiceDefinition) -> None:
    result = check(defn, {"nickname": "  ", "sports": [], "photos": "", "seats": ""})
    assert result.ok
    assert result.values == {"rules": True}


def test_consent_required_must_be_ticked(defn: ServiceDefinition) -> None:
    result = validate_answers(defn, {}, channel="web")
    assert str(result.errors["rules"]) == "Cochez cette case pour continuer."


def test_hidden_fields_are_dropped_and_never_stored(defn: ServiceDefinition) -> None:
    result = check(defn, {"allergy": "non", "details": "arachides", "colour": "blue", "shade": "clair",
                          "sports": ["judo"], "tennis_level": "zzz"})
    assert result.ok, result.errors
    assert "details" not in result.values
    assert "shade" not in result.values
    # A hidden field is not even checked: its invalid value causes no error.
    assert "tennis_level" not in result.values


def test_visible_fields_follow_their_condition(defn: ServiceDefinition) -> None:
    result = check(defn, {"allergy": "oui", "details": "arachides", "colour": "red", "shade": "clair",
                          "sports": ["tennis"], "tennis_level": "b"})
    assert result.ok, result.errors
    assert result.values["details"] == "arachides"
    assert result.values["shade"] == "clair"
    assert result.values["tennis_level"] == "b"


def test_required_only_when_visible(defn: ServiceDefinition) -> None:
    assert check(defn, {"sports": ["judo"]}).ok
    result = check(defn, {"sports": ["tennis"]})
    assert str(result.errors["tennis_level"]) == "Cette réponse est obligatoire."


def test_required_online_is_optional_for_agents(defn: ServiceDefinition) -> None:
    # "required: online": a parent must answer; an agent keying a paper form may leave it empty.
    assert "details" in check(defn, {"allergy": "oui"}, channel="web").errors
    assert "details" in check(defn, {"allergy": "oui"}, channel="api").errors
    for channel in ("counter", "paper", "phone", "mail"):
        assert check(defn, {"allergy": "oui"}, channel=channel).ok
    # "required: always" stays required on every channel.
    assert "rules" in validate_answers(defn, {}, channel="counter").errors


def test_is_required_and_is_visible(defn: ServiceDefinition) -> None:
    details = defn.field("details")
    assert is_required(details, "web") and not is_required(details, "paper")
    assert is_required(defn.field("rules"), "paper")
    assert not is_required(defn.field("nickname"), "web")
    assert is_visible(details, {"allergy": True}) and not is_visible(details, {"allergy": False})
    assert not is_visible(details, {})
    assert is_visible(defn.field("nickname"), {})


def test_known_answers_drive_conditions_across_pages(defn: ServiceDefinition) -> None:
    # The web form validates page by page: earlier clean answers are given as ``known``.
    result = validate_answers(defn, {"details": "lait"}, channel="web", pages=[0], known={"allergy": True})
    assert result.values.get("details") == "lait"


def test_group_rows(defn: ServiceDefinition) -> None:
    rows = {"0": {"name": "Mamie", "phone": "0611111111"}, "1": {"name": "", "phone": ""},
            "2": {"name": "Tonton", "phone": "01 23 45 67 89"}}
    result = check(defn, {"contacts": rows})
    assert result.ok, result.errors
    assert result.values["contacts"] == [
        {"name": "Mamie", "phone": "06 11 11 11 11"},
        {"name": "Tonton", "phone": "01 23 45 67 89"},
    ]


def test_group_too_many_rows(defn: ServiceDefinition) -> None:
    rows = [{"name": n, "phone": "0611111111"} for n in ("A", "B", "C")]
    result = check(defn, {"contacts": rows})
    assert str(result.errors["contacts"]) == "2 lignes au maximum."


def test_group_required_sub_fields(defn: ServiceDefinition) -> None:
    result = check(defn, {"contacts": [{"name": "", "phone": "0611111111"}, {"name": "B", "phone": "12"}]})
    assert str(result.errors["contacts.0.name"]) == "Cette réponse est obligatoire."
    assert "Numéro de téléphone non valide" in str(result.errors["contacts.1.phone"])
    # The phone is "required: online": an agent may key a row without it.
    assert check(defn, {"contacts": [{"name": "B"}]}, channel="paper").ok
    assert "contacts.0.phone" in check(defn, {"contacts": [{"name": "B"}]}, channel="web").errors


def test_group_min_items(defn: ServiceDefinition) -> None:
    fields = [{"name": "people", "type": "group", "label": "P", "min_items": 1, "max_items": 3,
               "fields": [{"name": "name", "type": "text", "label": "Nom", "required": True}]}]
    small = ServiceDefinition.model_validate(minimal_definition(form={"pages": [{"title": "T", "fields": fields}]}))
    assert "people" in validate_answers(small, {}, channel="paper").errors
    assert validate_answers(small, {"people": [{"name": "A"}]}, channel="paper").ok


def test_canteen_pai_details_required_online_only() -> None:
    defn = ServiceDefinition.model_validate(read_definition("cantine"))
    answers = {"days": ["mon"], "diet": "standard", "allergy": "oui", "rules": "on"}
    assert "pai_details" in validate_answers(defn, answers, channel="web").errors
    assert validate_answers(defn, answers, channel="counter").ok


# -- the cinema's Python rule (hooks.py) -------------------------------------------------------

@pytest.mark.parametrize(("children", "adults", "ok"), [
    (0, 0, False), (4, 3, False), (6, 1, False), (1, 1, True), (0, 1, True), (2, 0, True), (3, 3, True),
])
def test_cinema_seat_rule(children: int, adults: int, ok: bool) -> None:
    service = registry().get("cinema")
    answers = {"child_seats": str(children), "adult_seats": str(adults), "snack_allergy": "non"}
    result = validate_answers(service.definition, answers, channel="web", hooks=service.hooks)
    assert result.ok is ok, result.errors
    if not ok:
        assert set(result.errors) == {"child_seats"}
        assert "place" in result.errors["child_seats"]  # a French sentence for the family


def test_cinema_rule_waits_for_the_seat_counts() -> None:
    # Checked page by page, the rule has nothing to say before the seats are known.
    service = registry().get("cinema")
    call = service.hooks.hook.validate_answers
    assert call(service=service.definition, answers={"snack_allergy": False}, channel="web") == [{}]
    assert call(service=service.definition, answers={"child_seats": 0, "adult_seats": 0}, channel="web") != [{}]


def test_hook_errors_only_run_on_clean_answers() -> None:
    service = registry().get("cinema")
    result = validate_answers(service.definition, {"child_seats": "9", "adult_seats": "9"}, channel="web",
                              hooks=service.hooks)
    assert "de 6 au maximum" in str(result.errors["child_seats"])
    assert "de 6 au maximum" in str(result.errors["adult_seats"])


def test_definition_survives_its_json_copy(defn: ServiceDefinition) -> None:
    # Form versions store the definition as JSON ("in" is an alias, dates and decimals are strings).
    copy = ServiceDefinition.model_validate_json(json.dumps(defn.model_dump(mode="json", by_alias=True)))
    assert copy == defn
    assert copy.field("shade").show_if.in_ == ["red"]


FILE_FIELD = {"name": "certificate", "type": "file", "label": "Certificat", "accept": ["pdf", "png"],
              "max_size_mb": 2}
UPLOADS = {"tok-pdf": ("pdf", 1024 * 1024), "tok-jpeg": ("jpeg", 1000), "tok-big": ("pdf", 3 * 1024 * 1024)}


@pytest.mark.parametrize(("token", "error"), [
    ("tok-pdf", None),
    ("tok-unknown", "Fichier introuvable"),
    ("tok-jpeg", "Ce type de fichier n'est pas accepté."),
    ("tok-big", "Fichier trop lourd (2 Mo au maximum)."),
])
def test_file_answers_point_to_uploads(token: str, error: str | None) -> None:
    form = {"pages": [{"title": "T", "fields": [FILE_FIELD]}]}
    defn = ServiceDefinition.model_validate(minimal_definition(form=form))
    result = validate_answers(defn, {"certificate": token}, channel="web", files=UPLOADS.get)
    if error is None:
        assert result.values == {"certificate": token}
    else:
        assert error in str(result.errors["certificate"])
    # Without a way to look files up, no token is trusted.
    assert "certificate" in validate_answers(defn, {"certificate": token}, channel="web").errors


def test_hooks_get_read_only_answers(plugins_dir: Callable[..., Path], use_plugins: Callable[[Path], None]) -> None:
    hooks = '''
from inscriptions.plugin_api import hookimpl

@hookimpl
def validate_answers(service, answers, channel):
    try:
        answers["level"] = "b"
    except TypeError:
        return {}
    return {"level": "answers could be changed"}
'''
    use_plugins(plugins_dir({"atelier": minimal_definition()}, hooks={"atelier": hooks}))
    service = registry().get("atelier")
    result = validate_answers(service.definition, {"level": "a"}, channel="web", hooks=service.hooks)
    assert result.ok, result.errors
    assert result.values == {"level": "a"}
