"""WSGI entry point: ``gunicorn wsgi:app`` (production) or ``flask --app wsgi run``."""

from inscriptions import create_app
from inscriptions.definitions.errors import ServiceDefinitionError
from inscriptions.settings import SettingsError, check_production
from inscriptions.town import TownConfigError

try:
    app = create_app()
    check_production(app.config)
except (ServiceDefinitionError, TownConfigError, SettingsError) as exc:
    # A one-line reason instead of a traceback when a service or town file is wrong.
    raise SystemExit(f"Error: {exc}") from None
