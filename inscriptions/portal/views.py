"""Views of the portal area."""

from flask import Blueprint

bp = Blueprint("portal", __name__)


@bp.get("/")
def index() -> str:
    return "Inscriptions"
