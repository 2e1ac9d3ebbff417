"""Read-only views of households and participants, as rules and the plugin hooks see them."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import Child, Guardian, Household, Upload
from inscriptions.plugin_api import HouseholdView, ParticipantView


def household_view(household: Household) -> HouseholdView:
    town = current_app.extensions["inscriptions.town"]
    return HouseholdView(
        id=household.id,
        quotient_familial=household.quotient_familial,
        is_resident=town.is_resident(household.city, household.postcode),
        city=household.city,
        postcode=household.postcode,
        children_count=len(household.children),
    )


def child_view(child: Child) -> ParticipantView:
    return ParticipantView(
        kind="child", id=child.id, first_name=child.first_name, last_name=child.last_name,
        birth_date=child.birth_date, school=child.school, class_name=child.class_name,
    )


def adult_view(guardian: Guardian) -> ParticipantView:
    return ParticipantView(
        kind="adult", id=guardian.id, first_name=guardian.first_name,
        last_name=guardian.last_name, birth_date=guardian.birth_date,
    )


def file_lookup(household_id: int):  # type: ignore[no-untyped-def]
    """Answers may only point to files this household uploaded."""

    def lookup(token: str) -> tuple[str, int] | None:
        upload = db.session.scalar(select(Upload).filter_by(token=token, household_id=household_id))
        if upload is None:
            return None
        return upload.content_type.rsplit("/", 1)[-1], upload.size

    return lookup
