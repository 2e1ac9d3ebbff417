"""A definition's fingerprint decides when a new form version is recorded."""

from __future__ import annotations

from engine_helpers import minimal_definition

from inscriptions.definitions.loader import definition_hash
from inscriptions.definitions.schema import DEFAULT_RETENTION_MONTHS, ServiceDefinition


def test_settings_at_their_default_do_not_change_the_fingerprint() -> None:
    """Spelling out a default (or the engine gaining a new optional setting) is not a new form."""
    raw = minimal_definition()
    del raw["retention_months"]
    implicit = ServiceDefinition.model_validate(raw)
    explicit = ServiceDefinition.model_validate({**raw, "retention_months": DEFAULT_RETENTION_MONTHS})
    assert definition_hash(implicit) == definition_hash(explicit)


def test_a_real_change_changes_the_fingerprint() -> None:
    base = ServiceDefinition.model_validate(minimal_definition())
    longer = ServiceDefinition.model_validate(
        minimal_definition(retention_months=DEFAULT_RETENTION_MONTHS + 12)
    )
    renamed = ServiceDefinition.model_validate(minimal_definition(name="Atelier du mercredi"))
    assert len({definition_hash(base), definition_hash(longer), definition_hash(renamed)}) == 3
