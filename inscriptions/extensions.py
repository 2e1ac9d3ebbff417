"""Flask extensions, created unbound and bound to the app in :func:`inscriptions.create_app`."""

from flask_babel import Babel
from flask_login import LoginManager
from flask_mailman import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, Table, event
from sqlalchemy.orm import DeclarativeBase

# Deterministic constraint names keep Alembic autogenerate and SQLite batch migrations stable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


@event.listens_for(Table, "after_parent_attach")
def _ids_never_reused(table: Table, parent: object) -> None:
    """Give every table of the models SQLite's ``AUTOINCREMENT``.

    Without it SQLite hands out ``max(id) + 1``: after the family with the highest id is deleted,
    the next one gets its id, and with it whatever still refers to that id (the audit journal, a
    family's access history). PostgreSQL's sequences never go back, so the option only changes
    SQLite's DDL. Set here, on every table attached to the models' metadata, so that no model can
    forget it (migration e6c3a9d1f5b7 rebuilt the existing SQLite tables the same way).
    """
    if parent is Base.metadata:
        table.dialect_options["sqlite"]["autoincrement"] = True


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
mail = Mail()
