"""Opening-day benchmark (not a test): thousands of families race for a hundred places.

Run (PostgreSQL on 127.0.0.1:5432, user ``postgres``, by default)::

    .venv/bin/python bench/opening_day.py              # 2,000 attempts, 100 places, 200 clients
    .venv/bin/python bench/opening_day.py --quick      # 60 attempts, 10 places, 20 clients

What it does, in one run:

1. **Set-up.** Drops and recreates its own database (``--db-name``, default ``bench_opening_day``,
   on the server of ``BENCH_DATABASE_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432``),
   runs ``inscriptions db upgrade``, writes a plugins folder with one service (children, automatic
   workflow, opened yesterday, one session of ``--capacity`` places, a one-page form of two fields),
   runs ``inscriptions services sync``, and inserts one family per attempt (household, guardian,
   child, account; one password hash shared by all), an agent of the service with an API token,
   and an API token for each family booking through the API.
2. **The stack's limit.** Starts ``bench/bare_app.py`` (one ``INSERT`` and a commit per request)
   under gunicorn with the project's ``gunicorn.conf.py`` and the same worker count, and posts
   ``--attempts`` requests at ``--concurrency`` clients: ``bare_insert_per_s``. Measured before
   and after the booking phase (the machine may be shared); the mean is used.
3. **The application** under gunicorn with ``gunicorn.conf.py``, set up as docs/production.md
   says: jobs on RQ over Redis (``INSCRIPTIONS_JOBS_BACKEND=rq``, ``BENCH_REDIS_URL``, default
   ``redis://127.0.0.1:6379/0``, on a queue of the run's own), with one ``inscriptions jobs worker``
   started by the benchmark, which builds every confirmation e-mail during the run and hands it to
   the ``dummy`` mail backend (nothing is sent, nothing is skipped; its CPU is counted under
   ``jobs``). ``--jobs-backend inline`` builds the e-mail inside the request instead (the embedded
   default, for a machine without Redis). Log-in rate limits stay on but are raised
   (``INSCRIPTIONS_LOGIN_LIMIT_PER_IP``...): every family of the run logs in from the benchmark's
   one address, where a town's families come from thousands.

   *Arrival* (families at their screens before the opening minute): each **web** family, on its
   own cookie session, GETs the log-in page, POSTs its e-mail, password and CSRF token, follows the
   redirect, GETs the service's form, POSTs its child and the session, follows to page 1, POSTs the
   page (CSRF, the two fields), follows to the review page. Counter and API families need no
   preparation.

   *Booking* (the opening minute): every family presses the button at once, ``--concurrency``
   at a time in a shuffled order: **web** POSTs the review page's confirmation (CSRF) and follows
   the redirect to the confirmation page; **counter** is the agent's token posting
   ``/api/v1/registrations`` for the family's household (channel ``counter``); **api** is the
   family's own token. Every request is a real HTTP request on a keep-alive connection.

   A ``503`` ("busy, try again") is counted apart from other 5xx and retried once after its
   ``Retry-After`` (2 s when absent), as a family or an API client would; a second ``503`` fails the
   attempt. A connection the server closed while idle (keep-alive expiry, worker recycling) is
   reopened and the request sent again, as browsers do; the bookings are idempotent anyway (the
   web draft is submitted once; API calls carry an ``Idempotency-Key``).
4. **Checks** in the database: accepted and waitlisted registrations, places held against the
   capacity (``overbooked`` must be 0), one registration per family, and every booking a client
   saw succeed present (and nothing else).

Figures:

* ``bookings_per_s``: booking attempts completed (the family got its outcome: the web
  confirmation page after the confirm POST, or the API's 201) per second of the *booking* phase,
  i.e. from the first booking request to the last answer. ``ratio`` = ``bookings_per_s /
  bare_insert_per_s``: how close the real booking path (log-in session, CSRF, the one validation
  function, locks, capacity check, insert, history row, e-mail job, redirect, confirmation page)
  comes to one bare ``INSERT`` per request on the same stack.
* ``p50_ms`` / ``p99_ms``: latency of the booking request itself (the confirm POST or the API POST,
  each try counted), queueing in gunicorn included. ``all_p50_ms`` / ``all_p99_ms``: every request
  of both phases, log-in (a deliberately slow password hash) included.
* ``journeys_per_s``: attempts completed per second of arrival + booking (the whole family
  journey, log-in included), for reference.
* ``errors_5xx``: 5xx answers other than 503, in both phases; ``busy_503``: 503 answers;
  ``timeouts``: requests without an answer within ``--timeout`` seconds.

5. **The queue** (issue 12, ``--no-queue`` skips it): the same families, mix, order and clients
   on a second, identical service, with ``INSCRIPTIONS_ALLOCATION=worker`` and one
   ``inscriptions allocation worker``: web families prepare their application before opening
   (not timed), then everyone sends at once; see bench/queue_path.py for its figures
   (``intake_per_s``, ``intake_ratio``, ``intake_p50_ms``, ``intake_p99_ms``, ``decided_all_s``,
   ``allocations_per_s``, ``order_violations``, ``queue_overbooked``, ``queue_errors_5xx``).

The last line printed is one JSON object with all the figures. Targets on a 2-core machine:
``overbooked`` 0, ``errors_5xx`` 0, ``ratio`` >= 0.5, ``p99_ms`` <= 1000 (synchronous booking);
``intake_ratio`` >= 0.5, ``intake_p99_ms`` <= 500, ``decided_all_s`` <= 2 x ``bare_time_s``,
``allocations_per_s`` >= 2000, ``order_violations`` 0 (the queue).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import http.client
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import queue_path  # noqa: E402 - the queue's journeys, beside this script

BIN = Path(sys.executable).parent
GUNICORN = BIN / "gunicorn"
INSCRIPTIONS = BIN / "inscriptions"
CONF = ROOT / "gunicorn.conf.py"

SERVICE = "ouverture"
SESSION = "semaine-1"
PASSWORD = "banc-d-essai-2026"  # noqa: S105 - the benchmark families' shared password
# The sealing key of the run's processes (inscriptions.privacy.sealing): a fixed, valid Fernet key.
DATA_KEY = "non_6BlDYC7DbjLwKs0tGdsnHO5qzd2pLdnul1wwEPQ="
SECRET_KEY = "opening-day-bench-secret"  # noqa: S105 - a throw-away database's session key
DEFAULT_BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
READY_TIMEOUT_S = 120
TOWN_ZONE = ZoneInfo("Europe/Paris")
CHANNELS = ("web", "counter", "api")

SERVICE_YAML = """\
# Written by bench/opening_day.py: one session of {capacity} places, opened yesterday.
code: {code}
name: Stage d'été (banc d'essai)
description: Le service du banc d'essai de l'ouverture des inscriptions.
reference_prefix: {prefix}
audience: child
opening: {opening}
closing: {closing}
workflow: automatic
retention_months: 12
pricing: {{kind: fixed, amount: "45.00", unit: semaine}}
sessions:
  - {{code: {session}, label: Semaine 1, starts_at: {starts_at}, capacity: {capacity}}}
