"""Print tokens: fixed-length signed QR payloads, foreign and forged codes refused, typed codes checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import PrintToken
from inscriptions.paper import tokens as T


def issue(pages: int = 2, owners: list[tuple[int | None, int | None]] | None = None) -> list[str]:
    version = current_version(registry().get("cantine"))
    issued = T.issue_tokens(len(owners) if owners else 1, form_version_id=version.id, pages=pages, owners=owners)
    db.session.commit()
    return issued


def test_payload_has_a_fixed_length_and_no_personal_data(app: Any, make_household: Callable[..., Any]) -> None:
    household = make_household(last_name="Dupont")
    (token,) = issue(pages=12, owners=[(household.id, household.children[0].id)])
    payloads = [T.payload(token, page, 12) for page in range(1, 13)] + [T.payload(T.new_token(), 1, 1)]
    assert {len(p) for p in payloads} == {T.PAYLOAD_LENGTH} == {33}
    qr_alphanumeric = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert all(set(p) <= qr_alphanumeric for p in payloads)
    # Only the scheme, this town's id, the random token, the page numbers and the check code.
    assert all(p.split("-")[2] == token and "DUPONT" not in p.upper() for p in payloads[:12])
    # Signing many pages at once gives the same payloads.
    signer = T.PayloadSigner()
    assert [signer(token, page, 12) for page in range(1, 13)] == payloads[:12]


def test_a_payload_names_its_document_and_page(app: Any, make_household: Callable[..., Any]) -> None:
    household = make_household()
    (token,) = issue(pages=3, owners=[(household.id, household.children[0].id)])
    ref = T.parse_payload(T.payload(token, 2, 3))
    assert (ref.token.token, ref.page, ref.total) == (token, 2, 3)
    assert (ref.token.household_id, ref.token.child_id) == (household.id, household.children[0].id)
    row = db.session.scalar(select(PrintToken).filter_by(token=token))
    assert row is not None and row.pages == 3 and row.form_version_id == ref.token.form_version_id


def reason(text: str) -> str:
    with pytest.raises(T.PaperCodeError) as caught:
        T.parse_payload(text)
    assert str(caught.value)  # a sentence for the agent
    return caught.value.reason


def test_bad_payloads_are_refused_with_a_reason(app: Any, make_app: Callable[..., Any]) -> None:
    (token,) = issue(pages=2)
    good = T.payload(token, 1, 2)
    assert T.parse_payload(good).page == 1
    assert reason("https://example.org/") == "malformed"
    assert reason(good[:-1]) == "malformed"
    # Another character in the check code, or a page number changed by hand: forged.
    last = good[-1]
    assert reason(good[:-1] + ("0" if last != "0" else "1")) == "forged"
    assert reason(good.replace("-0102-", "-0202-")) == "forged"
    # A well-signed code for a document this town never printed.
    assert reason(T.payload("0123456789", 1, 2)) == "unknown"
    # A page count that does not match the document.
    assert reason(T.payload(token, 1, 5)) == "page"
    # Another town (another secret key) printing its own forms.
    other = make_app(SECRET_KEY="another-town-secret")
    with other.app_context():
        foreign = T.payload(token, 1, 2)
        assert T.instance_id() != ""
    assert foreign.split("-")[1] != T.instance_id()
    assert reason(foreign) == "foreign"


def test_paper_secret_keeps_codes_valid_when_the_secret_key_changes(app: Any, make_app: Callable[..., Any]) -> None:
    (token,) = issue(pages=1)
    with make_app(SECRET_KEY="old", PAPER_SECRET="paper-secret").app_context():
        printed = T.payload(token, 1, 1)
    with make_app(SECRET_KEY="rotated", PAPER_SECRET="paper-secret").app_context():
        assert T.parse_payload(printed).page == 1


def test_the_check_character_catches_every_single_typo(app: Any) -> None:
    token = "K3M9Q7TZ2B"
    code = T.human_code(token, 7)
    assert code == f"K3M9Q-7TZ2B-07-{code[-1]}" and len(code) == T.HUMAN_CODE_LENGTH
    assert T.parse_human_code(code) == (token, 7)
    # Typed loosely: lower case, spaces, O for zero, L for one.
    assert T.parse_human_code(code.lower().replace("-", " ").replace("0", "o")) == (token, 7)
    compact = T.normalise_code(code)
    for position in range(len(compact)):
        for char in T.ALPHABET:
            if char == compact[position]:
                continue
            typo = compact[:position] + char + compact[position + 1 :]
            with pytest.raises(T.PaperCodeError) as caught:
                T.parse_human_code(typo)
            assert caught.value.reason in ("typo", "malformed", "page")
    # Swapped neighbours are caught too (Luhn mod 32 misses only very few pairs).
    swaps = [compact[:i] + compact[i + 1] + compact[i] + compact[i + 2 :] for i in range(len(compact) - 1)
             if compact[i] != compact[i + 1]]
    caught_swaps = 0
    for swapped in swaps:
        try:
            T.parse_human_code(swapped)
        except T.PaperCodeError:
            caught_swaps += 1
    assert caught_swaps == len(swaps)


def test_a_typed_code_finds_the_document(app: Any) -> None:
    (token,) = issue(pages=2)
    ref = T.find_by_human_code(T.human_code(token, 2))
    assert (ref.token.token, ref.page, ref.total) == (token, 2, 2)
    with pytest.raises(T.PaperCodeError) as caught:
        T.find_by_human_code(T.human_code(token, 3))
    assert caught.value.reason == "page"
    with pytest.raises(T.PaperCodeError) as caught:
        T.find_by_human_code(T.human_code("ZZZZZZZZZZ", 1))
    assert caught.value.reason == "unknown"
    with pytest.raises(T.PaperCodeError) as caught:
        T.find_by_human_code("ABC")
    assert caught.value.reason == "malformed"
