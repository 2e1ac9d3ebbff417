"""Print tokens: what a paper form's QR code and human-readable code say, and how they are checked.

Every printed document gets a :class:`~inscriptions.models.PrintToken` row with a random token.
Each page's QR code holds a fixed-length payload (see ``docs/paper.md``)::

    IN1-IIII-TTTTTTTTTT-PPNN-MMMMMMMM      (33 characters, QR alphanumeric mode)

``IIII``: this instance (town) id, derived from the secret key, so a form printed by another town
running Inscriptions is recognised as foreign; ``T``: the token; ``PP``/``NN``: page number and
page count; ``M``: a truncated HMAC-SHA256 of everything before it, keyed by the secret key, so
a payload cannot be forged or altered. No personal data: any phone can read a QR code.

Under the QR code the page carries a human-readable code an agent can type::

    TTTTT-TTTTT-PP-C

``C`` is a Luhn mod 32 check character over the token and the page: it catches any single
mistyped character and almost every swap of two neighbouring characters.

All codes use Crockford's base-32 alphabet (digits and capitals without I, L, O, U), which reads
and types without ambiguity; typing ``O`` for ``0`` or ``I``/``L`` for ``1`` is forgiven.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import insert, select

from inscriptions.digits import is_digits
from inscriptions.extensions import db
from inscriptions.models import PrintToken

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
# What people type by mistake for a Crockford character.
_TYPING = str.maketrans({"O": "0", "I": "1", "L": "1"})

SCHEME = "IN1"
TOKEN_LENGTH = 10  # 50 random bits
INSTANCE_LENGTH = 4  # 20 bits: enough to tell towns apart, not a secret
MAC_LENGTH = 8  # 40 bits of HMAC-SHA256
MAX_PAGES = 99
PAYLOAD_LENGTH = len(SCHEME) + 1 + INSTANCE_LENGTH + 1 + TOKEN_LENGTH + 1 + 4 + 1 + MAC_LENGTH  # 33
HUMAN_CODE_LENGTH = 16  # TTTTT-TTTTT-PP-C

_TOKEN_CHARS = f"[{ALPHABET}]"
_PAYLOAD = re.compile(
    rf"^{SCHEME}-(?P<instance>{_TOKEN_CHARS}{{{INSTANCE_LENGTH}}})-(?P<token>{_TOKEN_CHARS}{{{TOKEN_LENGTH}}})"
    rf"-(?P<page>\d\d)(?P<total>\d\d)-(?P<mac>{_TOKEN_CHARS}{{{MAC_LENGTH}}})$"
)


class PaperCodeError(Exception):
    """A QR payload or typed code that cannot be used; ``reason`` says why, the message says it to people.

    Reasons: ``malformed`` (not an Inscriptions code, or damaged), ``foreign`` (printed by another
    town or instance), ``forged`` (check code does not match: altered or made up), ``unknown`` (no
    such printed document here), ``page`` (page number out of range), ``typo`` (typed code whose
    check character does not match).
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PagePayload:
    """What a valid QR payload says, before the token is looked up."""

    token: str
    page: int
    total: int


@dataclass(frozen=True)
class PageRef:
    """A page identified by its QR code or typed code: the printed document and the page number."""

    token: PrintToken
    page: int
    total: int


# -- keys ------------------------------------------------------------------------------------------

def _secret() -> bytes:
    # PAPER_SECRET lets a town rotate SECRET_KEY without making its printed forms unreadable.
    secret = current_app.config.get("PAPER_SECRET") or current_app.config["SECRET_KEY"]
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def _derived(purpose: bytes) -> bytes:
    return hmac.new(_secret(), b"inscriptions.paper." + purpose, hashlib.sha256).digest()


def _base32(data: bytes, length: int) -> str:
    number = int.from_bytes(data, "big")
    chars = []
    for _i in range(length):
        chars.append(ALPHABET[number & 31])
        number >>= 5
    return "".join(chars)


def instance_id() -> str:
    """This installation's id in QR payloads: 4 characters derived from the secret key."""
    return _base32(_derived(b"instance"), INSTANCE_LENGTH)


def _mac(body: str) -> str:
    digest = hmac.new(_derived(b"mac"), body.encode("ascii"), hashlib.sha256).digest()
    return _base32(digest, MAC_LENGTH)


# -- tokens ----------------------------------------------------------------------------------------

def new_token() -> str:
    """A random token (50 bits): unguessable, short enough to type."""
    return "".join(secrets.choice(ALPHABET) for _i in range(TOKEN_LENGTH))


