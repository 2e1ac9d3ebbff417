"""The floor, for ``bench/opening_day.py``: the least any booking must do on this stack.

``bare_app.py`` measures one ``INSERT`` per request. A booking, by the issue's own terms, must do
more than that whatever the application is: the web family's request carries a signed session
cookie and a CSRF token, the account is loaded (Flask-Login), the place is decided under a lock in
the same transaction as the insert (``SELECT ... FOR UPDATE``, the places held counted from rows),
the confirmation e-mail is a job on RQ, and the web answer redirects to a confirmation page
(post/redirect/get, so a reload never resubmits) that reads the booking back. API and counter
clients send a bearer token, looked up by its hash.

This app does exactly that and nothing else: no form definition, no validation, no household
checks, no history row, no reference number, no waiting-list order, a one-line page, a job that
does nothing. Its bookings per second, divided by the bare inserts per second, is the highest
``ratio`` any application could reach on this stack and machine with the same mix of channels.

Started by the benchmark as::

    gunicorn -c gunicorn.conf.py --pythonpath bench "floor_app:create_floor_app()"

with ``BENCH_BARE_DATABASE_URL`` (its tables made by :func:`create_tables`), ``INSCRIPTIONS_SECRET_KEY``,
``INSCRIPTIONS_REDIS_URL`` and ``BENCH_FLOOR_QUEUE`` (the RQ queue its worker empties).
"""

from __future__ import annotations

import hashlib
import os

from bare_app import pool_options  # the bare app's pool: the same stack
from flask import Flask, abort, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_wtf.csrf import CSRFProtect, generate_csrf
from jinja2 import DictLoader
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import ForeignKey, Integer, String, create_engine, func, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, scoped_session, sessionmaker

CAPACITY_SESSION_ID = 1


class Base(DeclarativeBase):
    pass


class FloorAccount(Base, UserMixin):
    __tablename__ = "floor_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)


class FloorSession(Base):
    __tablename__ = "floor_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)


class FloorBooking(Base):
    __tablename__ = "floor_bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("floor_sessions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("floor_accounts.id"))
    places: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_tables(database_url: str, capacity: int, tokens: list[str]) -> None:
    """The floor's tables, one session of ``capacity`` places, one account per token (ids from 1)."""
    engine = create_engine(database_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(FloorSession), [{"id": CAPACITY_SESSION_ID, "capacity": capacity}])
        conn.execute(insert(FloorAccount), [
            {"id": i + 1, "token_hash": token_hash(token)} for i, token in enumerate(tokens)
        ])
    engine.dispose()


def noop(_booking_id: int) -> None:
    """The confirmation e-mail's job, minus the e-mail: what RQ itself costs per booking."""


PAGE = """<!doctype html><html lang="fr"><title>Demande enregistrée</title>
<p>Demande n° {{ booking.id }} : {{ booking.status }}.</p>
<form method="post" action="{{ url_for('book') }}"><input type="hidden" name="csrf_token" value="{{ csrf }}"></form>"""


def create_floor_app(database_url: str | None = None) -> Flask:
    """The floor application on ``database_url`` (default: ``BENCH_BARE_DATABASE_URL``)."""
    engine = create_engine(database_url or os.environ["BENCH_BARE_DATABASE_URL"], **pool_options())
    Session = scoped_session(sessionmaker(engine))
    queue = Queue(os.environ["BENCH_FLOOR_QUEUE"], connection=Redis.from_url(os.environ["INSCRIPTIONS_REDIS_URL"]),
                  serializer=JSONSerializer)

    app = Flask(__name__)
    app.jinja_loader = DictLoader({"page.html": PAGE})  # compiled once, like any template file
    app.config["SECRET_KEY"] = os.environ["INSCRIPTIONS_SECRET_KEY"]
    CSRFProtect(app)
    login = LoginManager(app)

    @login.user_loader
    def load_account(account_id: str) -> FloorAccount | None:
        return Session.get(FloorAccount, int(account_id))

    def book_for(account_id: int) -> tuple[int, str]:
        # The lock, the count and the insert in one short transaction, as any correct booking must.
        capacity = Session.scalar(
            select(FloorSession.capacity).where(FloorSession.id == CAPACITY_SESSION_ID).with_for_update()
        )
        held = Session.scalar(
            select(func.coalesce(func.sum(FloorBooking.places), 0))
            .where(FloorBooking.session_id == CAPACITY_SESSION_ID, FloorBooking.status == "accepted")
        )
        booking = FloorBooking(session_id=CAPACITY_SESSION_ID, account_id=account_id, places=1,
                               status="accepted" if held < capacity else "waitlisted")
        Session.add(booking)
        Session.flush()
        outcome = booking.id, booking.status  # read before the commit expires them (no SELECT)
        Session.commit()
        queue.enqueue("floor_app.noop", outcome[0])  # after the commit, never under the lock
        return outcome

    @app.get("/")
    def ready() -> ResponseReturnValue:
        return "ok"

    @app.get("/arrive/<int:account_id>")
    def arrive(account_id: int) -> ResponseReturnValue:
        # The arrival (not measured): the family is logged in and holds a page with a CSRF token.
        # No password: the real log-in is the arrival phase's cost, not the booking's, and this
        # app only ever runs inside the benchmark, on its throw-away database.
        account = Session.get(FloorAccount, account_id) or abort(404)
        login_user(account)
        return render_template("page.html", booking=FloorBooking(id=0, status=""), csrf=generate_csrf())

    @app.post("/book")
    @login_required
    def book() -> ResponseReturnValue:
        booking_id, _status = book_for(current_user.id)
        return redirect(url_for("done", booking_id=booking_id))

    @app.get("/done/<int:booking_id>")
    @login_required
    def done(booking_id: int) -> ResponseReturnValue:
        booking = Session.get(FloorBooking, booking_id)
        if booking is None or booking.account_id != current_user.id:
            abort(404)
        return render_template("page.html", booking=booking, csrf=generate_csrf())

    @app.post("/api/book")
    def api_book() -> ResponseReturnValue:
        header = request.headers.get("Authorization", "")
        account_id = Session.scalar(
            select(FloorAccount.id).where(FloorAccount.token_hash == token_hash(header.removeprefix("Bearer ")))
        ) if header.startswith("Bearer ") else None
        if account_id is None:
            abort(401)
        booking_id, status = book_for(account_id)
        return jsonify(id=booking_id, status=status), 201

    # API clients authenticate with a token, not a cookie: no CSRF token to check.
    app.extensions["csrf"].exempt(api_book)

    @app.teardown_appcontext
    def _remove(_exc: BaseException | None) -> None:
        Session.remove()

    return app
