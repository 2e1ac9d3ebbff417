"""Inscriptions: one registration engine for a town's services, each service a plugin.

:func:`create_app` is the application factory: extensions are created unbound in
:mod:`inscriptions.extensions` and bound here, so tests and CLI commands build their own app.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from inscriptions.settings import PROJECT_ROOT, load_settings

TOWN_KEY = "inscriptions.town"
# The largest id a table holds (PostgreSQL's INTEGER).
MAX_ID = 2_147_483_647


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` in routes, up to :data:`MAX_ID`."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; ``config`` overrides settings read from the environment."""
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    app.config.from_mapping(load_settings(Path(app.instance_path)))
    if config:
        app.config.from_mapping(config)

    from inscriptions.town import load_town

    # Both raise one-line errors: the app refuses to start with a bad town or service file.
    app.extensions[TOWN_KEY] = load_town(Path(app.config["TOWN_FILE"]))
    from inscriptions.definitions.registry import init_registry

    init_registry(app)
    # The allocator listens to the definitions: capacity changes move waiting lists, a draw gets
    # its seed when its definition is synced.
    from inscriptions.allocation import capacity, draws  # noqa: F401

    # Every id in a URL fits the database's integer: a larger one is a 404, not an error of the
    # database (PostgreSQL refuses to compare an INTEGER column with 2**31).
    app.url_map.converters["int"] = BoundedIntConverter
    # Every query string, form field and file name through one check (inscriptions.boundary).
    from inscriptions.boundary import CleanRequest

    app.request_class = CleanRequest
    _init_extensions(app)
    _register_blueprints(app)
    from inscriptions.quick_send import QuickSend
    from inscriptions.web import init_web

    # Inside the proxy fix init_web adds: the send sees the scheme and host the family used.
    app.wsgi_app = QuickSend(app, app.wsgi_app)  # type: ignore[method-assign]
    init_web(app)
    from inscriptions.cli import register_app_commands

    register_app_commands(app)
    return app


def _init_extensions(app: Flask) -> None:
    from inscriptions.database import configure_engine
    from inscriptions.extensions import babel, csrf, db, login_manager, mail, migrate

    db.init_app(app)
    configure_engine(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    mail.init_app(app)
    babel.init_app(app, locale_selector=lambda: "fr")
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"

    from inscriptions.auth.accounts import load_account

    login_manager.user_loader(load_account)


def _register_blueprints(app: Flask) -> None:
    from inscriptions.api.views import bp as api_bp
    from inscriptions.auth.views import bp as auth_bp
    from inscriptions.backoffice.views import bp as backoffice_bp
    from inscriptions.counter.views import bp as counter_bp
    from inscriptions.family.views import bp as family_bp
    from inscriptions.intake.views import bp as intake_bp
    from inscriptions.paper.views import bp as paper_bp
    from inscriptions.portal.applications import bp as applications_bp
    from inscriptions.portal.views import bp as portal_bp
    from inscriptions.privacy.views import bp as privacy_bp
    from inscriptions.reports.views import bp as reports_bp
    from inscriptions.site.views import bp as site_bp

    app.register_blueprint(portal_bp)
    app.register_blueprint(applications_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(family_bp)
    app.register_blueprint(site_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(counter_bp)
    app.register_blueprint(backoffice_bp)
    app.register_blueprint(intake_bp)
    app.register_blueprint(paper_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(privacy_bp)
