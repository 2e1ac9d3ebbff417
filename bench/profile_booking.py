"""Where a booking's time goes (not a test): SQL statements and CPU per request, in process.

Run (PostgreSQL on 127.0.0.1:5432, user ``postgres``, by default)::

    .venv/bin/python bench/profile_booking.py                  # 200 families per channel
    .venv/bin/python bench/profile_booking.py --profile web    # and cProfile of the web booking
    .venv/bin/python bench/profile_booking.py --statements     # and every SQL statement of one booking

It sets up the same database, service and families as ``bench/opening_day.py`` (its own database,
``--db-name``, dropped at the end), builds the application in this process and, through Flask's
test client (no HTTP server: what is left is the application's own work), has each family

* **web**: log in and fill the form up to the review page (not measured), then the measured part:
  the review page's confirmation POST, and the GET of the confirmation page it redirects to;
* **counter** / **api**: the measured ``POST /api/v1/registrations`` with the agent's or the
  family's token;
* **web send** (the queue, ``INSCRIPTIONS_ALLOCATION=worker``): each web family also prepares an
  application on the queue's service (not measured), then the measured opening-morning request
  ``POST /demandes/<id>/envoyer``;
* **bare insert** (the stack's limit, as ``bench/opening_day.py``'s bare app): ``bench/bare_app.py``
  built in this process, one ``POST /insert`` per web family.

Printed per request kind: SQL statements (an SQLAlchemy ``before_cursor_execute`` listener, so
``BEGIN``/``COMMIT`` are not counted; ``SET LOCAL`` is) and CPU milliseconds of this process
(``time.process_time``: no server, no client threads, so it is the request's own cost). The first
places are accepted, later ones waitlisted, as on an opening morning (``--capacity``). The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import opening_day as od  # the sibling benchmark's set-up helpers


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", type=int, default=200, help="families per channel")
    parser.add_argument("--capacity", type=int, default=100, help="places in the one session")
    parser.add_argument("--db-name", default="bench_profile_booking", help="database created (and dropped)")
    parser.add_argument("--profile", choices=["web", "confirm", "page", "counter", "api", "send"], default=None,
                        help="print a cProfile of this request kind (web = POST + GET; confirm = the POST, "
                             "page = the confirmation GET)")
    parser.add_argument("--callees", action="append", default=[], metavar="FUNCTION",
                        help="with --profile: also print what FUNCTION (a pstats pattern) calls")
    parser.add_argument("--by-package", action="store_true",
                        help="with --profile: CPU (own time) summed per package instead of the function lists")
    parser.add_argument("--statements", action="store_true", help="print the SQL of one web booking")
    parser.add_argument("--jobs-backend", default="inline", choices=["inline", "rq"],
                        help="where the confirmation e-mail is built (rq: only queued here)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    return parser.parse_args(argv)


class StatementCounter:
    """Counts (and optionally keeps) the SQL statements sent by the application's engine."""

    def __init__(self, engine: Any):
        from sqlalchemy import event

        self.count = 0
        self.keep = False
        self.kept: list[str] = []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += 1
        if self.keep:
            self.kept.append(" ".join(statement.split())[:240])


