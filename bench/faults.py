"""Faults at opening (not a test): processes, Redis and PostgreSQL killed during a burst.

Run (as root or the postgres user; PostgreSQL 15's binaries and redis-server installed)::

    .venv/bin/python bench/faults.py                 # 1,500 families, 100 places, 60 clients
    .venv/bin/python bench/faults.py --quick         # 300 families

It starts its own PostgreSQL cluster and Redis server on free ports (so it may kill and restart
them), the application under gunicorn with ``INSCRIPTIONS_ALLOCATION=worker``, one allocation
worker and one jobs worker, with e-mails written to files. Every family's API client sends its
application (``POST /api/v1/applications``, an ``Idempotency-Key`` of its own) and tries again
after a 503 (waiting ``Retry-After``) or a cut connection, as a well-behaved client does. During
the burst, one after the other, with ``kill -9``:

* one gunicorn worker (gunicorn starts another);
* the jobs worker (started again a second later);
* the allocation worker (started again a second later);
* Redis (started again, empty: it keeps nothing on disk);
* PostgreSQL (``pg_ctl restart -m fast``).

Then it waits for every application to be decided and every confirmation sent, and checks, from
the database and the e-mail files (the only truth):

* ``confirmed_lost``: applications a client was told were received (202) that do not exist;
* ``duplicates``: households with more than one application (a retry recorded twice);
* ``overbooked``: places given beyond capacity;
* ``notifications_lost`` / ``notifications_duplicated``: decided families with no e-mail, or more
  than one;
* ``errors_5xx``: answers 500–599 other than a 503 with ``Retry-After``;
* ``recovery_s``: per fault, seconds from the fault to the first application received after it
  was over (a restart done).

Goals: all zero. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import opening_day as od
import queue_path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SETTLE_TIMEOUT_S = 300
RELAY_AGAIN_S = 10  # the outbox's resend delay, shortened so a lost job is sent again within the run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", type=int, default=1500)
    parser.add_argument("--capacity", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=60)
    parser.add_argument("--spacing", type=float, default=1.5, help="seconds between two faults")
    parser.add_argument("--quick", action="store_true", help="300 families, 30 clients")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if args.quick:
        args.families, args.concurrency, args.spacing = 300, 30, 0.7
    return args


# -- the services this run owns ---------------------------------------------------------------------

def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A PostgreSQL cluster of this run's own, on a free port."""

    def __init__(self, folder: Path):
        self.data = folder / "pgdata"
        self.port = od.free_port()
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",  # noqa: S603
                                     "-U", "postgres", "--no-sync"]), check=True, capture_output=True)
        self.log = folder / "postgres.log"
        self.options = f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self.folder = folder

    @property
    def base_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def ctl(self, *args: str) -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),  # noqa: S603
                                     "-o", self.options, "-w", *args]), check=True, capture_output=True)

    def start(self) -> None:
        self.ctl("start")

    def restart_fast(self) -> None:
        self.ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.ctl("stop", "-m", "immediate")


