"""The registration form, page by page, on the real canteen definition."""

from __future__ import annotations

import re
from html import unescape

from inscriptions.extensions import db
from inscriptions.models import Draft, Status
from inscriptions.privacy.sealing import is_sealed, unsealed


def _page1(children, *, allergy=None, pai=None):  # type: ignore[no-untyped-def]
    allergy = allergy or ("no",) * len(children)
    pai = pai or ("",) * len(children)
    data = {}
    for child, has_allergy, details in zip(children, allergy, pai, strict=True):
        data[f"c{child.id}-days"] = ["mon", "thu"]
        data[f"c{child.id}-diet"] = "sans_porc"
        data[f"c{child.id}-allergy"] = has_allergy
        data[f"c{child.id}-pai_details"] = details
    return data


PAGE2 = {"pickup-0-name": "Mamie Martin", "pickup-0-phone": "06 12 34 56 78", "rules": "y"}


def test_siblings_registered_in_one_action(client, portal, logged_in):
    lea, tom = logged_in.children
    token = portal.start("cantine", participant=[f"c{lea.id}", f"c{tom.id}"])
    page1 = client.get(f"/inscription/{token}/etape/1").get_data(as_text=True)
    # Each child gets their own questions under a heading with their name.
    assert "Léa Martin</h2>" in page1 and "Tom Martin</h2>" in page1
    assert "Étape 2 sur 4" in page1

    response = portal.page(token, 1, _page1([lea, tom], allergy=("no", "yes"), pai=("", "Arachides")))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/inscription/{token}/etape/2")
    # An unsent PAI is health data too: sealed in the kept draft (inscriptions.privacy.sealing).
    assert "Arachides" not in str(portal.raw_draft_state(token)) and portal.draft_state(token)
    response = portal.page(token, 2, PAGE2)
    assert response.headers["Location"].endswith(f"/inscription/{token}/recapitulatif")

    review = unescape(client.get(f"/inscription/{token}/recapitulatif").get_data(as_text=True))
    assert "Sans porc" in review and "sans_porc" not in review  # labels, not codes
    assert "Lundi, Jeudi" in review
    assert "Arachides" in review and "Mamie Martin" in review
    # QF 600 is in the bracket up to 800: 2,40 € a meal each, 4,80 € together.
    assert review.count("2,40 € par repas") == 2
    assert "4,80 € par repas" in review
    assert "Confirmer l'inscription" in review

    response = portal.confirm(token)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/inscription/{token}/confirmation")
    regs = portal.registrations(logged_in)
    assert [r.child_id for r in regs] == [lea.id, tom.id]
    assert len({r.batch for r in regs}) == 1
    assert all(r.status == Status.ACCEPTED and r.channel == "web" for r in regs)
    assert "pai_details" not in regs[0].answers
    assert is_sealed(regs[1].answers["pai_details"]) and unsealed(regs[1].answers)["pai_details"] == "Arachides"
    assert regs[0].answers["pickup"] == [{"name": "Mamie Martin", "phone": "06 12 34 56 78"}]

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    for reg in regs:
        assert reg.reference in page
    assert "Un e-mail de confirmation vous a été envoyé" in page


def test_double_submit_creates_one_registration(client, portal, logged_in):
    lea, _tom = logged_in.children
    token = portal.start("cantine", participant=[f"c{lea.id}"])
    portal.page(token, 1, _page1([lea]))
    portal.page(token, 2, PAGE2)
    first = portal.confirm(token)
    second = portal.confirm(token)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert len(portal.registrations(logged_in)) == 1
    # The form pages of a submitted draft lead to the confirmation too (no second booking).
    again = client.get(f"/inscription/{token}/etape/1")
    assert again.headers["Location"].endswith(f"/inscription/{token}/confirmation")


def test_replayed_submission_returns_first_outcome(client, portal, logged_in, monkeypatch):
    """Two requests that both passed the draft check (a real double click): the engine replays."""
    from inscriptions.portal import views

    lea = logged_in.children[0]
    token = portal.start("cantine", participant=[f"c{lea.id}"])
    portal.page(token, 1, _page1([lea]))
    portal.page(token, 2, PAGE2)
    portal.confirm(token)
    outcomes = []
    real = views.create_registrations

    def spy(data):  # type: ignore[no-untyped-def]
        outcomes.append(real(data))
        return outcomes[-1]

    monkeypatch.setattr(views, "create_registrations", spy)
    draft = db.session.scalar(db.select(Draft).filter_by(token=token))
    batch = draft.submitted_batch
    # The second request read the draft before the first one committed.
    monkeypatch.setattr(views.Wizard, "__init__", _wizard_seeing_unsubmitted(views.Wizard.__init__))
    response = portal.confirm(token)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith(f"/inscription/{token}/confirmation")
    assert outcomes and outcomes[0].replayed and outcomes[0].batch == batch
    assert len(portal.registrations(logged_in)) == 1


