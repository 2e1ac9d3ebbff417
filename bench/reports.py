"""Reports benchmark (not a test): how fast a service's registrations are exported and counted.

Run: ``.venv/bin/python bench/reports.py [--rows 5000]``. It builds a temporary SQLite database,
inserts ``--rows`` accepted canteen registrations (one child each, ten children per household,
answers like the demo canteen's), then asks the application, as a manager of the canteen, for the
CSV export, the XLSX export, the kitchen's meal count over four weeks and the dashboard, through the
real views (Flask test client: no network). The last line printed is one JSON object with
``rows``, ``csv_s``, ``csv_rows_per_s``, ``xlsx_s``, ``xlsx_rows_per_s``, ``counts_s`` and
``dashboard_s`` (the best of ``--repeat`` runs each).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("INSCRIPTIONS_SECRET_KEY", "bench-secret-key")

from flask import Flask  # noqa: E402

SERVICE = "cantine"
DIETS = ("standard", "sans_porc", "sans_viande", "sans_gluten")
DAYS = (["mon", "tue", "thu", "fri"], ["mon", "tue"], ["thu", "fri"], ["mon"])


def setup_app(workdir: Path) -> Flask:
    """An application on a fresh migrated SQLite database in ``workdir``."""
    from flask_migrate import upgrade

    from inscriptions import create_app
    from inscriptions.extensions import db

    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "UPLOAD_DIR": workdir / "uploads",
        "MAIL_BACKEND": "locmem",
        "SERVER_NAME": "localhost",
    })
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.session.remove()
    return app


def insert_registrations(rows: int) -> None:
    """``rows`` accepted canteen registrations, inserted directly (the booking path is benched elsewhere)."""
    from inscriptions.definitions.registry import current_version, registry
    from inscriptions.extensions import db
    from inscriptions.models import Child, Guardian, Household, Registration

    version = current_version(registry().get(SERVICE))
    household = None
    for i in range(rows):
        if i % 10 == 0:
            household = Household(address_line1="1 rue des Écoles", postcode="99990", city="Villebelle")
            household.guardians.append(Guardian(first_name="Alex", last_name=f"Famille{i // 10:05d}"))
            db.session.add(household)
        child = Child(first_name=f"Enfant{i:06d}", last_name=f"Famille{i // 10:05d}", birth_date=dt.date(2017, 1, 1),
                      school=("École Jules-Ferry", "École Pasteur", "École Curie")[i % 3], class_name="CE2")
        household.children.append(child)  # type: ignore[union-attr]
        db.session.add(Registration(
            reference=f"CAN-2026-{i + 1:06d}", service_code=SERVICE, form_version_id=version.id,
            household=household, child=child, places=1, price=2.40, price_unit="repas", price_detail=[],
            channel="web", batch=f"b{i}", status="accepted",
            answers={"days": DAYS[i % 4], "diet": DIETS[i % 4], "allergy": False, "rules": True,
                     "pickup": [{"name": "Mamie", "phone": "06 12 34 56 78"}]},
        ))
        if i % 1000 == 999:
            db.session.flush()
    db.session.commit()


def best_of(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    """The fastest of ``repeat`` runs of ``run`` (which returns a size) and that size."""
    best, size = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        size = run()
        best = min(best, time.perf_counter() - started)
    return best, size


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each request; the best one counts")
    args = parser.parse_args(argv)
    from flask import g

    from inscriptions.permissions import grant_role

    with tempfile.TemporaryDirectory(prefix="reports-bench-") as tmp:
        app = setup_app(Path(tmp))
        with app.app_context():
            started = time.perf_counter()
            insert_registrations(args.rows)
            print(f"inserted {args.rows} registrations in {time.perf_counter() - started:.1f} s")
            manager, _created, _granted = grant_role("manager@bench.test", "manager", SERVICE)
            client = app.test_client()
            with client.session_transaction() as session:
                session["_user_id"] = str(manager.id)
                session["_fresh"] = True
            g.pop("_login_user", None)

            def get(url: str) -> Callable[[], int]:
                def run() -> int:
                    response = client.get(url)
                    assert response.status_code == 200, response.status_code
                    return len(response.get_data())
                return run

            base = f"/gestion/{SERVICE}/rapports"
            figures: dict[str, Any] = {"rows": args.rows}
            for name, url in (("csv", f"{base}/export.csv"), ("xlsx", f"{base}/export.xlsx"),
                              ("counts", f"{base}/comptages?report=repas&from=2026-09-14&to=2026-10-09"),
                              ("dashboard", base)):
                seconds, size = best_of(args.repeat, get(url))
                figures[f"{name}_s"] = round(seconds, 3)
                print(f"{name:10} {seconds:7.2f} s  {size / 1e6:6.2f} MB")
            figures["csv_rows_per_s"] = round(args.rows / figures["csv_s"])
            figures["xlsx_rows_per_s"] = round(args.rows / figures["xlsx_s"])
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