class RedisServer:
    """A Redis of this run's own that keeps nothing on disk (a restart empties it)."""

    def __init__(self, folder: Path):
        self.port = od.free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command
            [REDIS_SERVER, "--port", str(self.port), "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        from redis import Redis
        from redis.exceptions import RedisError

        while time.monotonic() < deadline:
            try:
                Redis.from_url(self.url, socket_connect_timeout=1).ping()
                return
            except RedisError:
                time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Restartable:
    """A long-running command of the application (allocation or jobs worker)."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path):
        self.command, self.env, self.log = command, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.process = subprocess.Popen(self.command, cwd=od.ROOT, env=self.env,  # noqa: S603 - our own CLI
                                        stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


# -- the clients -------------------------------------------------------------------------------------

@dataclass
class Answer:
    """What one family's client was finally told, and everything it saw on the way."""

    application_id: int | None = None
    statuses: list[int] = field(default_factory=list)
    bad_503: int = 0
    cut: int = 0
    received_at: float = 0.0


def send(port: int, family: Any, give_up_at: float) -> Answer:
    """One family's application, sent again after a 503 or a cut connection (same key)."""
    answer = Answer()
    body = json.dumps({
        "service": queue_path.QUEUE_SERVICE, "session": od.SESSION,
        "participants": [{"child_id": family.child_id}],
        "answers": {"group": queue_path.ANSWERS["group"], "allergy": False},
    }).encode()
    headers = {"Authorization": f"Bearer {family.token}", "Content-Type": "application/json",
               "Idempotency-Key": f"faults-{family.index}"}
    while time.monotonic() < give_up_at:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/api/v1/applications", body=body, headers=headers)
            reply = conn.getresponse()
            data = reply.read()
            retry_after = reply.getheader("Retry-After")
            conn.close()
        except (OSError, http.client.HTTPException):
            answer.cut += 1
            time.sleep(0.3)
            continue
        answer.statuses.append(reply.status)
        if reply.status in (201, 202):
            answer.application_id = int(json.loads(data)["application_id"])
            answer.received_at = time.monotonic()
            return answer
        if reply.status == 503:
            if not retry_after:
                answer.bad_503 += 1
            time.sleep(float(retry_after or 1))
            continue
        return answer  # any other answer is final (a 4xx would be the benchmark's own mistake)
    return answer


# -- the run -----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="faults-"))
    if os.geteuid() == 0:
        os.chmod(workdir, 0o755)  # noqa: S103 - the postgres user reaches its cluster inside
    pg, redis = Postgres(workdir / "pg"), RedisServer(workdir)
    processes: list[Any] = []
    try:
        pg.start()
        redis.start()
        db_url = od.recreate_database(pg.base_url, "faults")
        plugins = od.write_plugins(workdir, args.capacity)
        env = od.server_env(db_url, plugins, workdir, "rq", "faults")
        mail = workdir / "mail"
        env.update(INSCRIPTIONS_REDIS_URL=redis.url, INSCRIPTIONS_MAIL_BACKEND="file",
                   INSCRIPTIONS_MAIL_FILE_PATH=str(mail), INSCRIPTIONS_ALLOCATION="worker",
                   INSCRIPTIONS_OUTBOX_RELAY_AGAIN_S=str(RELAY_AGAIN_S))
        od.run_cli(["db", "upgrade"], env)
        od.run_cli(["services", "sync"], env)
        os.environ.update({k: env[k] for k in ("INSCRIPTIONS_SECRET_KEY",)})
        from inscriptions import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "PLUGINS_DIR": plugins, "UPLOAD_DIR": workdir / "up",
                          "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}})
        families, _agent = od.create_families(app, ["api"] * args.families)
        server = od.Server("application", "wsgi:app", env, None, workdir / "gunicorn.log")
        processes.append(server)
        server.wait_ready()
        allocator = Restartable([str(od.INSCRIPTIONS), "allocation", "worker"], env, workdir / "allocator.log")
        jobs = Restartable([str(od.INSCRIPTIONS), "jobs", "worker", "--log-level", "WARNING"], env,
                           workdir / "jobs.log")
        processes += [allocator, jobs]
        allocator.start()
        jobs.start()
        print(f"set-up: {args.families} families, {args.capacity} places, PostgreSQL :{pg.port}, "
              f"Redis :{redis.port}, application :{server.port}", flush=True)

        faults: list[tuple[str, Any]] = [
            ("gunicorn_worker", lambda: os.kill(random.choice(server.worker_pids()), signal.SIGKILL)),
            ("jobs_worker", lambda: (jobs.kill(), time.sleep(1), jobs.start())),
            ("allocation_worker", lambda: (allocator.kill(), time.sleep(1), allocator.start())),
            ("redis", lambda: (redis.kill(), time.sleep(1), redis.start())),
            ("postgresql", pg.restart_fast),
        ]
        injected: dict[str, tuple[float, float]] = {}
        started = time.monotonic()

        def inject() -> None:
            for name, fault in faults:
                time.sleep(args.spacing)
                began = time.monotonic()
                try:
                    fault()
                except Exception as exc:  # the figures say what it did; the run goes on
                    print(f"fault {name}: {exc}", file=sys.stderr)
                injected[name] = (began, time.monotonic())
                print(f"  {name} at {began - started:.1f}s ({injected[name][1] - began:.1f}s)", flush=True)

        injector = threading.Thread(target=inject)
        injector.start()
        give_up_at = time.monotonic() + SETTLE_TIMEOUT_S
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            answers = list(pool.map(lambda f: send(server.port, f, give_up_at), families))
        burst_s = time.monotonic() - started
        injector.join()
        print(f"burst: {sum(a.application_id is not None for a in answers)} of {len(answers)} received in "
              f"{burst_s:.1f}s", flush=True)
        result = settle_and_check(app, args, families, answers, mail, injected)
    finally:
        for process in reversed(processes):
            process.stop()
        redis.kill()
        pg.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result))
    return 0