def issue_tokens(
    count: int,
    *,
    form_version_id: int,
    pages: int,
    owners: Iterable[tuple[int | None, int | None]] | None = None,
    printed_by_id: int | None = None,
) -> list[str]:
    """Create ``count`` print tokens in one insert (no commit) and return them in order.

    ``owners`` gives ``(household_id, child_id)`` per token for prefilled forms; blank forms
    have none. The caller commits (mass printing commits after each chunk).
    """
    if not 1 <= pages <= MAX_PAGES:
        raise ValueError(f"a document has 1 to {MAX_PAGES} pages, not {pages}")
    owner_list = list(owners) if owners is not None else [(None, None)] * count
    if len(owner_list) != count:
        raise ValueError("one owner per token")
    tokens = [new_token() for _i in range(count)]
    rows = [
        {"token": token, "form_version_id": form_version_id, "household_id": household_id,
         "child_id": child_id, "pages": pages, "printed_by_id": printed_by_id}
        for token, (household_id, child_id) in zip(tokens, owner_list, strict=True)
    ]
    if rows:
        # A clash among 2^50 tokens is not worth a retry loop: the unique constraint would refuse it.
        from inscriptions.clock import utcnow_naive

        now = utcnow_naive()
        for row in rows:
            row["created_at"] = now
        db.session.execute(insert(PrintToken), rows)
    return tokens


# -- QR payload ------------------------------------------------------------------------------------

def payload(token: str, page: int, total: int) -> str:
    """The QR payload of page ``page`` of ``total`` of the document ``token`` (always 33 characters)."""
    if not 1 <= page <= total <= MAX_PAGES:
        raise ValueError(f"page {page} of {total}")
    body = f"{SCHEME}-{instance_id()}-{token}-{page:02d}{total:02d}"
    return f"{body}-{_mac(body)}"


class PayloadSigner:
    """:func:`payload` with the keys computed once (mass printing signs thousands of pages)."""

    def __init__(self) -> None:
        self._prefix = f"{SCHEME}-{instance_id()}-"
        self._key = _derived(b"mac")

    def __call__(self, token: str, page: int, total: int) -> str:
        body = f"{self._prefix}{token}-{page:02d}{total:02d}"
        digest = hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()
        return f"{body}-{_base32(digest, MAC_LENGTH)}"


def decode_payload(text: str) -> PagePayload:
    """Check a QR payload's form, town and HMAC (no database); raise :class:`PaperCodeError`."""
    match = _PAYLOAD.match(text.strip())
    if match is None:
        raise PaperCodeError("malformed", _("This QR code is not a registration form code, or it is damaged."))
    if match["instance"] != instance_id():
        raise PaperCodeError("foreign", _("This form was printed by another town or another installation."))
    body = text.strip()[: -(MAC_LENGTH + 1)]
    if not hmac.compare_digest(match["mac"], _mac(body)):
        raise PaperCodeError("forged", _("The check code of this QR code does not match: it was altered or forged."))
    page, total = int(match["page"]), int(match["total"])
    if not 1 <= page <= total:
        raise PaperCodeError("page", _("This QR code gives an impossible page number."))
    return PagePayload(match["token"], page, total)


def find_token(token: str) -> PrintToken:
    """The printed document with this token; raise :class:`PaperCodeError` when there is none."""
    row = db.session.scalar(select(PrintToken).filter_by(token=token))
    if row is None:
        raise PaperCodeError("unknown", _("No printed form with this code exists here."))
    return row


def parse_payload(text: str) -> PageRef:
    """The document and page a QR payload identifies; raise :class:`PaperCodeError` with a clear message."""
    decoded = decode_payload(text)
    row = find_token(decoded.token)
    if decoded.total != row.pages:
        raise PaperCodeError("page", _("This QR code does not match the printed form it names."))
    return PageRef(row, decoded.page, decoded.total)


# -- human-readable code ---------------------------------------------------------------------------

def check_character(text: str) -> str:
    """Luhn mod 32 check character of ``text`` (Crockford characters)."""
    factor, total = 2, 0
    for char in reversed(text):
        addend = factor * _INDEX[char]
        factor = 1 if factor == 2 else 2
        total += addend // 32 + addend % 32
    return ALPHABET[(32 - total % 32) % 32]


def human_code(token: str, page: int) -> str:
    """The code printed under the QR code, e.g. ``K3M9Q-7TZ2B-01-X``."""
    body = f"{token}{page:02d}"
    return f"{token[:5]}-{token[5:]}-{page:02d}-{check_character(body)}"


def normalise_code(text: str) -> str:
    """A typed code in canonical characters: capitals, no spaces or dashes, typing slips forgiven."""
    return re.sub(r"[\s\-_.]", "", text).upper().translate(_TYPING)


def parse_human_code(text: str) -> tuple[str, int]:
    """``(token, page)`` of a typed human-readable code (no database); raise :class:`PaperCodeError`."""
    code = normalise_code(text)
    if len(code) != TOKEN_LENGTH + 3 or any(c not in _INDEX for c in code) or not is_digits(code[10:12]):
        raise PaperCodeError("malformed", _("A form code has 10 characters, a 2-digit page number and a check "
                                            "character, like K3M9Q-7TZ2B-01-X."))
    if check_character(code[:12]) != code[12]:
        raise PaperCodeError("typo", _("This code has a typing mistake: please check each character."))
    page = int(code[10:12])
    if page < 1:
        raise PaperCodeError("page", _("This code gives an impossible page number."))
    return code[:10], page


def find_by_human_code(text: str) -> PageRef:
    """The document and page an agent typed; raise :class:`PaperCodeError` with a clear message."""
    token, page = parse_human_code(text)
    row = find_token(token)
    if page > row.pages:
        raise PaperCodeError("page", _("This printed form has only %(n)s pages.", n=row.pages))
    return PageRef(row, page, row.pages)
