"""Paper twin benchmark (not a test): how fast forms are generated (and, later, read).

Run: ``.venv/bin/python bench/paper.py [--households 500]``. It builds a temporary SQLite database,
creates the households, prints one prefilled canteen form per child with the application
(``render_batch``: database reads, print tokens, prefill, PDF) and draws the same primitives with
raw ReportLab (same boxes, texts, QR path, prefilled strings; no application code) in the same
run. The last line printed is one JSON object with at least ``pages_per_s``,
``baseline_pages_per_s`` and ``ratio`` (target: ratio >= 0.7).

The reading half (:func:`reading_figures`, ``--scan-pages 200``) prints a synthetic scan set
through the same application, fills and scans it (``inscriptions.paper.reader.simulate``) and
reads it back: ``qr_decode_rate``, ``checkbox_accuracy``, ``wrong_auto_accepted``,
``review_rate``, ``read_pages_per_s`` (targets: 100%, >= 99.5%, 0, >= 5 pages/s).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSCRIPTIONS_SECRET_KEY", "bench-secret-key")

import segno  # noqa: E402
from flask import Flask  # noqa: E402
from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.pdfgen.canvas import Canvas  # noqa: E402

SERVICE = "cantine"
MM = 72 / 25.4


def setup_app(workdir: Path) -> Flask:
    """An application on a fresh migrated SQLite database in ``workdir``."""
    from flask_migrate import upgrade

    from inscriptions import create_app
    from inscriptions.extensions import db

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "UPLOAD_DIR": workdir / "uploads",
        "MAIL_BACKEND": "locmem",
    })
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.session.remove()
    return app


def create_households(count: int) -> list[int]:
    """``count`` households of two guardians and one canteen-age child each (no accounts)."""
    from inscriptions.extensions import db
    from inscriptions.models import Child, Guardian, Household

    first_names = ["Léa", "Hugo", "Zoé", "Noé", "Inès", "Jules", "Chloé", "Louis", "Maëlys", "Théo"]
    last_names = ["Martin", "Lefèvre", "Dubois", "Moreau", "Laurent", "Girard", "Bonnet", "François"]
    schools = ["École Jules-Ferry", "École Louise-Michel", "École du Centre"]
    rows = []
    for n in range(count):
        last = last_names[n % len(last_names)]
        household = Household(address_line1=f"{n + 1} rue des Écoles", postcode="99990", city="Villebelle",
                              quotient_familial=300 + n % 1200)
        household.guardians.append(Guardian(first_name="Camille", last_name=last, phone=f"06{n:08d}"))
        household.guardians.append(Guardian(first_name="Dominique", last_name=last))
        household.children.append(Child(first_name=first_names[n % len(first_names)], last_name=last,
                                        birth_date=dt.date(2016 + n % 6, 1 + n % 12, 1 + n % 28),
                                        school=schools[n % 3], class_name="CE1"))
        rows.append(household)
    db.session.add_all(rows)
    db.session.commit()
    return [h.id for h in rows]


def generation_figures(app: Flask, households: int, workdir: Path, repeat: int = 2) -> dict[str, Any]:
    """Pages per second of the application's mass printing, and of raw ReportLab drawing the same."""
    from inscriptions.definitions.registry import current_version, registry
    from inscriptions.extensions import db
    from inscriptions.paper.layout import layout_for
    from inscriptions.paper.render import render_batch

    with app.app_context():
        ids = create_households(households)
        version = current_version(registry().get(SERVICE))
        layout = layout_for(version)
        db.session.commit()
        sample = _sample_prefill(layout, ids[0])
        town = app.extensions["inscriptions.town"]
        documents = len(ids)
        out = workdir / "forms.pdf"
        app_runs, baseline_runs = [], []
        for _run in range(repeat):
            started = time.perf_counter()
            result = render_batch(SERVICE, ids, out)
            app_runs.append(result.pages / (time.perf_counter() - started))
            started = time.perf_counter()
            base_pages = baseline(layout.to_json(), town, sample, documents, workdir / "baseline.pdf")
            baseline_runs.append(base_pages / (time.perf_counter() - started))
        size = out.stat().st_size
    pages_per_s = max(app_runs)
    baseline_pages_per_s = max(baseline_runs)
    print(f"generation: {result.documents} documents, {result.pages} pages, {size / 1e6:.1f} MB PDF")
    print(f"  application: {', '.join(f'{r:.0f}' for r in app_runs)} pages/s")
    print(f"  raw ReportLab baseline: {', '.join(f'{r:.0f}' for r in baseline_runs)} pages/s")
    return {
        "households": households,
        "documents": result.documents,
        "pages": result.pages,
        "pdf_bytes": size,
        "pages_per_s": round(pages_per_s, 1),
        "baseline_pages_per_s": round(baseline_pages_per_s, 1),
        "ratio": round(pages_per_s / baseline_pages_per_s, 3),
    }