form:
  pages:
    - title: L'enfant
      fields:
        - name: group
          type: single_choice
          label: Groupe
          required: true
          choices: [{{value: petits, label: Petits (6-8 ans)}}, {{value: grands, label: Grands (9-12 ans)}}]
        - name: allergy
          type: yes_no
          label: Votre enfant a-t-il une allergie alimentaire ?
          required: true
"""


# -- options ------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=2000, help="booking attempts, one family each")
    parser.add_argument("--capacity", type=int, default=100, help="places in the one session")
    parser.add_argument("--concurrency", type=int, default=200, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers (default: what gunicorn.conf.py computes, 2 x cores + 1)")
    parser.add_argument("--mix", default="web=70,counter=15,api=15",
                        help="share of each channel, e.g. web=70,counter=15,api=15")
    parser.add_argument("--quick", action="store_true",
                        help="a small run for smoke checks (60 attempts, 10 places, 20 clients)")
    parser.add_argument("--db-name", default="bench_opening_day", help="database created (and dropped) by the run")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds a client waits for an answer")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the channel mix and booking order")
    parser.add_argument("--keepalive", action="store_true",
                        help="one kept-alive connection per client (default: one connection per request, "
                             "as the nginx of docs/production.md opens to gunicorn)")
    parser.add_argument("--jobs-backend", choices=["rq", "inline"], default="rq",
                        help="rq (production: a queue in Redis and a worker started by the run) or inline "
                             "(e-mails built inside the request)")
    parser.add_argument("--worker-nice", type=int, default=10,
                        help="niceness of the jobs worker (docs/production.md's unit sets Nice=10: bookings "
                             "get the CPU first, e-mails trail; 0 runs it at the web's priority)")
    parser.add_argument("--no-queue", dest="queue", action="store_false",
                        help="skip the queue path (applications sent at opening, decided by the allocator)")
    parser.add_argument("--no-floor", dest="floor", action="store_false",
                        help="skip the floor app (bench/floor_app.py: only what any booking must do)")
    parser.add_argument("--keep", action="store_true", help="keep the database and the work folder")
    args = parser.parse_args(argv)
    if args.quick:
        args.attempts, args.capacity, args.concurrency = 60, 10, 20
    if args.jobs_backend != "rq":
        args.floor = False  # the floor's e-mail job is an RQ job
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", args.db_name):
        parser.error("--db-name: lower-case letters, digits and underscores only")
    if min(args.attempts, args.capacity, args.concurrency) < 1:
        parser.error("--attempts, --capacity and --concurrency must be at least 1")
    try:
        args.shares = parse_mix(args.mix)
    except ValueError as exc:
        parser.error(f"--mix: {exc}")
    return args


def parse_mix(text: str) -> dict[str, float]:
    """``web=70,counter=15,api=15`` → shares summing to 1."""
    weights: dict[str, float] = dict.fromkeys(CHANNELS, 0.0)
    for part in text.split(","):
        name, _sep, value = part.partition("=")
        name = name.strip()
        if name not in weights:
            raise ValueError(f"unknown channel {name!r} (use {', '.join(CHANNELS)})")
        weights[name] = float(value)
    total = sum(weights.values())
    if total <= 0 or any(v < 0 for v in weights.values()):
        raise ValueError("shares must be positive")
    return {name: value / total for name, value in weights.items()}


def split_channels(count: int, shares: dict[str, float], rng: random.Random) -> list[str]:
    """``count`` channels in the given shares (largest remainders), shuffled."""
    exact = {name: count * share for name, share in shares.items()}
    counts = {name: math.floor(value) for name, value in exact.items()}
    for name in sorted(exact, key=lambda n: exact[n] - counts[n], reverse=True)[: count - sum(counts.values())]:
        counts[name] += 1
    channels = [name for name in CHANNELS for _ in range(counts[name])]
    rng.shuffle(channels)
    return channels


# -- set-up -----------------------------------------------------------------------------------------

@dataclass
class Family:
    """One family, one booking attempt, and what happened to it."""

    index: int
    channel: str
    email: str
    household_id: int
    child_id: int
    token: str | None = None  # the family's own API token (api channel)
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    review_path: str = ""
    application_path: str = ""  # the queue: /demandes/<id> of the prepared application
    outcome: str = ""  # "booked", or why the attempt failed
    status: str = ""  # accepted / waitlisted, as the API told the client


def recreate_database(base_url: str, name: str) -> str:
    """Drop and create the database ``name``; returns its URL."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        # The name was checked against [a-z_][a-z0-9_]* (parse_args): safe to quote in the statement.
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{base_url}/{name}"