class Client:
    """A test client with the family's cookies, following redirects like the benchmark."""

    def __init__(self, app: Any):
        self.client = app.test_client()

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def post(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(path, data=data)


def csrf(html: str) -> str:
    return od.csrf_token(html)


def arrive(app: Any, family: od.Family, client: Client | None = None, service: str = od.SERVICE) -> Client:
    """Log in and fill the form up to the review page (as the benchmark's arrival phase)."""
    if client is None:
        client = Client(app)
        page = client.get("/connexion")
        reply = client.post("/connexion", {"csrf_token": csrf(page.get_data(as_text=True)),
                                           "email": family.email, "password": od.PASSWORD})
        assert reply.status_code == 302, reply.status_code
    start_path = f"/services/{service}/inscription"
    page = client.get(start_path)
    reply = client.post(start_path, {"csrf_token": csrf(page.get_data(as_text=True)),
                                     "participant": f"c{family.child_id}", "session": od.SESSION})
    assert reply.status_code == 302, reply.status_code
    page = client.get(reply.headers["Location"])
    action = re.search(r'action="(/inscription/[0-9a-f]+/etape/1)"', page.get_data(as_text=True))
    assert action is not None
    prefix = f"c{family.child_id}-"
    reply = client.post(action.group(1), {"csrf_token": csrf(page.get_data(as_text=True)), "_action": "next",
                                          **{prefix + k: v for k, v in od.ANSWERS.items()}})
    assert reply.status_code == 302, reply.status_code
    page = client.get(reply.headers["Location"])
    text = page.get_data(as_text=True)
    review = re.search(r'action="(/inscription/[0-9a-f]+/recapitulatif)"', text)
    assert review is not None
    family.review_path = review.group(1)
    family.csrf = csrf(text)
    return client


def prepare(app: Any, family: od.Family, client: Client) -> None:
    """The queue's service: fill its form and prepare the application (the send is measured)."""
    arrive(app, family, client, od.queue_path.QUEUE_SERVICE)
    reply = client.post(family.review_path.replace("/recapitulatif", "/preparer"), {"csrf_token": family.csrf})
    assert reply.status_code == 303 and "/demandes/" in reply.headers["Location"], reply.status_code
    family.application_path = reply.headers["Location"].split("://", 1)[-1].split("/", 1)[-1]
    family.application_path = "/" + family.application_path.lstrip("/")
    family.csrf = csrf(client.get(family.application_path).get_data(as_text=True))


PROFILED_KIND = {"web": "web confirm POST", "confirm": "web confirm POST", "page": "web confirmation GET",
                 "counter": "counter POST", "api": "api POST", "send": "web send POST"}


def package_of(filename: str) -> str:
    """The distribution a profiled function belongs to: site-packages' top folder, the project's
    module path, or the standard library."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/inscriptions/" in filename:
        return "inscriptions/" + filename.split("/inscriptions/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/plugins/" in filename:
        return "plugins"
    return "stdlib / builtins"


def print_by_package(stats: pstats.Stats, requests: int) -> None:
    """Own CPU time per package, per profiled request: where the booking's time really goes."""
    totals: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        totals[package_of(filename)] = totals.get(package_of(filename), 0.0) + tottime
    print(f"\n{'package':<34} {'ms per request':>15}")
    for package, seconds in sorted(totals.items(), key=lambda item: -item[1])[:25]:
        print(f"{package:<34} {seconds * 1000 / requests:>15.2f}")


def measure(samples: dict[str, list[tuple[int, float]]], counter: StatementCounter, kind: str,
            action: Callable[[], Any]) -> Any:
    before_sql, before_cpu = counter.count, time.process_time()
    result = action()
    samples.setdefault(kind, []).append((counter.count - before_sql, (time.process_time() - before_cpu) * 1000))
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base_url = os.environ.get("BENCH_DATABASE_URL", od.DEFAULT_BASE_URL).rstrip("/")
    workdir = Path(tempfile.mkdtemp(prefix="profile_booking_"))
    od_args = argparse.Namespace(
        db_name=args.db_name, capacity=args.capacity, attempts=3 * args.families,
        shares={"web": 1 / 3, "counter": 1 / 3, "api": 1 / 3}, seed=2026, jobs_backend=args.jobs_backend,
    )
    queue = None
    try:
        app, env, families, agent_token = od.set_up(od_args, base_url, workdir)
        app.config.update(JOBS_BACKEND=args.jobs_backend, JOBS_QUEUE=env["INSCRIPTIONS_JOBS_QUEUE"],
                          REDIS_URL=env["INSCRIPTIONS_REDIS_URL"], MAIL_BACKEND="dummy",
                          **{key: env[f"INSCRIPTIONS_{key}"] for key in (
                              "LOGIN_LIMIT_PER_IP", "SIGNUP_LIMIT_PER_IP", "RESET_LIMIT_PER_IP")})
        if args.jobs_backend == "rq":
            from inscriptions.jobs import job_queue

            queue = job_queue(app)  # no worker here: the jobs are only queued, and dropped at the end
        from inscriptions.extensions import db

        with app.app_context():
            counter = StatementCounter(db.engine)

        web = [f for f in families if f.channel == "web"]
        clients = {f.index: arrive(app, f) for f in web}
        others = [f for f in families if f.channel != "web"]
        order = web + others
        random.Random(1).shuffle(order)
        samples: dict[str, list[tuple[int, float]]] = {}
        # CPU time, not wall time: waiting for PostgreSQL is not the application's cost.
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        # The statements of each channel's last booking (a typical one: waitlisted, warm caches).
        last_statements: dict[str, list[str]] = {}
        counter.keep = args.statements
        api_client = app.test_client()

        for family in order:
            counter.kept = []
            if family.channel == "web":
                client = clients[family.index]
                if profiler and args.profile in ("web", "confirm"):
                    profiler.enable()
                reply = measure(samples, counter, "web confirm POST", lambda c=client, f=family: c.post(
                    f.review_path, {"csrf_token": f.csrf}))
                if profiler and args.profile == "confirm":
                    profiler.disable()
                assert reply.status_code == 302 and "/confirmation" in reply.headers["Location"], reply.status_code
                if profiler and args.profile == "page":
                    profiler.enable()
                page = measure(samples, counter, "web confirmation GET",
                               lambda c=client, r=reply: c.get(r.headers["Location"]))
                if profiler and args.profile in ("web", "page"):
                    profiler.disable()
                assert page.status_code == 200
            else:
                token = family.token if family.channel == "api" else agent_token
                payload: dict[str, Any] = {
                    "service": od.SERVICE, "session": od.SESSION,
                    "participants": [{"child_id": family.child_id}],
                    "answers": {"group": od.ANSWERS["group"], "allergy": False},
                }
                if family.channel == "counter":
                    payload["household_id"] = family.household_id
                if profiler and args.profile == family.channel:
                    profiler.enable()
                reply = measure(samples, counter, f"{family.channel} POST", lambda p=payload, t=token, f=family:
                                api_client.post("/api/v1/registrations", json=p, headers={
                                    "Authorization": f"Bearer {t}", "Idempotency-Key": f"profile-{f.index}"}))
                if profiler and args.profile == family.channel:
                    profiler.disable()
                assert reply.status_code == 201, (reply.status_code, reply.get_data(as_text=True)[:300])
            last_statements[family.channel] = counter.kept

        # The queue: every web family prepares, then sends (worker mode: the request only numbers it).
        for family in web:
            prepare(app, family, clients[family.index])
        app.config["ALLOCATION"] = "worker"
        for family in web:
            counter.kept = []
            if profiler and args.profile == "send":
                profiler.enable()
            reply = measure(samples, counter, "web send POST", lambda c=clients[family.index], f=family: c.post(
                f"{f.application_path}/envoyer", {"csrf_token": f.csrf}))
            if profiler and args.profile == "send":
                profiler.disable()
            assert reply.status_code == 303, reply.status_code
            last_statements["web send"] = counter.kept

        # The stack's limit in the same process: bench/bare_app.py's one INSERT and commit (its own
        # engine: its statement is not counted).
        from bare_app import create_bare_app

        bare = create_bare_app(env["INSCRIPTIONS_DATABASE_URL"]).test_client()
        for family in web:
            reply = measure(samples, counter, "bare insert POST", lambda f=family: bare.post(
                "/insert", data={"household_id": str(f.household_id), "label": "bench"}))
            assert reply.status_code == 201, reply.status_code

        for channel, statements in last_statements.items() if args.statements else ():
            what = " (confirm POST + confirmation GET)" if channel == "web" else ""
            print(f"SQL of the last {channel} booking{what}:")
            for number, statement in enumerate(statements, 1):
                print(f"  {number:>2}. {statement}")

        summary: dict[str, Any] = {}
        print(f"{'request':<22} {'n':>5} {'SQL':>6} {'CPU ms p50':>11} {'CPU ms mean':>12}")
        for kind, values in samples.items():
            sql = statistics.fmean(v[0] for v in values)
            cpu = [v[1] for v in values]
            summary[kind] = {"n": len(values), "sql": round(sql, 1), "cpu_ms_p50": round(statistics.median(cpu), 2),
                             "cpu_ms_mean": round(statistics.fmean(cpu), 2)}
            print(f"{kind:<22} {len(values):>5} {sql:>6.1f} {statistics.median(cpu):>11.2f} "
                  f"{statistics.fmean(cpu):>12.2f}")
        web_sql = summary["web confirm POST"]["sql"] + summary["web confirmation GET"]["sql"]
        web_cpu = summary["web confirm POST"]["cpu_ms_mean"] + summary["web confirmation GET"]["cpu_ms_mean"]
        summary["web booking"] = {"sql": round(web_sql, 1), "cpu_ms_mean": round(web_cpu, 2)}
        print(f"web booking (POST + GET): {web_sql:.1f} SQL statements, {web_cpu:.2f} ms CPU")
        if profiler and args.by_package:
            print_by_package(pstats.Stats(profiler), len(samples[PROFILED_KIND[args.profile]]))
        elif profiler:
            print()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            for name in args.callees:
                pstats.Stats(profiler).sort_stats("cumulative").print_callees(name)
        print(json.dumps(summary))
    finally:
        if queue is not None:
            queue.delete(delete_jobs=True)
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep:
            od.drop_database(base_url, args.db_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
