"""Slow work (e-mails, documents) runs after the transaction that caused it, never inside it.

A job is a function named by import path (``"package.module:function"``) with JSON-able
arguments, usually ids: the job reads fresh data from the database when it runs. Two backends,
chosen with ``INSCRIPTIONS_JOBS_BACKEND`` (config ``JOBS_BACKEND``):

``inline`` (default, embedded)
    the job runs in-process as soon as :func:`enqueue` is called (that is, right after the
    commit); a failing job is logged and never undoes the saved data. ``JOBS_EAGER_RAISE``
    (set by the test suite) makes failures raise instead.
``rq``
    the job goes to an RQ queue in Redis (``INSCRIPTIONS_REDIS_URL``, queue
    ``INSCRIPTIONS_JOBS_QUEUE``) and ``inscriptions jobs worker`` processes run it inside the
    application context, retrying a failed job a few times with growing delays.

Config ``JOBS_RETRY_INTERVALS`` (seconds before each retry) and ``JOBS_TIMEOUT`` tune the rq
backend. Arguments always go through JSON, inline too, so a job that works in development works on a
worker. Redis holds only the function path and the ids, never personal data.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from inscriptions.extensions import db

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue, SimpleWorker

log = logging.getLogger(__name__)

INLINE = "inline"
RQ = "rq"
BACKENDS = (INLINE, RQ)
DEFAULT_QUEUE = "inscriptions"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Seconds before each retry of a failed job: a mail server that is down for a few minutes
# must not lose confirmations, but a job that can never succeed must stop eventually.
DEFAULT_RETRY_INTERVALS = (30, 300, 1800)
# A PDF batch may be slow; anything slower than this is stuck and is killed (then retried).
DEFAULT_JOB_TIMEOUT = 600
FAILED_JOB_TTL = 30 * 24 * 3600
_REDIS_KEY = "inscriptions.jobs.redis"
_WRITES_KEY = "inscriptions.jobs.uncommitted_writes"

# The application a worker process runs jobs with, built once per process (see worker_app()).
_worker_app: Flask | None = None


class JobOrderError(RuntimeError):
    """:func:`enqueue` was called while the session held uncommitted writes."""


def resolve(path: str) -> Any:
    """The function named ``"package.module:function"``."""
    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"job path must look like 'package.module:function', not {path!r}")
    return getattr(importlib.import_module(module), name)


def enqueue(path: str, *args: Any) -> str | None:
    """Run (inline backend) or queue (rq backend) the job ``path`` with ``args``.

    Call it only AFTER the transaction that saved the data has committed, never inside it: a
    worker may start the job at once, and must find the rows; and slow work must never run
    while capacity locks are held. The test suite turns a call made with uncommitted writes
    into :class:`JobOrderError`; in production it is logged as an error.

    ``args`` must be JSON-able (ids, strings, numbers). Returns the RQ job id with the rq
    backend, ``None`` inline. Neither backend ever raises because the job failed (except with
    ``JOBS_EAGER_RAISE``): the data is saved and the failure is logged.
    """
    resolve(path)  # a wrong path is a programming error: fail where it is written
    payload: list[Any] = json.loads(json.dumps(list(args)))
    _check_committed(path)
    backend = current_app.config.get("JOBS_BACKEND", INLINE)
    if backend == RQ:
        from redis.exceptions import RedisError

        try:
            return _queue(current_app).enqueue_call(
                perform,  # every queued job calls perform(), which finds the real job by path
                args=(path, payload),
                timeout=current_app.config.get("JOBS_TIMEOUT", DEFAULT_JOB_TIMEOUT),
                retry=_retry(current_app),
                failure_ttl=FAILED_JOB_TTL,
                description=path,
            ).id
        except RedisError:
            # Redis is down: the family must still get its confirmation, late rather than never.
            log.exception("could not queue job %s%r; running it in-process", path, payload)
    elif backend != INLINE:
        raise ValueError(f"unknown JOBS_BACKEND {backend!r}; use one of {', '.join(BACKENDS)}")
    _run_inline(path, payload)
    return None


def _run_inline(path: str, payload: list[Any]) -> None:
    from inscriptions.audit import Channel, channel_scope

    func = resolve(path)
    if current_app.config.get("JOBS_EAGER_RAISE"):
        with channel_scope(Channel.JOB):
            func(*payload)
        return
    try:
        # Inside the request that queued it, the job's accesses are still the job's (audit log).
        with channel_scope(Channel.JOB):
            func(*payload)
    except Exception:
        log.exception("job %s%r failed", path, payload)
        # The job may have left the session half-used; the request goes on with a clean one.
        db.session.rollback()


def perform(path: str, args: Sequence[Any]) -> Any:
    """What an RQ worker runs: the job ``path`` inside a fresh application context.

    The context (hence the database session) is new for every job and removed afterwards, so
    one job's failure never leaks into the next. A raised exception reaches RQ, which retries.
    """
    from inscriptions.audit import Channel, channel_scope

    app = worker_app()
    with app.app_context(), channel_scope(Channel.JOB):
        return resolve(path)(*args)


def worker_app() -> Flask:
    """The application jobs run with in this process: the one given to :func:`make_worker`,
    or one built from the environment the first time (for a plain ``rq worker``)."""
    global _worker_app
    if _worker_app is None:
        from inscriptions import create_app
        from inscriptions.settings import check_production

        _worker_app = create_app()
        check_production(_worker_app.config)  # the worker writes the e-mails' links
    return _worker_app


def make_worker(app: Flask, *, queues: Sequence[str] | None = None, name: str | None = None) -> SimpleWorker:
    """An RQ worker that runs this application's jobs.

    It is a ``SimpleWorker``: jobs run in the worker process itself, which builds the
    application (templates, services, database pool) once instead of forking a child per job
    with a copy of the parent's database connections. Job time-outs still apply. Run several
    worker processes for more throughput.
    """
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    global _worker_app
    _worker_app = app
    names = list(queues or [app.config.get("JOBS_QUEUE", DEFAULT_QUEUE)])
    return SimpleWorker(names, connection=redis_connection(app), name=name, serializer=JSONSerializer)


def redis_connection(app: Flask) -> Redis:
    """The application's Redis client (one connection pool per process, made on first use)."""
    client = app.extensions.get(_REDIS_KEY)
    if client is None:
        from redis import Redis

        # Short time-outs: with Redis down, a request falls back to inline work instead of hanging.
        client = Redis.from_url(
            app.config.get("REDIS_URL", DEFAULT_REDIS_URL), socket_connect_timeout=2, socket_timeout=5
        )
        app.extensions[_REDIS_KEY] = client
    return client