def _sample_prefill(layout: Any, household_id: int) -> list[tuple[int, float, float, str]]:
    """(page, x, y, text) of one household's prefilled values: the baseline prints them on every copy."""
    from inscriptions.extensions import db
    from inscriptions.models import Household
    from inscriptions.paper.render import comb_characters, prefill_values

    household = db.session.get(Household, household_id)
    values = prefill_values(layout, household, household.children[0])
    found = []
    for page, box in layout.boxes():
        value = values.get(box.field)
        if value in (None, ""):
            continue
        if box.kind == "comb":
            for char, (x, y, w, h) in zip(comb_characters(box.format, value, len(box.cells)), box.cells,
                                          strict=False):
                found.append((page, x + w / 2, y + h - 2.0, char))
        elif box.kind == "text":
            found.append((page, box.rect[0] + 1.5, box.rect[1] + box.rect[3] - 2.2, str(value)))
    return found


def baseline(layout: dict[str, Any], town: Any, prefill: list[tuple[int, float, float, str]], documents: int,
             out: Path) -> int:
    """Raw ReportLab, same technique as the application: each page's static primitives (marks,
    header, footer, shapes, boxes, texts) in one form XObject, then per page the QR path (segno,
    module units), the human-readable code and the prefilled strings. Straight from the JSON."""
    fonts = {"regular": "Helvetica", "bold": "Helvetica-Bold", "italic": "Helvetica-Oblique"}
    colours = {"primary": town.colours.primary, "primary_text": town.colours.primary_text,
               "accent": town.colours.accent}

    def rgb(value: str) -> tuple[float, float, float]:
        value = colours.get(value, value)
        return int(value[1:3], 16) / 255, int(value[3:5], 16) / 255, int(value[5:7], 16) / 255

    h = 297.0
    canvas = Canvas(str(out), pagesize=A4, pageCompression=1)
    qr = layout["qr"]
    total = len(layout["pages"])
    footer = [f"{town.contact.name} · {town.contact.address}", town.legal_notice[:150], town.legal_notice[150:300]]
    for page in layout["pages"]:
        canvas.beginForm(f"page{page['number']}")
        for x, y, w, hh in layout["marks"]:
            canvas.setFillColorRGB(0, 0, 0)
            canvas.rect(x * MM, (h - y - hh) * MM, w * MM, hh * MM, stroke=0, fill=1)
        canvas.setFont("Helvetica-Bold", 14)
        canvas.setFillColorRGB(*rgb("primary"))
        canvas.drawString(40 * MM, (h - 18) * MM, town.name)
        canvas.setFillColorRGB(0.2, 0.2, 0.2)
        for n, line in enumerate(footer):
            canvas.setFont("Helvetica", 7)
            canvas.drawString(18 * MM, (h - 277 - 3 * n) * MM, line)
        for shape in page["shapes"]:
            x1, y1, x2, y2 = shape["coords"]
            canvas.setLineWidth(shape["width"])
            if shape["stroke"]:
                canvas.setStrokeColorRGB(*rgb(shape["stroke"]))
            if shape["kind"] == "rect":
                if shape["fill"]:
                    canvas.setFillColorRGB(*rgb(shape["fill"]))
                canvas.rect(x1 * MM, (h - y1 - y2) * MM, x2 * MM, y2 * MM, stroke=1 if shape["stroke"] else 0,
                            fill=1 if shape["fill"] else 0)
            else:
                canvas.line(x1 * MM, (h - y1) * MM, x2 * MM, (h - y2) * MM)
        canvas.setStrokeColorRGB(0, 0, 0)
        for box in page["boxes"]:
            canvas.setLineWidth(1.0 if box["kind"] == "checkbox" else 0.75)
            for x, y, w, hh in box.get("cells") or [box["rect"]]:
                canvas.rect(x * MM, (h - y - hh) * MM, w * MM, hh * MM, stroke=1, fill=0)
            if box["kind"] == "text" and (box.get("lines") or 1) > 1:
                x, y, w, hh = box["rect"]
                canvas.setStrokeColorRGB(0.78, 0.78, 0.78)
                for n in range(1, box["lines"]):
                    yy = y + n * hh / box["lines"]
                    canvas.line((x + 1.5) * MM, (h - yy) * MM, (x + w - 1.5) * MM, (h - yy) * MM)
                canvas.setStrokeColorRGB(0, 0, 0)
        for text in page["texts"]:
            canvas.setFont(fonts[text["style"]], text["size"])
            canvas.setFillColorRGB(*rgb(text["colour"]))
            draw = {"left": canvas.drawString, "right": canvas.drawRightString,
                    "centre": canvas.drawCentredString}[text["align"]]
            draw(text["x"] * MM, (h - text["y"]) * MM, text["text"])
        canvas.endForm()
    pages = 0
    module = qr["module_mm"] * MM
    for doc in range(documents):
        token = f"{doc:010d}"
        for page in layout["pages"]:
            canvas.doForm(f"page{page['number']}")
            canvas.setFillColorRGB(0, 0, 0)
            payload = f"IN1-ABCD-{token}-{page['number']:02d}{total:02d}-ABCDEFGH"
            matrix = segno.make_qr(payload, version=qr["version"], error=qr["error"].lower(), mode="alphanumeric",
                                   boost_error=False, mask=qr.get("mask")).matrix
            canvas.saveState()
            canvas.transform(module, 0, 0, -module, qr["rect"][0] * MM, (h - qr["rect"][1]) * MM)
            path = canvas.beginPath()
            for r, row in enumerate(matrix):
                c = 0
                while c < len(row):
                    if row[c]:
                        start = c
                        while c < len(row) and row[c]:
                            c += 1
                        path.rect(start, r, c - start, 1)
                    else:
                        c += 1
            canvas.drawPath(path, stroke=0, fill=1)
            canvas.restoreState()
            canvas.setFont("Courier-Bold", 9)
            canvas.drawCentredString(176.8 * MM, (h - 43) * MM, f"{token[:5]}-{token[5:]}-{page['number']:02d}-X")
            canvas.setFont("Helvetica", 10)
            for number, x, y, text in prefill:
                if number == page["number"]:
                    canvas.drawString(x * MM, (h - y) * MM, text)
            canvas.showPage()
            pages += 1
    canvas.save()
    return pages