def settle_and_check(app: Any, args: argparse.Namespace, families: list[Any], answers: list[Answer], mail: Path,
                     injected: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Wait until every application is decided and confirmed (or the timeout), then count."""
    from sqlalchemy import func, select

    from inscriptions.extensions import db
    from inscriptions.models import Application, ApplicationStatus, Registration, Status

    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    with app.app_context():
        while time.monotonic() < deadline:
            owed = db.session.scalar(select(func.count(Application.id)).where(
                (Application.status != ApplicationStatus.DECIDED) | Application.notified_at.is_(None)))
            db.session.commit()
            if not owed:
                break
            time.sleep(1)
        settle_s = SETTLE_TIMEOUT_S - (deadline - time.monotonic())
        received = {a.application_id for a in answers if a.application_id is not None}
        existing = set(db.session.scalars(select(Application.id)))
        per_household = Counter(db.session.scalars(select(Application.household_id)))
        accepted = db.session.scalar(select(func.coalesce(func.sum(Registration.places), 0))
                                     .where(Registration.status == Status.ACCEPTED)) or 0
        undecided = db.session.scalar(select(func.count(Application.id))
                                      .where(Application.status != ApplicationStatus.DECIDED))
        db.session.remove()
    by_household = {f.household_id: f.email for f in families}
    sent = Counter()
    for path in mail.glob("*"):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("To: "):
                sent[line[4:].strip().lower()] += 1
    # Every family whose application was received is owed exactly one e-mail (decided or not).
    received_households = {f.household_id for f, a in zip(families, answers, strict=True) if a.application_id}
    expected = {by_household[h] for h in received_households}
    statuses = Counter(s for a in answers for s in a.statuses)
    errors_5xx = sum(n for s, n in statuses.items() if 500 <= s < 600 and s != 503) + sum(a.bad_503 for a in answers)
    recovery = {}
    for name, (began, ended) in injected.items():
        # From the fault to the first application received after it was over (the restart done).
        after = [a.received_at for a in answers if a.received_at >= ended]
        recovery[name] = round(min(after) - began, 2) if after else None
    result = {
        "families": args.families, "received": len(received),
        "unanswered": sum(a.application_id is None for a in answers),
        "confirmed_lost": len(received - existing), "undecided": undecided,
        "duplicates": sum(1 for n in per_household.values() if n > 1),
        "overbooked": max(0, int(accepted) - args.capacity),
        "notifications_lost": sum(1 for email in expected if sent[email] == 0),
        "notifications_duplicated": sum(1 for email in expected if sent[email] > 1),
        "errors_5xx": errors_5xx, "answers_503": statuses.get(503, 0),
        "connections_cut": sum(a.cut for a in answers), "recovery_s": recovery, "settle_s": round(settle_s, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }
    print(f"checked: {result['received']} received, lost {result['confirmed_lost']}, duplicates "
          f"{result['duplicates']}, overbooked {result['overbooked']}, e-mails lost {result['notifications_lost']} / "
          f"twice {result['notifications_duplicated']}, 5xx {errors_5xx}; recovery {recovery}", flush=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