def _wizard_seeing_unsubmitted(init):  # type: ignore[no-untyped-def]
    def patched(self, draft, household, service):  # type: ignore[no-untyped-def]
        init(self, draft, household, service)
        self.draft = _Unsubmitted(draft)

    return patched


class _Unsubmitted:
    """A draft as read just before another request submitted it."""

    def __init__(self, draft):  # type: ignore[no-untyped-def]
        self._draft = draft

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return None if name == "submitted_batch" else getattr(self._draft, name)


def test_back_navigation_keeps_every_answer(client, portal, logged_in):
    lea, tom = logged_in.children
    token = portal.start("cantine", participant=[f"c{lea.id}", f"c{tom.id}"])
    portal.page(token, 1, _page1([lea, tom], allergy=("yes", "no"), pai=("Gluten", "")))
    # Page 2 half filled, then "Previous": saved without any check.
    response = portal.page(token, 2, {"pickup-0-name": "Mamie", "pickup-0-phone": "12"}, action="previous")
    assert response.headers["Location"].endswith(f"/inscription/{token}/etape/1")
    page1 = client.get(f"/inscription/{token}/etape/1").get_data(as_text=True)
    assert re.search(rf'id="c{lea.id}-days-0"[^>]*checked|checked[^>]*id="c{lea.id}-days-0"', page1)
    assert re.search(rf'checked[^>]*id="c{lea.id}-diet-1"|id="c{lea.id}-diet-1"[^>]*checked', page1)
    assert "Gluten" in page1
    page2 = client.get(f"/inscription/{token}/etape/2").get_data(as_text=True)
    assert 'value="Mamie"' in page2 and 'value="12"' in page2
    # "Previous" on the first page goes back to the choice of children, still ticked.
    response = portal.page(token, 1, _page1([lea, tom], allergy=("yes", "no"), pai=("Gluten", "")),
                           action="previous")
    assert f"/services/cantine/inscription?brouillon={token}" in response.headers["Location"]
    start = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(rf'value="c{tom.id}" id="participant-c{tom.id}" checked', start)
    # Continuing from there keeps the same draft and its answers.
    again = client.post("/services/cantine/inscription",
                        data={"participant": [f"c{lea.id}", f"c{tom.id}"], "brouillon": token})
    assert portal.token_of(again) == token
    assert portal.draft_state(token)["each"][f"c{lea.id}"]["pai_details"] == "Gluten"


def test_conditional_field_required_only_when_shown(client, portal, logged_in):
    lea = logged_in.children[0]
    token = portal.start("cantine", participant=[f"c{lea.id}"])
    page = client.get(f"/inscription/{token}/etape/1").get_data(as_text=True)
    # Without JavaScript the condition is written next to the question.
    assert "Seulement si vous avez répondu « Oui » à la question « Votre enfant a-t-il une allergie" in page
    assert f'data-show-if="c{lea.id}-allergy" data-show-if-values="yes"' in page

    response = portal.page(token, 1, _page1([lea], allergy=("yes",)))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'class="error-summary"' in html
    assert f'href="#c{lea.id}-pai_details"' in html
    assert f'id="c{lea.id}-pai_details-error"' in html
    assert re.search(rf'aria-describedby="[^"]*c{lea.id}-pai_details-error"', html)
    assert "<title>Erreur :" in html

    # "No" allergy: the details are not asked and what was typed there is not kept.
    response = portal.page(token, 1, _page1([lea], allergy=("no",), pai=("typed by mistake",)))
    assert response.status_code == 302
    portal.page(token, 2, PAGE2)
    portal.confirm(token)
    (reg,) = portal.registrations(logged_in)
    assert unsealed(reg.answers)["allergy"] is False and "pai_details" not in reg.answers