# -- reading ---------------------------------------------------------------------------------------

def reading_figures(app: Flask, pages: int = 200, seed: int = 2026) -> dict[str, Any]:
    """Read a synthetic scan set: canteen forms printed blank, filled with random true answers
    (crosses, ticks, scribbles, light marks, smudges, handwriting), scanned (rotation up to 3°,
    scale, shift, 150-300 dpi, blur, noise, JPEG 40-95); plus one page of each harsh case.

    ``checkbox_accuracy``: boxes read in their true state (ambiguous: not accurate, not wrong);
    ``wrong_auto_accepted``: boxes read in the wrong state on a question not sent to review
    (nominal and harsh pages); ``review_rate``: pages not ``ok``; ``read_pages_per_s``: decoding
    the scanned file, QR, alignment, boxes, crops (PNG), one core.
    """
    import numpy as np

    from inscriptions.definitions.registry import current_version, registry
    from inscriptions.extensions import db
    from inscriptions.paper.layout import layout_for
    from inscriptions.paper.reader import DatabaseLookup, answers_from, group_pages, read_page, read_upload
    from inscriptions.paper.reader import simulate as sim

    rng = np.random.default_rng(seed)
    with app.app_context():
        version = current_version(registry().get(SERVICE))
        layout = layout_for(version)
        db.session.commit()
        started = time.perf_counter()
        scans, truths = sim.filled_documents(version, max(1, pages // layout.page_count), rng)
        harsh = sim.harsh_pages(version, rng)
        simulated = time.perf_counter() - started

        lookup = DatabaseLookup()
        started = time.perf_counter()
        readings = []
        for n, scanned in enumerate(scans):
            (image,) = read_upload(scanned.data, scanned.filename, first_index=n)
            readings.append(read_page(image, lookup=lookup))
        elapsed = time.perf_counter() - started
        harsh_readings = []
        for n, scanned in enumerate(harsh):
            (image,) = read_upload(scanned.data, scanned.filename, first_index=len(scans) + n)
            harsh_readings.append(read_page(image, lookup=lookup))

        boxes = accurate = wrong = 0
        by_style: dict[str, list[int]] = {}
        for scanned, reading in zip(scans + harsh, readings + harsh_readings, strict=True):
            nominal = scanned.kind == "normal"
            states = {b.id: b for b in reading.boxes}
            for box_id, ticked in scanned.truth.items():
                truth = "ticked" if ticked else "empty"
                if box_id in scanned.corrected:
                    truth = "cancelled"
                found = states.get(box_id)
                state = found.state if found is not None else "unread"
                if nominal:
                    boxes += 1
                    accurate += state == truth
                    style = scanned.styles.get(box_id, "none")
                    by_style.setdefault(style, [0, 0])[0] += 1
                    by_style[style][1] += state == truth
                flagged = found is None or reading.status == "manual" or found.path in reading.review_paths
                if state in ("ticked", "empty") and state != truth and not flagged:
                    wrong += 1

        # Whole questions: machine answers not sent to review must equal the true answers.
        stack = group_pages(readings)
        wrong_questions = questions = 0
        truth_by_token = {scans[i * layout.page_count].token: truths[i] for i in range(len(truths))}
        for doc in stack.documents:
            answers, review = answers_from(doc, layout)
            doubtful = {item["path"] for item in review}
            true = truth_by_token[doc.token]
            for info in layout.fields:
                if info.select is None or info.group is not None or info.path.startswith(("household.", "session")):
                    continue
                questions += 1
                if info.path in doubtful:
                    continue
                expected = true.get(info.path)
                got = answers.get(info.path)
                if info.type == "yes_no":
                    expected = None if expected is None else ("yes" if expected else "no")
                elif info.type == "consent":
                    expected = "y" if expected else None
                elif info.select == "many":
                    expected = sorted(expected or [])
                    got = sorted(got or [])
                wrong_questions += got != expected

        harsh_stack = group_pages(harsh_readings)
        harsh_ok = 0
        for scanned, reading in zip(harsh, harsh_readings, strict=True):
            if scanned.expect_manual is not None:
                harsh_ok += reading.status == "manual" and reading.reason == scanned.expect_manual
            elif scanned.kind == "scanned_twice":
                harsh_ok += reading.status in ("ok", "review") or reading.reason == "duplicate"
            else:
                harsh_ok += reading.status in ("ok", "review")
        duplicates = sum(len(doc.duplicates) for doc in harsh_stack.documents)

    nominal_pages = len(scans)
    errors = [r.alignment_error_mm for r in readings if r.alignment_error_mm is not None]
    figures = {
        "scan_pages": nominal_pages,
        "qr_decode_rate": round(sum(r.qr_payload is not None for r in readings) / nominal_pages, 4),
        "checkbox_accuracy": round(accurate / boxes, 5) if boxes else None,
        "wrong_auto_accepted": wrong,
        "wrong_questions_auto_accepted": wrong_questions,
        "review_rate": round(sum(r.status != "ok" for r in readings) / nominal_pages, 4),
        "manual_rate": round(sum(r.status == "manual" for r in readings) / nominal_pages, 4),
        "read_pages_per_s": round(nominal_pages / elapsed, 1),
        "alignment_error_mm_median": round(float(np.median(errors)), 3) if errors else None,
        "alignment_error_mm_max": round(max(errors), 3) if errors else None,
        "harsh_cases_passed": f"{harsh_ok}/{len(harsh)}",
        "duplicates_found": duplicates,
    }
    print(f"reading: {nominal_pages} synthetic pages ({boxes} checkboxes, {questions} checkbox questions) "
          f"simulated in {simulated:.1f} s, read in {elapsed:.1f} s")
    for style, (count, right) in sorted(by_style.items()):
        print(f"  {style}: {right}/{count} boxes read in their true state")
    outcomes = [f"{s.kind}->{r.status}:{r.reason}" for s, r in zip(harsh, harsh_readings, strict=True)]
    print(f"  harsh cases: {', '.join(outcomes)}")
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side; the best one counts")
    parser.add_argument("--scan-pages", type=int, default=200, help="synthetic scanned pages to read (0: none)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="paper-bench-") as tmp:
        workdir = Path(tmp)
        app = setup_app(workdir)
        figures = generation_figures(app, args.households, workdir, repeat=args.repeat)
        if args.scan_pages:
            figures.update(reading_figures(app, args.scan_pages))
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