def drop_database(base_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def write_plugins(folder: Path, capacity: int) -> Path:
    """A plugins folder holding the benchmark's three services (the synchronous booking's, the
    queue's and the allocator-alone's, alike but for their code and prefix), open since yesterday."""
    now = dt.datetime.now(TOWN_ZONE).replace(tzinfo=None, second=0, microsecond=0)
    for code, prefix in ((SERVICE, "OUV"), (queue_path.QUEUE_SERVICE, queue_path.QUEUE_PREFIX),
                         (queue_path.ALONE_SERVICE, queue_path.ALONE_PREFIX)):
        service_dir = folder / "plugins" / code
        service_dir.mkdir(parents=True)
        (service_dir / "service.yaml").write_text(SERVICE_YAML.format(
            code=code,
            prefix=prefix,
            session=SESSION,
            capacity=capacity,
            opening=(now - dt.timedelta(days=1)).isoformat(),
            closing=(now + dt.timedelta(days=90)).isoformat(),
            starts_at=(now + dt.timedelta(days=30)).isoformat(),
        ), encoding="utf-8")
    return folder / "plugins"


def server_env(db_url: str, plugins: Path, workdir: Path, jobs_backend: str = "rq",
               queue: str = "bench-opening-day") -> dict[str, str]:
    """The environment of the CLI, the servers and the jobs worker: the bench database and
    plugins, jobs on ``queue`` (rq) or in the request (inline), no real mail."""
    env = dict(os.environ)
    env.update(
        INSCRIPTIONS_DATABASE_URL=db_url,
        INSCRIPTIONS_PLUGINS_DIR=str(plugins),
        INSCRIPTIONS_SECRET_KEY=SECRET_KEY,
        INSCRIPTIONS_PUBLIC_URL="http://127.0.0.1",  # required in production (wsgi.py, RQ workers)
        INSCRIPTIONS_DATA_KEYS=DATA_KEY,  # required in production too (sealed health answers)
        INSCRIPTIONS_UPLOAD_DIR=str(workdir / "uploads"),
        INSCRIPTIONS_MAIL_BACKEND="dummy",
        INSCRIPTIONS_JOBS_BACKEND=jobs_backend,
        INSCRIPTIONS_JOBS_QUEUE=queue,
        INSCRIPTIONS_REDIS_URL=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        INSCRIPTIONS_LOG_LEVEL="warning",
        # Every family logs in from the benchmark's one address: the per-address limits (made
        # for one household's or one attacker's address) are raised, not switched off, so the
        # limiter still runs on every log-in. The per-account limit is untouched (one log-in each).
        INSCRIPTIONS_LOGIN_LIMIT_PER_IP="1000000 per minute",
        INSCRIPTIONS_SIGNUP_LIMIT_PER_IP="1000000 per minute",
        INSCRIPTIONS_RESET_LIMIT_PER_IP="1000000 per minute",
    )
    return env


def run_cli(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [str(INSCRIPTIONS), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"inscriptions {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def create_families(app: Any, channels: list[str]) -> tuple[list[Family], str]:
    """One household (guardian, child, account) per channel entry; returns them and the agent's token.

    Bulk inserts: the password is hashed once and the hash shared by every account (hashing is
    deliberately slow; the log-in still checks it for every family).
    """
    from sqlalchemy import insert

    from inscriptions.api.tokens import PREFIX, hash_token, issue_token
    from inscriptions.auth.passwords import hash_password
    from inscriptions.extensions import db
    from inscriptions.models import Account, ApiToken, Child, Guardian, Household
    from inscriptions.permissions import grant_role

    count = len(channels)
    password_hash = hash_password(PASSWORD)
    with app.app_context():
        def bulk(model: Any, rows: list[dict[str, Any]]) -> list[int]:
            stmt = insert(model).returning(model.id, sort_by_parameter_order=True)
            return list(db.session.scalars(stmt, rows))

        households = bulk(Household, [
            {"address_line1": f"{i + 1} rue des Écoles", "postcode": "99990", "city": "Villebelle",
             "quotient_familial": 400 + (i * 37) % 1500}
            for i in range(count)
        ])
        guardians = bulk(Guardian, [
            {"household_id": h, "first_name": "Camille", "last_name": f"Famille{i:05d}",
             "email": f"famille{i:05d}@bench.example.fr"}
            for i, h in enumerate(households)
        ])
        children = bulk(Child, [
            {"household_id": h, "first_name": "Léo", "last_name": f"Famille{i:05d}",
             "birth_date": dt.date(2016 + i % 4, 1 + i % 12, 1 + i % 28), "school": "École du Centre",
             "class_name": "CE2"}
            for i, h in enumerate(households)
        ])
        accounts = bulk(Account, [
            {"email": f"famille{i:05d}@bench.example.fr", "password_hash": password_hash, "guardian_id": g,
             "active": True}
            for i, g in enumerate(guardians)
        ])
        families = [
            Family(i, channel, f"famille{i:05d}@bench.example.fr", households[i], children[i])
            for i, channel in enumerate(channels)
        ]
        token_rows = []
        for family in families:
            if family.channel == "api":
                family.token = PREFIX + secrets.token_urlsafe(32)
                token_rows.append({"account_id": accounts[family.index], "name": "bench",
                                   "token_hash": hash_token(family.token)})
        if token_rows:
            db.session.execute(insert(ApiToken), token_rows)
        db.session.commit()
        agent, _created, _granted = grant_role("agent.guichet@bench.example.fr", "agent", SERVICE, None)
        grant_role("agent.guichet@bench.example.fr", "agent", queue_path.QUEUE_SERVICE, None)
        agent_token = issue_token(agent, "bench")
        db.session.remove()
    return families, agent_token


def create_bare_table(db_url: str) -> None:
    """The bare app's one table, in the benchmark's database."""
    from sqlalchemy import create_engine

    sys.path.insert(0, str(ROOT / "bench"))
    from bare_app import Base  # type: ignore[import-not-found]

    engine = create_engine(db_url)
    Base.metadata.create_all(engine)
    engine.dispose()


# -- servers ----------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A gunicorn started with the project's gunicorn.conf.py, logging to a file."""

    def __init__(self, name: str, app_path: str, env: dict[str, str], workers: int | None, log: Path,
                 extra_args: Iterable[str] = ()):
        self.name = name
        self.port = free_port()
        self.log = log
        env = dict(env, INSCRIPTIONS_BIND=f"127.0.0.1:{self.port}")
        if workers:
            env["INSCRIPTIONS_WEB_WORKERS"] = str(workers)
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
                [str(GUNICORN), "-c", str(CONF), *extra_args, app_path],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )

    def wait_ready(self, path: str = "/") -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name}: gunicorn exited ({self.process.returncode}):\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", path)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.25)
        raise SystemExit(f"{self.name}: no answer within {READY_TIMEOUT_S}s:\n{self.tail()}")

    def worker_pids(self) -> list[int]:
        """Worker processes running now (children of the gunicorn master)."""
        return [pid for pid, ppid, _cmd in _processes() if ppid == self.process.pid]

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class JobsWorker:
    """One ``inscriptions jobs worker`` on the run's queue (the rq backend), logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, nice: int = 0, queue: str | None = None):
        self.queue = queue or env["INSCRIPTIONS_JOBS_QUEUE"]
        self.redis_url = env["INSCRIPTIONS_REDIS_URL"]
        if queue is None:
            command = [str(INSCRIPTIONS), "jobs", "worker", "--log-level", "WARNING"]
        else:
            # The floor app's jobs: RQ's own worker importing them from bench/, in the application
            # worker's shape (jobs run in the worker process, JSON arguments).
            command = [str(BIN / "rq"), "worker", "--url", self.redis_url, "--logging_level", "WARNING",
                       "--worker-class", "rq.SimpleWorker", "--serializer", "rq.serializers.JSONSerializer",
                       "--path", str(ROOT / "bench"), self.queue]
        with log.open("wb") as out:
            # At the niceness systemd's Nice= gives it in docs/production.md's worker unit.
            prefix = ["nice", "-n", str(nice)] if nice else []
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [*prefix, *command], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )

    def _queue(self) -> Any:
        from redis import Redis
        from rq import Queue

        return Queue(self.queue, connection=Redis.from_url(self.redis_url))

    def check_redis(self) -> None:
        from redis import Redis
        from redis.exceptions import RedisError

        try:
            Redis.from_url(self.redis_url, socket_connect_timeout=2).ping()
        except RedisError as exc:
            raise SystemExit(
                f"Redis at {self.redis_url}: {exc} (set BENCH_REDIS_URL, or use --jobs-backend inline)"
            ) from exc

    def drain(self, timeout: float = 300.0) -> dict[str, int]:
        """Wait until the worker has run every queued job; returns done, failed and left."""
        queue = self._queue()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if queue.count == 0 and queue.started_job_registry.count == 0:
                break
            time.sleep(0.5)
        return {"done": queue.finished_job_registry.count, "failed": queue.failed_job_registry.count,
                "left": queue.count + queue.started_job_registry.count}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            queue = self._queue()
            for registry in (queue.finished_job_registry, queue.failed_job_registry):
                for job_id in registry.get_job_ids():
                    registry.remove(job_id, delete_job=True)
            queue.delete(delete_jobs=True)
        except Exception as exc:  # cleaning up must not hide the figures
            print(f"could not empty the queue {self.queue}: {exc}", file=sys.stderr)


def _processes() -> list[tuple[int, int, bytes]]:
    """``(pid, parent pid, command line)`` of every process (Linux /proc; empty elsewhere)."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        found.append((int(entry.name), int(stat.rsplit(")", 1)[1].split()[1]), cmdline))
    return found


