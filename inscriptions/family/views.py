"""Views of the family area."""

from flask import Blueprint

bp = Blueprint("family", __name__)
