"""Plain helpers for the scan reader tests: versions, printing, marking, scanning, reading."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.extensions import db
from inscriptions.models import FormVersion
from inscriptions.paper.layout import FormLayout, layout_for
from inscriptions.paper.reader import DatabaseLookup, PageReading, read_page, read_upload
from inscriptions.paper.reader import simulate as sim

CLEAN = sim.ScanSettings(dpi=200, jpeg=None)


def make_version(definition: Mapping[str, Any], number: int) -> FormVersion:
    """A stored form version of ``definition`` (validated), its layout frozen."""
    defn = ServiceDefinition.model_validate(dict(definition))
    version = FormVersion(service_code=defn.code, version=number, content_hash=f"{defn.code}-{number}",
                          definition=defn.model_dump(mode="json", by_alias=True))
    db.session.add(version)
    db.session.commit()
    layout_for(version)
    db.session.commit()
    return version


def scan_document(version: FormVersion, answers: Mapping[str, Any], *, seed: int = 0,
                  settings: sim.ScanSettings = CLEAN, style: str = "cross", smudges: float = 0.0,
                  corrections: float = 0.0) -> list[sim.SimPage]:
    """One blank document printed, ticked as ``answers`` say (all in one style) and scanned."""
    rng = np.random.default_rng(seed)
    pages, _answers = sim.filled_documents(version, 1, rng, answers=[dict(answers)], settings=lambda _r: settings,
                                           styles={style: 1.0}, smudges=smudges, corrections=corrections)
    return pages


def read_all(pages: Sequence[sim.SimPage], lookup: DatabaseLookup | None = None) -> list[PageReading]:
    """Each scanned file through ``read_upload`` and ``read_page``, numbered as one stack."""
    lookup = lookup or DatabaseLookup()
    readings = []
    for n, page in enumerate(pages):
        (image,) = read_upload(page.data, page.filename, first_index=n)
        readings.append(read_page(image, lookup=lookup))
    return readings


def wrong_boxes(page: sim.SimPage, reading: PageReading) -> list[tuple[str, str, bool, float]]:
    """Boxes read ticked/empty against the truth."""
    wrong = []
    for box in reading.boxes:
        truth = page.truth[box.id]
        if box.state != ("ticked" if truth else "empty"):
            wrong.append((box.id, box.state, truth, box.fill))
    return wrong


def layout_of(version: FormVersion) -> FormLayout:
    return layout_for(version)