def _cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """CPU seconds used by ``pid`` (and by its children already waited for, if asked)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields after the command: state, ppid, ...; utime, stime, cutime, cstime are the 12th to 15th.
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by the client (this process), the server and the database.

    The machine's cores are shared by all three (and by anything else running): CPU per booking
    is a steadier figure than bookings per second on a busy machine. Counted per process:
    gunicorn workers recycled during the phase are found in their master's reaped-children time;
    database backends are those connected to the benchmark's database (one that exits during the
    phase, with its recycled worker, takes its last seconds with it: a slight under-count).
    """

    def __init__(self, server: Server, db_name: str, jobs: JobsWorker | None = None,
                 allocator: subprocess.Popen | None = None):
        self.server = server
        self.marker = f" {db_name} ".encode()
        self.jobs = jobs
        self.allocator = allocator

    def sample(self) -> dict[str, dict[int, float]]:
        procs = _processes()
        master = self.server.process.pid
        times = os.times()
        found = {
            "client": {0: times.user + times.system},
            "app": {master: _cpu_seconds(master, reaped_children=True),
                    **{pid: _cpu_seconds(pid) for pid, ppid, _cmd in procs if ppid == master}},
            "db": {pid: _cpu_seconds(pid) for pid, _ppid, cmd in procs
                   if cmd.startswith(b"postgres: ") and self.marker in cmd},
        }
        if self.jobs is not None:
            # The worker building the e-mails (its database work is under "db").
            found["jobs"] = {self.jobs.process.pid: _cpu_seconds(self.jobs.process.pid, reaped_children=True)}
        if self.allocator is not None:
            found["allocator"] = {self.allocator.pid: _cpu_seconds(self.allocator.pid)}
        return found

    def per_operation(self, before: dict[str, dict[int, float]], after: dict[str, dict[int, float]],
                      count: int) -> dict[str, float]:
        """Milliseconds of CPU per operation, by part."""
        used = {}
        for part in before:
            seconds = sum(value - before[part].get(pid, 0.0) for pid, value in after[part].items())
            if part == "app":
                # A worker reaped during the phase: its whole life is now in the master's
                # reaped-children time, of which only what followed the first sample is ours.
                seconds -= sum(value for pid, value in before[part].items()
                               if pid not in after[part] and pid != self.server.process.pid)
            used[part] = round(max(seconds, 0.0) * 1000 / max(count, 1), 2)
        return used


# -- HTTP clients -----------------------------------------------------------------------------------

@dataclass
class Sample:
    phase: str
    label: str
    status: int  # 0: no answer (see error)
    ms: float
    error: str = ""


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class TransportError(Exception):
    """No HTTP answer: timeout, refused or reset connection."""


