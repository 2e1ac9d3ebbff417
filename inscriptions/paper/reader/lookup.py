"""From a QR payload to the printed document and the layout it was printed with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import FormVersion
from inscriptions.paper.layout import FormLayout, stored_layout
from inscriptions.paper.tokens import PaperCodeError, parse_payload


@dataclass(frozen=True)
class PageTarget:
    """What a page's QR code names: document (token), page, and the frozen layout to read it with."""

    token: str
    page: int
    total: int
    form_version_id: int
    service_code: str
    version: int
    layout: FormLayout
    household_id: int | None = None
    child_id: int | None = None
    # False when the service's definition has changed since this form was printed.
    current: bool = True


Lookup = Callable[[str], PageTarget]


class DatabaseLookup:
    """The default lookup: :func:`~inscriptions.paper.tokens.parse_payload`, then the stored layout.

    Raises :class:`~inscriptions.paper.tokens.PaperCodeError` (reasons ``malformed``, ``foreign``,
    ``forged``, ``unknown``, ``page``, ``no_layout``). Layouts are cached for the object's life:
    build one per upload (needs an application context).
    """

    def __init__(self) -> None:
        self._layouts: dict[int, FormLayout | None] = {}
        self._versions: dict[int, tuple[str, int, bool]] = {}

    def __call__(self, payload: str) -> PageTarget:
        ref = parse_payload(payload)
        row = ref.token
        version_id = row.form_version_id
        if version_id not in self._layouts:
            self._layouts[version_id] = stored_layout(version_id)
        layout = self._layouts[version_id]
        if layout is None or layout.page_count != ref.total:
            raise PaperCodeError("no_layout", _("The page layout of this printed form is missing: it cannot be read "
                                                "automatically."))
        service_code, number, current = self._version(version_id)
        return PageTarget(row.token, ref.page, ref.total, version_id, service_code, number, layout,
                          row.household_id, row.child_id, current)

    def _version(self, version_id: int) -> tuple[str, int, bool]:
        if version_id not in self._versions:
            from inscriptions.definitions.registry import registry

            version = db.session.scalar(select(FormVersion).filter_by(id=version_id))
            if version is None:  # pragma: no cover - the foreign key forbids it
                raise PaperCodeError("unknown", _("No printed form with this code exists here."))
            service = registry().get(version.service_code)
            current = service is not None and service.content_hash == version.content_hash
            self._versions[version_id] = (version.service_code, version.version, current)
        return self._versions[version_id]
