"""The opening morning through the queue (issue 12), for bench/opening_day.py.

The application runs with ``INSCRIPTIONS_ALLOCATION=worker`` and one ``inscriptions allocation
worker``. Before opening (not timed), every application is *prepared*: checked and kept, not
in the queue. Web families log in, fill in the form of the queue's service and press "prepare"
(``POST /inscription/<token>/preparer``); the counter agent (papers received before opening,
keyed in advance) and API clients ``POST /api/v1/applications`` with ``send: false``. At
opening (timed), everyone sends at once, ``--concurrency`` at a time, in one light request that
only numbers the application: web families ``POST /demandes/<id>/envoyer`` (session, CSRF),
counter and API ``POST /api/v1/applications/<id>/send`` (their token). The allocator decides
meanwhile; the run waits until every application is decided.

Figures (from the clients and from the database, the only truth about places):
``intake_per_s`` (sends answered per second of the intake phase), ``intake_ratio`` (against the
same bare insert figure), ``intake_p50_ms`` / ``intake_p99_ms`` (the send request),
``decided_all_s`` (first application sent to the last decision written), ``allocations_per_s``
(the allocator alone: every family's application recorded first on a third, identical service,
then decided by passes of 500 in this process, timed from the first pass to the last commit;
the e-mails are left out), ``allocations_per_s_live`` (applications per second of the passes'
own times during the rush, sharing the two cores with the intake),
``order_violations`` (waitlisted applications overtaken by a later one that got a place in the
same session: must be 0 in arrival mode), ``queue_overbooked``, ``queue_errors_5xx``.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

QUEUE_SERVICE = "ouverture-file"
QUEUE_PREFIX = "OUF"
# A third, identical service for the allocator alone: applications recorded first, then decided.
ALONE_SERVICE = "ouverture-seul"
ALONE_PREFIX = "OUS"
ANSWERS = {"group": "grands", "allergy": "no"}
DECIDE_TIMEOUT_S = 300


def prepare(client: Any, family: Any, agent_token: str, session: str, arrive: Any, expect: Any, csrf_token: Any,
            failed: type[Exception]) -> None:
    """Before opening: the application checked and kept (web: log in and fill in the form)."""
    if family.channel != "web":
        payload: dict[str, Any] = {
            "service": QUEUE_SERVICE, "session": session, "send": False,
            "participants": [{"child_id": family.child_id}],
            "answers": {"group": ANSWERS["group"], "allergy": False},
        }
        if family.channel == "counter":
            payload["household_id"] = family.household_id
        reply = expect(client.request("queue arrival", f"prepare {family.channel}", "POST", "/api/v1/applications",
                                      body=json.dumps(payload).encode(), headers=_api_headers(family, agent_token)),
                       201, f"{family.channel} prepared application")
        family.application_path = json.loads(reply.body)["send_url"]
        return
    arrive(client, family, service=QUEUE_SERVICE)
    reply = client.request("queue arrival", "POST prepare", "POST",
                           family.review_path.replace("/recapitulatif", "/preparer"),
                           body=urlencode({"csrf_token": family.csrf}).encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"}, cookies=family.cookies)
    location = reply.headers.get("Location", "")
    match = re.search(r"/demandes/(\d+)$", location)
    if reply.status != 303 or match is None:
        raise failed(f"prepare: HTTP {reply.status} {location}")
    family.application_path = f"/demandes/{match.group(1)}"
    page = expect(client.request("queue arrival", "GET application", "GET", family.application_path,
                                 cookies=family.cookies), 200, "prepared application page")
    family.csrf = csrf_token(page.text())


def send(client: Any, family: Any, agent_token: str, session: str, expect: Any, retry_after: Any,
         failed: type[Exception]) -> None:
    """At opening: the family's one request (a 503 is retried once after Retry-After)."""
    for attempt in range(2):
        if family.channel == "web":
            reply = client.request("intake", "send web", "POST", f"{family.application_path}/envoyer",
                                   body=urlencode({"csrf_token": family.csrf}).encode(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"},
                                   cookies=family.cookies)
        else:
            reply = client.request("intake", f"send {family.channel}", "POST", family.application_path,
                                   body=b"", headers=_api_headers(family, agent_token))
        if reply.status == 503 and attempt == 0:
            time.sleep(retry_after(reply))
            continue
        break
    if family.channel == "web":
        if reply.status != 303 or not reply.headers.get("Location", "").endswith(family.application_path):
            raise failed(f"send: HTTP {reply.status}")
    else:
        expect(reply, 202, f"{family.channel} application")


def _api_headers(family: Any, agent_token: str) -> dict[str, str]:
    token = family.token if family.channel == "api" else agent_token
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


class Allocator:
    """One ``inscriptions allocation worker`` (the service's one allocator), logging to a file."""

    def __init__(self, command: Path, env: dict[str, str], log: Path, cwd: Path):
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [str(command), "allocation", "worker"], cwd=cwd, env=env,
                stdout=out, stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def pending(db_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM applications WHERE service_code = :s AND status = 'pending'"),
                            {"s": QUEUE_SERVICE}).scalar_one()
    engine.dispose()
    return int(left)


def wait_decided(db_url: str, timeout: float = DECIDE_TIMEOUT_S) -> float:
    """Seconds until no application of the queue's service is pending (raises past ``timeout``)."""
    start = time.monotonic()
    while pending(db_url):
        if time.monotonic() - start > timeout:
            raise SystemExit(f"the allocator left applications pending after {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - start


def figures(db_url: str, capacity: int) -> dict[str, Any]:
    """What the database says of the queue's service after the run."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        def one(sql: str) -> Any:
            return conn.execute(text(sql), {"s": QUEUE_SERVICE}).scalar_one()

        by_status = dict(conn.execute(text(
            "SELECT status, count(*) FROM registrations WHERE service_code = :s GROUP BY status"),
            {"s": QUEUE_SERVICE}).all())
        held = int(one("SELECT coalesce(sum(places), 0) FROM registrations WHERE service_code = :s"
                       " AND status IN ('submitted', 'accepted', 'offered')"))
        # Waitlisted applications that a later one (higher queue number) overtook in their session.
        violations = int(one(
            "SELECT count(DISTINCT w.id) FROM registrations w JOIN applications aw ON aw.id = w.application_id"
            " WHERE w.service_code = :s AND w.status = 'waitlisted' AND EXISTS ("
            "  SELECT 1 FROM registrations g JOIN applications ag ON ag.id = g.application_id"
            "  WHERE g.session_id = w.session_id AND g.status = 'accepted'"
            "  AND ag.queue_number > aw.queue_number)"))
        span = one("SELECT extract(epoch FROM max(decided_at) - min(submitted_at)) FROM applications"
                   " WHERE service_code = :s")
        passes = conn.execute(text(
            "SELECT count(*), coalesce(sum(applications), 0),"
            " coalesce(sum(extract(epoch FROM finished_at - started_at)), 0)"
            " FROM allocation_runs WHERE service_code = :s"), {"s": QUEUE_SERVICE}).one()
        applications = int(one("SELECT count(*) FROM applications WHERE service_code = :s"))
        households = int(one("SELECT count(DISTINCT household_id) FROM registrations WHERE service_code = :s"))
    engine.dispose()
    runs, decided, seconds = int(passes[0]), int(passes[1]), float(passes[2])
    return {
        "accepted": int(by_status.get("accepted", 0)),
        "waitlisted": int(by_status.get("waitlisted", 0)),
        "registrations": sum(by_status.values()),
        "households": households,
        "applications": applications,
        "held": held,
        "overbooked": max(0, held - capacity),
        "order_violations": violations,
        "decided_all_s": round(float(span or 0.0), 2),
        "allocation_runs": runs,
        "allocations_per_s": round(decided / seconds, 1) if seconds else 0.0,
    }


def allocator_alone(app: Any, families: list[Any], session: str, capacity: int, batch: int = 500) -> dict[str, Any]:
    """The allocator alone on ``ALONE_SERVICE``: every family's application recorded (in worker
    mode: nothing decides them), then the passes timed, without the notifications."""
    from sqlalchemy import func, select

    from inscriptions.allocation.allocator import decide_pending, take_lock
    from inscriptions.database import write_transaction
    from inscriptions.extensions import db
    from inscriptions.models import HOLDING_STATUSES, Registration
    from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations

    with app.app_context():
        app.config["ALLOCATION"] = "worker"
        for family in families:
            create_registrations(RegistrationInput(
                service_code=ALONE_SERVICE, household_id=family.household_id, channel=family.channel,
                participants=[ParticipantInput(child_id=family.child_id,
                                               answers={"group": ANSWERS["group"], "allergy": False})],
                session_code=session))
        decided, passes = 0, 0
        start = time.perf_counter()
        while True:
            with write_transaction():
                take_lock(ALONE_SERVICE)
                done = decide_pending(ALONE_SERVICE, limit=batch).count
            if not done:
                break
            decided, passes = decided + done, passes + 1
        elapsed = time.perf_counter() - start
        held = int(db.session.scalar(select(func.coalesce(func.sum(Registration.places), 0)).where(
            Registration.service_code == ALONE_SERVICE, Registration.status.in_(HOLDING_STATUSES))) or 0)
        db.session.remove()
    return {"decided": decided, "passes": passes, "seconds": round(elapsed, 3),
            "allocations_per_s": round(decided / elapsed, 1) if elapsed else 0.0,
            "overbooked": max(0, held - capacity)}