class Recorder:
    """Every request's outcome, from every client thread."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.reconnects = 0
        self._lock = threading.Lock()

    def add(self, sample: Sample) -> None:
        with self._lock:
            self.samples.append(sample)

    def reconnected(self) -> None:
        with self._lock:
            self.reconnects += 1


class Client:
    """One HTTP/1.1 client used by one thread (one "browser tab" at a time): a connection per
    request by default, or one kept-alive connection (``--keepalive``)."""

    def __init__(self, port: int, timeout: float, recorder: Recorder, keepalive: bool):
        self.port = port
        self.timeout = timeout
        self.recorder = recorder
        self.keepalive = keepalive
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, phase: str, label: str, method: str, path: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None) -> Reply:
        """Send one request; records it; raises :class:`TransportError` when no answer came."""
        headers = dict(headers or {})
        if not self.keepalive:
            # One connection per request, as the documented nginx in front of gunicorn does.
            headers["Connection"] = "close"
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        for attempt in range(2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            start = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused and attempt == 0:
                    # The server closed this idle keep-alive connection: reopen and resend.
                    self.recorder.reconnected()
                    continue
                self.recorder.add(Sample(phase, label, 0, _ms(start), type(exc).__name__))
                raise TransportError(type(exc).__name__) from exc
            except TimeoutError as exc:
                self.close()
                self.recorder.add(Sample(phase, label, 0, _ms(start), "timeout"))
                raise TransportError("timeout") from exc
            except OSError as exc:
                self.close()
                self.recorder.add(Sample(phase, label, 0, _ms(start), type(exc).__name__))
                raise TransportError(type(exc).__name__) from exc
            self.recorder.add(Sample(phase, label, response.status, _ms(start)))
            if response.will_close or not self.keepalive:
                self.close()
            if cookies is not None:
                _store_cookies(cookies, response.headers)
            return Reply(response.status, response.headers, data)
        raise AssertionError("unreachable")

    def browse(self, phase: str, label: str, method: str, path: str, family: Family, *,
               form: dict[str, Any] | None = None) -> Reply:
        """A browser's request: the family's cookies, a form body, redirects followed with GET."""
        body = urlencode(form, doseq=True).encode() if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        reply = self.request(phase, label, method, path, body=body, headers=headers, cookies=family.cookies)
        hops = 0
        while reply.status in (301, 302, 303) and hops < 5:
            hops += 1
            path = _local_path(reply.headers.get("Location", "/"))
            reply = self.request(phase, f"{label} → GET", "GET", path, cookies=family.cookies)
        return reply


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _local_path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _store_cookies(cookies: dict[str, str], headers: http.client.HTTPMessage) -> None:
    for raw in headers.get_all("Set-Cookie") or []:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except CookieError:
            continue
        for name, morsel in jar.items():
            if not morsel.value or morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                cookies.pop(name, None)
            else:
                cookies[name] = morsel.value


CSRF_RE = re.compile(r'<input[^>]*\bname="csrf_token"[^>]*>')
VALUE_RE = re.compile(r'\bvalue="([^"]*)"')


def csrf_token(html: str) -> str:
    tag = CSRF_RE.search(html)
    value = VALUE_RE.search(tag.group(0)) if tag else None
    if value is None:
        raise AttemptFailed("no CSRF token on the page")
    return value.group(1)


class AttemptFailed(Exception):
    """The family could not go on (the message says where)."""


def expect(reply: Reply, status: int, where: str) -> Reply:
    if reply.status != status:
        raise AttemptFailed(f"{where}: HTTP {reply.status}")
    return reply


# -- the families' journeys -------------------------------------------------------------------------

ANSWERS = {"group": "grands", "allergy": "no"}


def arrive(client: Client, family: Family, service: str = SERVICE) -> None:
    """A web family logs in and fills the form up to the review page (the arrival phase)."""
    phase = "arrival" if service == SERVICE else "queue arrival"
    page = expect(client.browse(phase, "GET login", "GET", "/connexion", family), 200, "log-in page")
    form = {"csrf_token": csrf_token(page.text()), "email": family.email, "password": PASSWORD}
    reply = client.request(phase, "POST login", "POST", "/connexion", body=urlencode(form).encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"}, cookies=family.cookies)
    # Success redirects to the household page; a refused log-in shows the form again (200).
    expect(reply, 302, "log-in")
    expect(client.browse(phase, "POST login → GET", "GET", _local_path(reply.headers["Location"]), family),
           200, "after log-in")
    start_path = f"/services/{service}/inscription"
    page = expect(client.browse(phase, "GET start", "GET", start_path, family), 200, "form start")
    if f'value="c{family.child_id}"' not in page.text():
        raise AttemptFailed("form start: the child is not offered")
    reply = client.browse(phase, "POST start", "POST", start_path, family, form={
        "csrf_token": csrf_token(page.text()), "participant": f"c{family.child_id}", "session": SESSION,
    })
    expect(reply, 200, "form start (submit)")
    match = re.search(r'action="(/inscription/[0-9a-f]+/etape/1)"', reply.text())
    if match is None:
        raise AttemptFailed("form start: no page 1")
    prefix = f"c{family.child_id}-"
    reply = client.browse(phase, "POST page", "POST", match.group(1), family, form={
        "csrf_token": csrf_token(reply.text()), "_action": "next",
        **{prefix + name: value for name, value in ANSWERS.items()},
    })
    expect(reply, 200, "form page")
    match = re.search(r'action="(/inscription/[0-9a-f]+/recapitulatif)"', reply.text())
    if match is None:
        raise AttemptFailed("form page: the review page did not come")
    family.review_path = match.group(1)
    family.csrf = csrf_token(reply.text())


def book(client: Client, family: Family, agent_token: str) -> None:
    """The family's booking request (the booking phase); a 503 is retried once after Retry-After."""
    for attempt in range(2):
        if family.channel == "web":
            reply = client.request("booking", "book web", "POST", family.review_path,
                                   body=urlencode({"csrf_token": family.csrf}).encode(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"},
                                   cookies=family.cookies)
        else:
            token = family.token if family.channel == "api" else agent_token
            payload: dict[str, Any] = {
                "service": SERVICE, "session": SESSION,
                "participants": [{"child_id": family.child_id}],
                "answers": {"group": ANSWERS["group"], "allergy": False},
            }
            if family.channel == "counter":
                payload["household_id"] = family.household_id
            reply = client.request("booking", f"book {family.channel}", "POST", "/api/v1/registrations",
                                   body=json.dumps(payload).encode(), headers={
                                       "Authorization": f"Bearer {token}",
                                       "Content-Type": "application/json",
                                       "Idempotency-Key": f"bench-{family.index}",
                                   })
        if reply.status == 503 and attempt == 0:
            time.sleep(_retry_after(reply))
            continue
        break
    if family.channel == "web":
        if reply.status != 302 or "/confirmation" not in reply.headers.get("Location", ""):
            raise AttemptFailed(f"confirm: HTTP {reply.status}")
        page = client.request("booking", "book web → GET", "GET", _local_path(reply.headers["Location"]),
                              cookies=family.cookies)
        expect(page, 200, "confirmation page")
    else:
        expect(reply, 201, f"{family.channel} booking")
        family.status = json.loads(reply.body)["status"]


def _retry_after(reply: Reply) -> float:
    try:
        return max(0.0, min(float(reply.headers.get("Retry-After", "2")), 10.0))
    except ValueError:
        return 2.0


def run_phase(families: list[Family], args: argparse.Namespace, port: int, recorder: Recorder,
              step: Callable[[Client, Family], None]) -> float:
    """Run ``step`` for every family, ``--concurrency`` at a time; returns the phase's seconds."""
    local = threading.local()
    clients: list[Client] = []
    clients_lock = threading.Lock()

    def one(family: Family) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = Client(port, args.timeout, recorder, args.keepalive)
            with clients_lock:
                clients.append(client)
        try:
            step(client, family)
            family.outcome = family.outcome or "ok"
        except (AttemptFailed, TransportError) as exc:
            family.outcome = str(exc)
        except Exception as exc:  # a bug of the benchmark must not hide the other families' figures
            family.outcome = f"{type(exc).__name__}: {exc}"

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        list(pool.map(one, families))
    elapsed = time.perf_counter() - start
    for client in clients:
        client.close()
    return elapsed


def bare_round(server: Server, args: argparse.Namespace) -> tuple[float, Recorder, dict[str, float]]:
    """``--attempts`` inserts on the bare app at ``--concurrency`` clients: inserts per second,
    the requests, and CPU milliseconds per insert."""
    recorder = Recorder()
    payloads = [Family(i, "bare", "", i, 0) for i in range(args.attempts)]

    def insert(client: Client, family: Family) -> None:
        body = urlencode({"household_id": family.household_id, "label": f"famille{family.index:05d}"}).encode()
        reply = client.request("bare", "POST insert", "POST", "/insert", body=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        expect(reply, 201, "bare insert")

    # Warm-up: every worker connected to the database and its code paths loaded.
    run_phase(payloads[: 5 * args.concurrency], args, server.port, Recorder(), insert)
    meter = CpuMeter(server, args.db_name)
    before = meter.sample()
    elapsed = run_phase(payloads, args, server.port, recorder, insert)
    done = sum(1 for s in recorder.samples if s.status == 201)
    return done / elapsed, recorder, meter.per_operation(before, meter.sample(), done)


# -- figures ----------------------------------------------------------------------------------------

def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def database_figures(app: Any, capacity: int) -> dict[str, Any]:
    """What the database holds after the run: the only truth about places."""
    from sqlalchemy import func, select

    from inscriptions.extensions import db
    from inscriptions.models import HOLDING_STATUSES, Registration

    with app.app_context():
        by_status = dict(db.session.execute(
            select(Registration.status, func.count()).where(Registration.service_code == SERVICE)
            .group_by(Registration.status)
        ).all())
        held = int(db.session.scalar(
            select(func.coalesce(func.sum(Registration.places), 0))
            .where(Registration.service_code == SERVICE, Registration.status.in_(HOLDING_STATUSES))
        ) or 0)
        households = int(db.session.scalar(
            select(func.count(func.distinct(Registration.household_id))).where(Registration.service_code == SERVICE)
        ) or 0)
        by_channel = dict(db.session.execute(
            select(Registration.channel, func.count()).where(Registration.service_code == SERVICE)
            .group_by(Registration.channel)
        ).all())
        db.session.remove()
    total = sum(by_status.values())
    return {
        "by_status": by_status,
        "by_channel": by_channel,
        "registrations": total,
        "households": households,
        "held": held,
        "accepted": int(by_status.get("accepted", 0)),
        "waitlisted": int(by_status.get("waitlisted", 0)),
        "overbooked": max(0, held - capacity),
    }


def latency(samples: Iterable[Sample]) -> dict[str, float]:
    values = [s.ms for s in samples]
    return {"p50": round(percentile(values, 50), 1), "p99": round(percentile(values, 99), 1), "n": len(values)}


# -- main -----------------------------------------------------------------------------------------------

@dataclass
class Run:
    """Everything one benchmark run measured."""

    args: argparse.Namespace
    families: list[Family]
    recorder: Recorder = field(default_factory=Recorder)
    bare_rates: list[float] = field(default_factory=list)
    bare_cpu: list[dict[str, float]] = field(default_factory=list)
    bare_latency: list[Sample] = field(default_factory=list)
    floor_rate: float = 0.0
    floor_latency: dict[str, float] = field(default_factory=dict)
    floor_cpu: dict[str, float] = field(default_factory=dict)
    floor_held: int = 0
    arrival_s: float = 0.0
    booking_s: float = 0.0
    booking_cpu: dict[str, float] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    jobs_drain_s: float | None = None
    workers: int = 0
    database: dict[str, Any] = field(default_factory=dict)
    intake: Recorder = field(default_factory=Recorder)
    intake_s: float = 0.0
    intake_done: int = 0
    intake_cpu: dict[str, float] = field(default_factory=dict)
    decide_wait_s: float = 0.0
    queue: dict[str, Any] = field(default_factory=dict)
    alone: dict[str, Any] = field(default_factory=dict)


def set_up(args: argparse.Namespace, base_url: str, workdir: Path) -> tuple[Any, dict[str, str], list[Family], str]:
    """The database, the service, the families; returns the app, the servers' environment,
    the families and the agent's API token."""
    db_url = recreate_database(base_url, args.db_name)
    plugins = write_plugins(workdir, args.capacity)
    jobs_backend = getattr(args, "jobs_backend", "rq")
    # A queue of this run's own: another run's (or a developer's) worker never takes its jobs.
    env = server_env(db_url, plugins, workdir, jobs_backend, f"bench-{args.db_name}-{os.getpid()}")
    run_cli(["db", "upgrade"], env)
    run_cli(["services", "sync"], env)
    os.environ.update({k: env[k] for k in ("INSCRIPTIONS_SECRET_KEY", "INSCRIPTIONS_MAIL_BACKEND")})
    sys.path.insert(0, str(ROOT))
    from inscriptions import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "PLUGINS_DIR": plugins, "UPLOAD_DIR": workdir / "uploads",
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}})
    channels = split_channels(args.attempts, args.shares, random.Random(args.seed))
    families, agent_token = create_families(app, channels)
    create_bare_table(db_url)
    return app, env, families, agent_token


