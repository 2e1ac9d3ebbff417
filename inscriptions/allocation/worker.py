"""Running the allocator: one pass, a service drained, or the long-running worker process.

In ``ALLOCATION=worker`` mode requests only record applications, and this process decides them.
Run one per installation (``inscriptions allocation worker``, a systemd unit): a second one is
harmless, since every pass takes its service's lock without waiting and a service whose lock is
held is simply skipped, but it adds nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import select

from inscriptions import outbox
from inscriptions.allocation import confirmations
from inscriptions.allocation.allocator import Pass, decide_pending, notify, take_lock
from inscriptions.allocation.queue import settled_number
from inscriptions.database import write_transaction
from inscriptions.definitions.registry import registry
from inscriptions.extensions import db
from inscriptions.models import Application, ApplicationStatus

log = logging.getLogger(__name__)

# Applications are decided in batches of at most this many (one transaction each).
BATCH = 500
# Seconds the allocator waits when the database is out of reach before trying again.
UNREACHABLE_WAIT_S = 1.0
# Seconds between two sweeps of the outbox for jobs never handed over (inscriptions.outbox).
RELAY_EVERY_S = 5.0
# Seconds between two seals of the audit journal (inscriptions.privacy.integrity).
SEAL_EVERY_S = 60.0


def run_pass(service_code: str, *, limit: int | None = BATCH, wait: bool = False) -> Pass | None:
    """One allocation pass of the service in its own transaction, then its notifications.

    Returns None when another allocator holds the service's lock (``wait=False``).
    """
    with write_transaction():
        if not take_lock(service_code, wait=wait):
            return None
        decided = decide_pending(service_code, limit=limit, up_to=settled_number())
    notify(decided)
    return decided


def drain(service_code: str, *, limit: int | None = BATCH, wait: bool = True) -> int:
    """Decide the service's pending applications, batch after batch; returns how many."""
    done = 0
    while True:
        decided = run_pass(service_code, limit=limit, wait=wait)
        if decided is None or not decided.count:
            return done
        done += decided.count


def _relay_stale() -> None:
    # The confirmations a process recorded but could not hand over (killed after its commit,
    # Redis down): the allocator is the one process always running, so it sweeps them.
    try:
        handed = outbox.relay_stale() + confirmations.relay_stale()
    except Exception:
        db.session.rollback()
        log.exception("relaying the outbox failed; tried again in %s s", RELAY_EVERY_S)
        return
    if handed:
        log.warning("%d recorded job(s) handed over again", handed)


def _seal_journal() -> None:
    # The audit journal's hash chain (inscriptions.privacy.integrity): the entries logged since
    # the last seal are chained in a short transaction of their own, never inside a booking's.
    from inscriptions.privacy.integrity import seal

    try:
        seal()
    except Exception:
        log.exception("sealing the audit journal failed; tried again in %s s", SEAL_EVERY_S)


def services_waiting() -> list[str]:
    """Services with pending applications (the services served: their codes lead the queue's
    index, so this reads only pending rows however many decided ones the table holds)."""
    served = [service.code for service in registry().all()]
    codes = sorted(set(db.session.scalars(
        select(Application.service_code)
        .where(Application.service_code.in_(served), Application.status == ApplicationStatus.PENDING)
        .distinct()
    )))
    db.session.commit()  # end the read: the worker must not keep a snapshot open between passes
    return codes


def work(*, interval: float = 0.1, limit: int = BATCH, stop: Callable[[], bool] = lambda: False) -> None:
    """Decide every service's applications as they arrive, until ``stop()`` says so.

    A pass starts at most every ``interval`` seconds: at an opening's rush each pass then takes
    what arrived meanwhile (tens or hundreds of applications) rather than a handful, so the
    pass's fixed cost (lock, sessions, counts, run) is shared, for at most ``interval`` more
    waiting.
    """
    relayed_at = time.monotonic()
    sealed_at = relayed_at - SEAL_EVERY_S  # seal once at start-up
    while not stop():
        began = time.monotonic()
        busy = False
        if began - relayed_at >= RELAY_EVERY_S:
            relayed_at = began
            _relay_stale()
        if began - sealed_at >= SEAL_EVERY_S:
            sealed_at = began
            _seal_journal()
        try:
            waiting = services_waiting()
        except Exception:
            # The database out of reach (restarting, a network cut): wait and try again, never
            # stop: this is the one process that decides places and sweeps what is owed.
            db.session.rollback()
            log.exception("the allocator cannot read the queue; trying again in %s s", UNREACHABLE_WAIT_S)
            time.sleep(UNREACHABLE_WAIT_S)
            continue
        for code in waiting:
            try:
                decided = run_pass(code, limit=limit)
            except Exception:
                # One service's failure (a definition gone wrong...) must not stop the others;
                # its applications stay pending and are tried again at the next pass.
                db.session.rollback()
                log.exception("allocation pass of %s failed", code)
                continue
            if decided is not None and decided.count:
                busy = True
                log.info("%s: %d application(s) decided (run %s)", code, decided.count, decided.run_id)
        time.sleep(max(0.0, interval - (time.monotonic() - began)) if busy else interval)
