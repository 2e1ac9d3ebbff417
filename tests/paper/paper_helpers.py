"""Plain helpers for the paper tests: a definition using every field type, PDF reading."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import zxingcpp
from PIL import Image

from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.paper.layout import FormLayout

EVERY_TYPE: dict[str, Any] = {
    "code": "every",
    "name": "Toutes les questions",
    "reference_prefix": "TST",
    "audience": "child",
    "opening": "2026-06-01T08:30:00",
    "closing": "2027-06-30T23:59:00",
    "workflow": "automatic",
    "retention_months": 12,
    "pricing": {"kind": "free"},
    "sessions": [
        {"code": "s1", "label": "Mercredi matin", "starts_at": "2027-01-06T09:00:00", "capacity": 10},
        {"code": "s2", "label": "Mercredi après-midi", "starts_at": "2027-01-06T14:00:00", "capacity": 10},
    ],
    "form": {"pages": [
        {"title": "Pour l'enfant", "fields": [
            {"name": "one", "type": "single_choice", "label": "Un choix", "required": True,
             "choices": [{"value": "a", "label": "Œuf"}, {"value": "b", "label": "Bœuf"},
                         {"value": "c", "label": "Crème brûlée"}]},
            {"name": "many", "type": "multiple_choice", "label": "Plusieurs choix",
             "choices": [{"value": "x", "label": "Ski"}, {"value": "y", "label": "Piscine"}]},
            {"name": "days", "type": "weekdays", "label": "Jours", "days": ["mon", "wed", "fri"]},
            {"name": "care", "type": "yes_no", "label": "Attention particulière ?", "sensitive": True},
            {"name": "care_details", "type": "long_text", "label": "Laquelle ?", "max_length": 600,
             "show_if": {"field": "care", "equals": True}, "sensitive": True},
            {"name": "nickname", "type": "text", "label": "Surnom", "max_length": 20},
            {"name": "birth", "type": "date", "label": "Une date"},
            {"name": "seats", "type": "integer", "label": "Combien ?", "min": 0, "max": 12},
            {"name": "certificate", "type": "file", "label": "Certificat"},
        ]},
        {"title": "Pour la famille", "each_participant": False, "fields": [
            {"name": "mail", "type": "email", "label": "Courriel du second parent"},
            {"name": "phone", "type": "phone_fr", "label": "Téléphone du travail"},
            {"name": "zip", "type": "postcode_fr", "label": "Code postal du travail"},
            {"name": "contacts", "type": "group", "label": "Contacts", "max_items": 2, "fields": [
                {"name": "name", "type": "text", "label": "Nom", "max_length": 80},
                {"name": "phone", "type": "phone_fr", "label": "Téléphone"},
            ]},
            {"name": "rules", "type": "consent", "label": "J'accepte le règlement.", "required": True},
        ]},
    ]},
}


def every_type_definition(**changes: Any) -> ServiceDefinition:
    return ServiceDefinition.model_validate({**EVERY_TYPE, **changes})


def overlaps(a: tuple[float, ...], b: tuple[float, ...], tolerance: float = 0.01) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return (ax < bx + bw - tolerance and bx < ax + aw - tolerance
            and ay < by + bh - tolerance and by < ay + ah - tolerance)


def page_texts(pdf_path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def page_count(pdf_path: Path) -> int:
    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        return len(pdf)
    finally:
        pdf.close()


def rasterise(pdf_path: Path, index: int, dpi: int = 200) -> Image.Image:
    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        return pdf[index].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    finally:
        pdf.close()


def crop_mm(image: Image.Image, rect: tuple[float, float, float, float], dpi: int = 200,
            margin: float = 0.0) -> Image.Image:
    scale = dpi / 25.4
    x, y, w, h = rect
    return image.crop((round((x - margin) * scale), round((y - margin) * scale),
                       round((x + w + margin) * scale), round((y + h + margin) * scale)))


def read_qr(image: Image.Image, layout: FormLayout, dpi: int = 200) -> list[str]:
    """Decode the QR code in its layout region (symbol plus quiet zone)."""
    quiet = layout.qr.quiet_zone * layout.qr.module_mm
    region = crop_mm(image, layout.qr.rect, dpi, margin=quiet)
    return [r.text for r in zxingcpp.read_barcodes(region)]


def ink(image: Image.Image, rect: tuple[float, float, float, float], dpi: int = 200, inset: float = 0.8) -> float:
    """Share of dark pixels inside a box (inset from its outline)."""
    x, y, w, h = rect
    crop = np.asarray(crop_mm(image, (x + inset, y + inset, w - 2 * inset, h - 2 * inset), dpi))
    return float((crop < 128).mean())


def born(years_before_2026: int) -> dt.date:
    return dt.date(2026 - years_before_2026, 3, 1)
