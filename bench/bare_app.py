"""The stack's limit, for ``bench/opening_day.py``: a bare Flask + SQLAlchemy app whose one endpoint
inserts one row and commits.

It runs on the same stack as Inscriptions (gunicorn with the project's ``gunicorn.conf.py``, so the
same workers, threads and database pool; PostgreSQL; SQLAlchemy ORM with ``pool_pre_ping``) and
does nothing else: no session cookie, no template, no log-in. Whatever the real booking path costs
beyond this is the application's own work. Started by the benchmark as::

    gunicorn -c gunicorn.conf.py --pythonpath bench "bare_app:create_bare_app()"

with ``BENCH_BARE_DATABASE_URL`` pointing at a database holding the ``bare_inserts`` table
(``Base.metadata.create_all``, done by the benchmark before it starts the server).
"""

from __future__ import annotations

import datetime as dt
import os

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import DateTime, Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, scoped_session, sessionmaker


class Base(DeclarativeBase):
    pass


class BareInsert(Base):
    __tablename__ = "bare_inserts"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


def pool_options() -> dict[str, object]:
    # The same pool settings as the application (gunicorn.conf.py sets them through raw_env).
    options: dict[str, object] = {"pool_pre_ping": True}
    for env, key in (("INSCRIPTIONS_DB_POOL_SIZE", "pool_size"), ("INSCRIPTIONS_DB_MAX_OVERFLOW", "max_overflow")):
        if os.environ.get(env):
            options[key] = int(os.environ[env])
    return options


def create_bare_app(database_url: str | None = None) -> Flask:
    """The bare application on ``database_url`` (default: ``BENCH_BARE_DATABASE_URL``)."""
    engine = create_engine(database_url or os.environ["BENCH_BARE_DATABASE_URL"], **pool_options())
    Session = scoped_session(sessionmaker(engine))
    app = Flask(__name__)

    @app.get("/")
    def ready() -> ResponseReturnValue:
        return "ok"

    @app.post("/insert")
    def insert() -> ResponseReturnValue:
        row = BareInsert(
            household_id=int(request.form.get("household_id", "0")),
            label=request.form.get("label", "")[:100],
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )
        Session.add(row)
        Session.flush()  # INSERT ... RETURNING id
        new_id = row.id  # read before the commit expires the object (no extra SELECT)
        Session.commit()
        return jsonify(id=new_id), 201

    @app.teardown_appcontext
    def _remove(_exc: BaseException | None) -> None:
        Session.remove()

    return app