def job_queue(app: Flask) -> Queue:
    """The RQ queue this application's jobs go to."""
    return _queue(app)


def _queue(app: Flask) -> Queue:
    from rq import Queue
    from rq.serializers import JSONSerializer

    # JSON, not RQ's default pickle: the queue holds only plain data, and nothing that reads it
    # can be tricked into running code.
    name = app.config.get("JOBS_QUEUE", DEFAULT_QUEUE)
    return Queue(name, connection=redis_connection(app), serializer=JSONSerializer)


def _retry(app: Flask) -> Any:
    from rq import Retry

    intervals = list(app.config.get("JOBS_RETRY_INTERVALS", DEFAULT_RETRY_INTERVALS))
    return Retry(max=len(intervals), interval=intervals) if intervals else None


def _check_committed(path: str) -> None:
    session = db.session()
    pending = bool(session.new or session.deleted or session.info.get(_WRITES_KEY))
    pending = pending or any(session.is_modified(obj) for obj in session.dirty)
    if not pending:
        return
    message = f"job {path} enqueued before the commit of the data it needs; enqueue after committing"
    if current_app.config.get("JOBS_EAGER_RAISE"):
        raise JobOrderError(message)
    log.error(message)


# Flushed but uncommitted writes are invisible in session.new/dirty: remember them per session.
@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush_context: Any) -> None:
    session.info[_WRITES_KEY] = True


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction (commit, rollback or close)
        session.info.pop(_WRITES_KEY, None)