def measure_bare(run: Run, env: dict[str, str], workdir: Path, servers: list[Server]) -> None:
    """One round on the bare app (started and stopped here)."""
    args = run.args
    bare_env = dict(env, BENCH_BARE_DATABASE_URL=env["INSCRIPTIONS_DATABASE_URL"])
    bare = Server("bare app", "bare_app:create_bare_app()", bare_env, args.workers, workdir / "bare.log",
                  extra_args=["--pythonpath", str(ROOT / "bench")])
    servers.append(bare)
    try:
        bare.wait_ready()
        rate, recorder, cpu = bare_round(bare, args)
    finally:
        bare.stop()
        servers.remove(bare)
    run.bare_rates.append(rate)
    run.bare_cpu.append(cpu)
    run.bare_latency.extend(recorder.samples)
    stats = latency(recorder.samples)
    print(f"bare app: {rate:.0f} inserts/s, p50 {stats['p50']} ms, p99 {stats['p99']} ms; "
          f"CPU ms per insert {cpu}")


def floor_arrive(client: Client, family: Family) -> None:
    """A floor web family is logged in and holds the page with its CSRF token (not measured)."""
    page = expect(client.request("floor arrival", "GET arrive", "GET", f"/arrive/{family.index + 1}",
                                 cookies=family.cookies), 200, "floor arrival")
    family.csrf = csrf_token(page.text())


def floor_book(client: Client, family: Family) -> None:
    """The same booking as :func:`book`, on the floor app (no 503 there: no lock timeout)."""
    if family.channel == "web":
        reply = client.request("floor", "book web", "POST", "/book",
                               body=urlencode({"csrf_token": family.csrf}).encode(),
                               headers={"Content-Type": "application/x-www-form-urlencoded"},
                               cookies=family.cookies)
        expect(reply, 302, "floor web booking")
        expect(client.request("floor", "book web → GET", "GET", _local_path(reply.headers["Location"]),
                              cookies=family.cookies), 200, "floor confirmation page")
    else:
        reply = client.request("floor", f"book {family.channel}", "POST", "/api/book", body=b"{}",
                               headers={"Authorization": f"Bearer {family.token}",
                                        "Content-Type": "application/json"})
        expect(reply, 201, f"floor {family.channel} booking")


def floor_held(db_url: str) -> int:
    """Places the floor app gave (it must not oversell either, or it would be no floor)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM floor_bookings WHERE status = 'accepted'")).scalar_one()
    engine.dispose()
    return int(held)


def measure_floor(run: Run, env: dict[str, str], workdir: Path, servers: list[Server]) -> None:
    """The floor app (bench/floor_app.py): the same families, mix, order and clients as the real
    booking phase, doing only what any booking must do on this stack."""
    sys.path.insert(0, str(ROOT / "bench"))
    from floor_app import create_tables  # type: ignore[import-not-found]

    args = run.args
    families = [Family(f.index, f.channel, f.email, f.household_id, f.child_id, token=f"floor-{f.index}")
                for f in run.families]
    create_tables(env["INSCRIPTIONS_DATABASE_URL"], args.capacity, [f.token or "" for f in families])
    queue = f"{env['INSCRIPTIONS_JOBS_QUEUE']}-floor"
    floor_env = dict(env, BENCH_BARE_DATABASE_URL=env["INSCRIPTIONS_DATABASE_URL"], BENCH_FLOOR_QUEUE=queue)
    worker = JobsWorker(floor_env, workdir / "floor-jobs.log", nice=args.worker_nice, queue=queue)
    worker.check_redis()
    floor = Server("floor app", "floor_app:create_floor_app()", floor_env, args.workers, workdir / "floor.log",
                   extra_args=["--pythonpath", str(ROOT / "bench")])
    servers.append(floor)
    recorder = Recorder()
    try:
        floor.wait_ready()
        run_phase([f for f in families if f.channel == "web"], args, floor.port, Recorder(), floor_arrive)
        random.Random(args.seed + 1).shuffle(families)
        for family in families:
            family.outcome = ""
        meter = CpuMeter(floor, args.db_name, worker)
        before = meter.sample()
        elapsed = run_phase(families, args, floor.port, recorder, floor_book)
        done = sum(1 for f in families if f.outcome == "ok")
        worker.drain()
        run.floor_cpu = meter.per_operation(before, meter.sample(), done)
    finally:
        floor.stop()
        servers.remove(floor)
        worker.stop()
    failed = Counter(f.outcome for f in families if f.outcome != "ok")
    if failed:
        raise SystemExit(f"floor app: failed bookings {dict(failed.most_common(5))}; see {workdir / 'floor.log'}")
    run.floor_rate = done / elapsed
    run.floor_held = floor_held(env["INSCRIPTIONS_DATABASE_URL"])
    run.floor_latency = latency(s for s in recorder.samples if not s.label.endswith("GET"))
    print(f"floor app: {run.floor_rate:.0f} bookings/s, p50 {run.floor_latency['p50']} ms, "
          f"p99 {run.floor_latency['p99']} ms; CPU ms per booking {run.floor_cpu}")


def simulate(run: Run, env: dict[str, str], agent_token: str, workdir: Path, servers: list[Server]) -> None:
    """The application under gunicorn: the families' arrival, then the booking minute."""
    args = run.args
    worker = None
    if env["INSCRIPTIONS_JOBS_BACKEND"] == "rq":
        worker = JobsWorker(env, workdir / "jobs.log", nice=args.worker_nice)
        worker.check_redis()
    server = Server("inscriptions", "wsgi:app", env, args.workers, workdir / "app.log")
    servers.append(server)
    try:
        server.wait_ready()
        run.workers = len(server.worker_pids())
        print(f"application: gunicorn on port {server.port}, {run.workers} workers")
        web = [f for f in run.families if f.channel == "web"]
        run.arrival_s = run_phase(web, args, server.port, run.recorder, arrive)
        ready = [f for f in run.families if f.channel != "web" or f.outcome == "ok"]
        print(f"arrival: {len(web)} web families logged in and filled the form in {run.arrival_s:.1f}s "
              f"({sum(1 for f in web if f.outcome == 'ok')} reached the review page)")

        random.Random(args.seed + 1).shuffle(ready)
        for family in ready:
            family.outcome = ""
        if worker is not None:
            worker.drain()  # the arrival made no job; the booking's e-mails are then its own
        meter = CpuMeter(server, args.db_name, worker)
        before = meter.sample()
        run.booking_s = run_phase(ready, args, server.port, run.recorder,
                                  lambda client, family: book(client, family, agent_token))
        done = sum(1 for f in ready if f.outcome == "ok")
        run.booking_cpu = meter.per_operation(before, meter.sample(), done)
        if worker is not None:
            # E-mails still queued when the last answer came are built now: their CPU is the
            # booking's too, counted from the phase's start to the empty queue.
            drain_start = time.monotonic()
            run.jobs = worker.drain()
            run.jobs_drain_s = time.monotonic() - drain_start
            run.booking_cpu["jobs"] = meter.per_operation(before, meter.sample(), done)["jobs"]
        print(f"booking: {done} of {len(run.families)} attempts completed in {run.booking_s:.2f}s; "
              f"CPU ms per booking {run.booking_cpu}; jobs {run.jobs or 'inline'}")
    finally:
        server.stop()
        servers.remove(server)
        if worker is not None:
            worker.stop()


