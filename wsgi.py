"""WSGI entry point: ``gunicorn wsgi:app`` (production) or ``flask --app wsgi run``."""

from inscriptions import create_app
from inscriptions.definitions.errors import ServiceDefinitionError
from inscriptions.town import TownConfigError

try:
    app = create_app()
except (ServiceDefinitionError, TownConfigError) as exc:
    # A one-line reason instead of a traceback when a service or town file is wrong.
    raise SystemExit(f"Error: {exc}") from None