def test_errors_show_everything_typed(client, portal, logged_in):
    lea, tom = logged_in.children
    token = portal.start("cantine", participant=[f"c{lea.id}", f"c{tom.id}"])
    data = _page1([lea, tom])
    data[f"c{tom.id}-days"] = []  # at least one day is required
    response = portal.page(token, 1, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'href="#c{tom.id}-days-0"' in html and "Tom Martin – Jours de cantine" in html
    # Léa's answers and Tom's other answers are still there.
    assert re.search(rf'checked[^>]*id="c{lea.id}-days-0"|id="c{lea.id}-days-0"[^>]*checked', html)
    assert re.search(rf'checked[^>]*id="c{tom.id}-diet-1"|id="c{tom.id}-diet-1"[^>]*checked', html)
    # Nothing is lost even after a reload.
    assert portal.draft_state(token)["each"][f"c{lea.id}"]["days"] == ["mon", "thu"]
    assert portal.draft_state(token)["reached"] == 0

    portal.page(token, 1, _page1([lea, tom]))
    response = portal.page(token, 2, {"pickup-0-name": "Mamie", "pickup-0-phone": "123", "rules": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="Mamie"' in html and 'value="123"' in html
    assert 'href="#pickup-0-phone"' in html and 'href="#rules"' in html
    assert "Numéro de téléphone non valide" in html
    assert "Personne 1 – Téléphone" in html


def test_group_rows_move_up_so_errors_match(client, portal, logged_in):
    lea = logged_in.children[0]
    token = portal.start("cantine", participant=[f"c{lea.id}"])
    portal.page(token, 1, _page1([lea]))
    response = portal.page(token, 2, {"pickup-2-name": "Oncle Paul", "pickup-2-phone": "bad", "rules": "y"})
    html = response.get_data(as_text=True)
    # The only row filled was the third: it is shown as the first, with its error.
    assert re.search(r'id="pickup-0-name"[^>]*value="Oncle Paul"', html)
    assert 'href="#pickup-0-phone"' in html


def test_pages_are_answered_in_order(client, portal, logged_in):
    lea = logged_in.children[0]
    token = portal.start("cantine", participant=[f"c{lea.id}"])
    assert client.get(f"/inscription/{token}/etape/2").headers["Location"].endswith("/etape/1")
    assert client.get(f"/inscription/{token}/recapitulatif").headers["Location"].endswith("/etape/1")
    assert client.get(f"/inscription/{token}/etape/3").status_code == 404
    assert client.get(f"/inscription/{token}/etape/0").status_code == 404


def test_copy_answers_to_the_other_children(client, portal, logged_in):
    lea, tom = logged_in.children
    token = portal.start("cantine", participant=[f"c{lea.id}", f"c{tom.id}"])
    data = _page1([lea], allergy=("no",))
    response = portal.page(token, 1, data, action="copy")
    assert response.headers["Location"].endswith(f"/inscription/{token}/etape/1")
    state = portal.draft_state(token)
    assert state["each"][f"c{tom.id}"]["days"] == ["mon", "thu"]
    assert state["each"][f"c{tom.id}"]["diet"] == "sans_porc"


def test_save_and_finish_later(client, portal, logged_in):
    lea = logged_in.children[0]
    token = portal.start("cantine", participant=[f"c{lea.id}"])
    response = portal.page(token, 1, {f"c{lea.id}-diet": "standard"}, action="save")
    assert response.headers["Location"].endswith("/mes-inscriptions")
    page = client.get("/mes-inscriptions").get_data(as_text=True)
    assert "Inscriptions à terminer" in page and f"/inscription/{token}/etape/1" in page
    assert portal.draft_state(token)["each"][f"c{lea.id}"]["diet"] == "standard"


def test_review_sends_back_to_a_page_that_became_invalid(client, portal, logged_in):
    lea = logged_in.children[0]
    token = portal.start("cantine", participant=[f"c{lea.id}"])
    portal.page(token, 1, _page1([lea]))
    portal.page(token, 2, PAGE2)
    # Going back and breaking page 1 with "Previous" (no check) cannot reach the booking.
    portal.page(token, 1, {f"c{lea.id}-diet": "standard"}, action="previous")
    response = client.get(f"/inscription/{token}/recapitulatif")
    assert response.headers["Location"].endswith(f"/inscription/{token}/etape/1?verifier=1")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'href="#c{lea.id}-days-0"' in html
    assert portal.confirm(token).status_code == 302
    assert portal.registrations(logged_in) == []


def test_refusal_is_shown_on_the_review_page(client, portal, logged_in, frozen_clock):
    import datetime as dt

    lea = logged_in.children[0]
    token = portal.start("cantine", participant=[f"c{lea.id}"])
    portal.page(token, 1, _page1([lea]))
    portal.page(token, 2, PAGE2)
    # Registration closes while the family is on the review page.
    frozen_clock(dt.datetime(2027, 7, 1, 8, 0, tzinfo=dt.UTC))
    response = portal.confirm(token)
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 409
    assert "Les inscriptions à ce service ne sont pas ouvertes." in html
    assert "Rien n'est perdu" in html
    assert portal.registrations(logged_in) == []
    assert portal.draft_state(token)["reached"] == 2