def simulate_queue(run: Run, env: dict[str, str], agent_token: str, workdir: Path, servers: list[Server]) -> None:
    """The queue path (bench/queue_path.py): prepare before opening, everyone sends at opening,
    the allocator decides; the same families, mix, order and clients as the booking phase."""
    args = run.args
    families = [Family(f.index, f.channel, f.email, f.household_id, f.child_id, token=f.token)
                for f in run.families]
    queue_env = dict(env, INSCRIPTIONS_ALLOCATION="worker")
    worker = None
    if env["INSCRIPTIONS_JOBS_BACKEND"] == "rq":
        worker = JobsWorker(queue_env, workdir / "queue-jobs.log", nice=args.worker_nice)
    server = Server("inscriptions (queue)", "wsgi:app", queue_env, args.workers, workdir / "queue-app.log")
    servers.append(server)
    allocator = queue_path.Allocator(INSCRIPTIONS, queue_env, workdir / "allocator.log", ROOT)
    try:
        server.wait_ready()
        arrival_s = run_phase(families, args, server.port, Recorder(), lambda client, family: queue_path.prepare(
            client, family, agent_token, SESSION, arrive, expect, csrf_token, AttemptFailed))
        ready = [f for f in families if f.outcome == "ok"]
        print(f"queue arrival: {len(ready)} of {len(families)} applications prepared in {arrival_s:.1f}s "
              f"(web families logged in and filled the form; counter and API sent them with send: false)")
        random.Random(args.seed + 1).shuffle(ready)
        for family in ready:
            family.outcome = ""
        if worker is not None:
            worker.drain()
        meter = CpuMeter(server, args.db_name, worker, allocator.process)
        before = meter.sample()
        run.intake_s = run_phase(ready, args, server.port, run.intake, lambda client, family: queue_path.send(
            client, family, agent_token, SESSION, expect, _retry_after, AttemptFailed))
        run.intake_done = sum(1 for f in ready if f.outcome == "ok")
        run.decide_wait_s = queue_path.wait_decided(env["INSCRIPTIONS_DATABASE_URL"])
        if worker is not None:
            worker.drain()
        run.intake_cpu = meter.per_operation(before, meter.sample(), run.intake_done)
        failed = Counter(f.outcome for f in ready if f.outcome != "ok")
        print(f"intake: {run.intake_done} of {len(families)} applications sent in {run.intake_s:.2f}s, all "
              f"decided {run.decide_wait_s:.2f}s after the last answer; CPU ms per application {run.intake_cpu}"
              + (f"; failed {dict(failed.most_common(5))}" if failed else ""))
    finally:
        allocator.stop()
        server.stop()
        servers.remove(server)
        if worker is not None:
            worker.stop()
    run.queue = queue_path.figures(env["INSCRIPTIONS_DATABASE_URL"], args.capacity)


def queue_summary(run: Run, bare_rate: float) -> dict[str, Any]:
    """The queue path's figures for the JSON line (empty when it did not run)."""
    if not run.queue:
        return {}
    samples = run.intake.samples
    sends = latency(samples)
    status_counts = Counter(s.status for s in samples)
    intake_per_s = run.intake_done / run.intake_s if run.intake_s else 0.0
    figures = run.queue
    return {
        "intake_per_s": round(intake_per_s, 1),
        "intake_ratio": round(intake_per_s / bare_rate, 3) if bare_rate else 0.0,
        "intake_p50_ms": sends["p50"],
        "intake_p99_ms": sends["p99"],
        "decided_all_s": figures["decided_all_s"],
        # The bare app's time for the same number of requests: decided_all_s's yardstick.
        "bare_time_s": round(len(run.families) / bare_rate, 2) if bare_rate else 0.0,
        "allocations_per_s": run.alone.get("allocations_per_s", 0.0),
        "allocations_per_s_live": figures["allocations_per_s"],
        "allocation_runs": figures["allocation_runs"],
        "allocator_alone": run.alone,
        "order_violations": figures["order_violations"],
        "queue_accepted": figures["accepted"],
        "queue_waitlisted": figures["waitlisted"],
        "queue_overbooked": figures["overbooked"],
        "queue_errors_5xx": sum(n for status, n in status_counts.items() if status >= 500 and status != 503),
        "queue_busy_503": status_counts.get(503, 0),
        "queue_consistent": (figures["applications"] == run.intake_done == figures["households"]
                             and figures["accepted"] == min(run.args.capacity, run.intake_done)
                             and figures["accepted"] + figures["waitlisted"] == figures["registrations"]),
        "intake_cpu_ms": run.intake_cpu,
    }


def summarise(run: Run) -> dict[str, Any]:
    """Print the figures; returns the JSON summary."""
    args, figures, samples = run.args, run.database, run.recorder.samples
    booked = [f for f in run.families if f.outcome == "ok"]
    booking_requests = [s for s in samples if s.phase == "booking" and s.label.startswith("book ")
                        and not s.label.endswith("GET")]
    status_counts = Counter(s.status for s in samples)
    errors_5xx = sum(n for status, n in status_counts.items() if status >= 500 and status != 503)
    timeouts = sum(1 for s in samples if s.error == "timeout")
    failures = Counter(f.outcome for f in run.families if f.outcome != "ok")
    bare_rate = statistics.fmean(run.bare_rates) if run.bare_rates else 0.0
    bookings_per_s = len(booked) / run.booking_s if run.booking_s else 0.0
    bare_cpu = {key: round(statistics.fmean(c[key] for c in run.bare_cpu), 2) for key in run.bare_cpu[0]}
    consistent = (
        figures["registrations"] == len(booked) == figures["households"]
        and figures["accepted"] + figures["waitlisted"] == figures["registrations"]
        and figures["accepted"] == min(args.capacity, len(booked))
        and figures["held"] <= args.capacity
    )
    mix = Counter(f.channel for f in run.families)
    result = {
        "accepted": figures["accepted"],
        "waitlisted": figures["waitlisted"],
        "capacity": args.capacity,
        "overbooked": figures["overbooked"],
        "errors_5xx": errors_5xx,
        "busy_503": status_counts.get(503, 0),
        "timeouts": timeouts,
        "failed_attempts": sum(failures.values()),
        "attempts": len(run.families),
        "completed": len(booked),
        "consistent": consistent,
        "bookings_per_s": round(bookings_per_s, 1),
        "bare_insert_per_s": round(bare_rate, 1),
        "ratio": round(bookings_per_s / bare_rate, 3) if bare_rate else 0.0,
        **({
            # The same mix on bench/floor_app.py (only what any booking must do): the highest
            # ratio an application could reach here, and its booking request latency.
            "floor_bookings_per_s": round(run.floor_rate, 1),
            "floor_ratio": round(run.floor_rate / bare_rate, 3) if bare_rate else 0.0,
            "floor_p50_ms": run.floor_latency["p50"],
            "floor_p99_ms": run.floor_latency["p99"],
            "floor_cpu_ms": run.floor_cpu,
            "floor_overbooked": max(0, run.floor_held - args.capacity),
        } if run.floor_rate else {}),
        "p50_ms": latency(booking_requests)["p50"],
        "p99_ms": latency(booking_requests)["p99"],
        "all_p50_ms": latency(samples)["p50"],
        "all_p99_ms": latency(samples)["p99"],
        "journeys_per_s": round(len(booked) / (run.arrival_s + run.booking_s), 1) if booked else 0.0,
        "booking_cpu_ms": run.booking_cpu,
        "jobs": run.jobs or args.jobs_backend,
        # Seconds from the last booking's answer until the last confirmation e-mail was built.
        "jobs_drain_s": round(run.jobs_drain_s, 1) if run.jobs_drain_s is not None else None,
        "worker_nice": args.worker_nice if run.jobs else None,
        "bare_cpu_ms": bare_cpu,
        "requests": len(samples),
        "arrival_s": round(run.arrival_s, 2),
        "booking_s": round(run.booking_s, 2),
        "workers": run.workers,
        "concurrency": args.concurrency,
        "mix": {c: mix[c] for c in CHANNELS},
        **queue_summary(run, bare_rate),
    }

    print()
    print(f"places: {figures['held']} held of {args.capacity}; {figures['accepted']} accepted, "
          f"{figures['waitlisted']} on the waiting list; overbooked: {figures['overbooked']}")
    print(f"registrations: {figures['registrations']} for {figures['households']} households "
          f"(by channel: {figures['by_channel']}); clients saw {len(booked)} bookings succeed "
          f"(API answers: {dict(Counter(f.status for f in booked if f.channel != 'web'))}); consistent: {consistent}")
    print(f"booking phase: {bookings_per_s:.1f} bookings/s vs bare {bare_rate:.1f} inserts/s "
          f"({' and '.join(f'{r:.0f}' for r in run.bare_rates)}): ratio {result['ratio']}")
    print(f"CPU ms per booking {run.booking_cpu} vs per bare insert {bare_cpu}")
    print(f"floor (only what any booking must do, same mix): {run.floor_rate:.1f} bookings/s: "
          f"ratio {result['floor_ratio']}, p99 {result['floor_p99_ms']} ms; the application reaches "
          f"{bookings_per_s / run.floor_rate:.0%} of it" if run.floor_rate else "floor: not measured")
    for channel in CHANNELS:
        stats = latency(s for s in booking_requests if s.label == f"book {channel}")
        if stats["n"]:
            print(f"  booking request, {channel}: p50 {stats['p50']} ms, p99 {stats['p99']} ms ({stats['n']})")
    print(f"  booking request, all: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
    by_label: dict[str, list[Sample]] = {}
    for sample in samples:
        by_label.setdefault(sample.label, []).append(sample)
    print("every request:")
    for label, group in by_label.items():
        stats = latency(group)
        print(f"  {label:<22} {stats['n']:>6}  p50 {stats['p50']:>8} ms  p99 {stats['p99']:>8} ms")
    print(f"  all requests: {len(samples)}, statuses {dict(sorted(status_counts.items()))}, "
          f"{run.recorder.reconnects} idle connections reopened; "
          f"p50 {result['all_p50_ms']} ms, p99 {result['all_p99_ms']} ms")
    print(f"whole journeys (arrival {run.arrival_s:.1f}s + booking {run.booking_s:.1f}s): "
          f"{result['journeys_per_s']} families/s")
    if failures:
        print(f"failed attempts: {dict(failures.most_common(10))}")
    print(f"5xx other than 503: {errors_5xx}; 503 busy: {result['busy_503']}; timeouts: {timeouts}")
    if run.queue:
        print(f"queue: {result['intake_per_s']} applications sent/s (ratio {result['intake_ratio']}), send p50 "
              f"{result['intake_p50_ms']} ms, p99 {result['intake_p99_ms']} ms; all decided "
              f"{result['decided_all_s']}s after the first was sent (bare time for as many requests: "
              f"{result['bare_time_s']}s); allocator alone {result['allocations_per_s']} applications/s "
              f"({run.alone}), during the rush {result['allocations_per_s_live']}/s in "
              f"{result['allocation_runs']} passes; {result['queue_accepted']} accepted, "
              f"{result['queue_waitlisted']} waitlisted, overbooked {result['queue_overbooked']}, "
              f"order violations {result['order_violations']}, 5xx {result['queue_errors_5xx']}")
        for channel in CHANNELS:
            stats = latency(s for s in run.intake.samples if s.label == f"send {channel}")
            if stats["n"]:
                print(f"  send request, {channel}: p50 {stats['p50']} ms, p99 {stats['p99']} ms ({stats['n']})")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in (GUNICORN, INSCRIPTIONS):
        if not tool.exists():
            raise SystemExit(f"{tool} not found: run with the project's virtualenv (.venv/bin/python)")
    base_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_BASE_URL).rstrip("/")
    workdir = Path(tempfile.mkdtemp(prefix="opening_day_"))
    servers: list[Server] = []
    try:
        started = time.perf_counter()
        app, env, families, agent_token = set_up(args, base_url, workdir)
        run = Run(args, families)
        mix = Counter(f.channel for f in families)
        print(f"set-up: database {args.db_name}, {len(families)} families "
              f"({', '.join(f'{mix[c]} {c}' for c in CHANNELS)}), {args.capacity} places, "
              f"{time.perf_counter() - started:.1f}s")
        measure_bare(run, env, workdir, servers)  # the stack's limit, before...
        simulate(run, env, agent_token, workdir, servers)
        if args.queue:
            simulate_queue(run, env, agent_token, workdir, servers)
            run.alone = queue_path.allocator_alone(app, run.families, SESSION, args.capacity)
        if args.floor:
            measure_floor(run, env, workdir, servers)
        measure_bare(run, env, workdir, servers)  # ... and after
        run.database = database_figures(app, args.capacity)
        result = summarise(run)
    finally:
        for running in servers:
            running.stop()
        if args.keep:
            print(f"kept: database {args.db_name}, work folder {workdir} (server logs there)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            try:
                drop_database(base_url, args.db_name)
            except Exception as exc:  # cleaning up must not hide why the run stopped
                print(f"could not drop the database {args.db_name}: {exc}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
