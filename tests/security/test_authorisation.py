"""Every URL rule of the application, requested by every role: the expected allow / deny.

:data:`ACCESS` holds one entry per endpoint: how to build its URL against a fixed world (two
families A and B, staff of the canteen "X" and of the swimming pool "Y") and which roles are let
in. The targets are always **family B's** objects and **service X**, so parent A asking for B's
child, registration, draft or document, and the agent of Y asking for X's registrations, are
checked on every route that takes an id.

``test_every_endpoint_is_in_the_table`` fails when the application has an endpoint the table does
not cover: a new route cannot ship without its access rule being written down here.

Outcomes: a role that is let in must not get 401/403, nor be sent to the log-in page, nor (unless
the entry says the target may be missing) get a 404. A role that is kept out must get a 401, a 403,
a 404 (another family's id is "not found"), or, when anonymous, the log-in page. Nobody gets a 5xx.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from inscriptions.api.tokens import issue_token
from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import Account, Child, Draft, Guardian, Household, PrintToken, Upload
from inscriptions.permissions import grant_role
from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations

PG_URL = os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL")
ROLES = ("anonymous", "parent_a", "parent_b", "agent_x", "agent_y", "manager_x", "admin", "dpo")
PASSWORD = "correct horse battery staple"
CANTEEN_ANSWERS = {"days": ["mon", "tue"], "diet": "standard", "allergy": False, "rules": True}

# Who is let in, by rule name (the "expected access rule" of each endpoint).
EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
PARENTS = frozenset({"parent_a", "parent_b"})
OWNER_B = frozenset({"parent_b"})
COUNTER = frozenset({"agent_x", "agent_y", "manager_x", "admin"})  # search_households: town-wide
SERVICE_X = frozenset({"agent_x", "manager_x", "admin"})  # per-service staff permission on X
MANAGERS_X = frozenset({"manager_x", "admin"})  # export_registrations, print_paper_forms
BACKOFFICE = COUNTER | {"dpo"}  # use_backoffice
DPO = frozenset({"dpo"})


@dataclass
class World:
    """Ids and tokens of the fixed data every request is built against."""

    household_a: int = 0
    household_b: int = 0
    child_b: int = 0
    guardian_b: int = 0
    reference_a: str = ""
    reference_b: str = ""
    batch_b: str = ""
    application_b: int = 0
    # The canteen allocator's run that decided B's application.
    run_b: int = 0
    draft_b: str = ""
    submitted_draft_b: str = ""
    upload_b: str = ""
    print_token_b: str = ""
    reset_token_b: str = ""
    signup_token: str = ""
    accounts: dict[str, int] = field(default_factory=dict)
    # Flask-Login's session id of each account (``Account.get_id()``: id and password fingerprint).
    login_ids: dict[str, str] = field(default_factory=dict)
    api_tokens: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """The URL of an endpoint in :class:`World`, who is let in, and how to call it."""

    url: Callable[[World], str]
    allowed: frozenset[str]
    # The target may not exist for a role that is let in (e.g. a scan page id): 404 is then fine,
    # the check is that the access gate (401/403/log-in) is passed or not.
    may_be_missing: bool = False
    api: bool = False
    data: Callable[[World], dict[str, Any]] | None = None


def _url(template: str) -> Callable[[World], str]:
    return lambda w: template.format(w=w)


MISSING = 999_999

ACCESS: dict[str, Rule] = {
    # -- public pages ---------------------------------------------------------------------------
    "static": Rule(_url("/static/css/site.css"), EVERYONE),
    "town_logo": Rule(_url("/logo"), EVERYONE),
    "site.theme_css": Rule(_url("/theme.css"), EVERYONE),
    "site.accessibility": Rule(_url("/accessibilite"), EVERYONE),
    "site.legal_notice": Rule(_url("/mentions-legales"), EVERYONE),
    "site.personal_data": Rule(_url("/donnees-personnelles"), EVERYONE),
    "portal.index": Rule(_url("/"), EVERYONE),
    "portal.service": Rule(_url("/services/cantine"), EVERYONE),
    # Public; only for a service that decides by a draw (the canteen does not: 404).
    "portal.draw_page": Rule(_url("/services/cantine/tirage"), EVERYONE, may_be_missing=True),
    # -- accounts -------------------------------------------------------------------------------
    "auth.login": Rule(_url("/connexion"), EVERYONE),
    "auth.signup": Rule(_url("/compte/creer"), EVERYONE),
    "auth.logout": Rule(_url("/deconnexion"), EVERYONE),
    # The link e-mailed to a locked account's owner: the log-in form, for whoever holds it.
    "auth.unlock_login": Rule(_url("/connexion/debloquer/not-a-token"), EVERYONE),
    # Every signed-in account changes its own password (there is no one else's to reach).
    "auth.change_password": Rule(_url("/compte/mot-de-passe"), SIGNED_IN),
    "auth.forgot_password": Rule(_url("/mot-de-passe/oubli"), EVERYONE),
    "auth.forgot_password_sent": Rule(_url("/mot-de-passe/oubli/envoye"), EVERYONE),
    # Whoever holds B's e-mailed link may use it (that is what a reset link is).
    "auth.reset_password": Rule(_url("/mot-de-passe/nouveau/{w.reset_token_b}"), EVERYONE),
    "auth.signup_sent": Rule(_url("/compte/creer/envoye"), EVERYONE),
    # Whoever holds the e-mailed sign-up link may create that account (logged-in users are sent on).
    "auth.signup_confirm": Rule(_url("/compte/confirmer/{w.signup_token}"), EVERYONE),
    # Whoever holds a guardian's e-mailed link may confirm that address (a forged token: 404).
    "auth.confirm_email": Rule(_url("/adresse/confirmer/not-a-token"), EVERYONE, may_be_missing=True),
    # -- the family's own pages -----------------------------------------------------------------
    "family.household": Rule(_url("/mon-foyer/"), PARENTS),
    "family.edit_household": Rule(_url("/mon-foyer/adresse"), PARENTS),
    "family.add_guardian": Rule(_url("/mon-foyer/responsables/ajouter"), PARENTS),
    "family.add_child": Rule(_url("/mon-foyer/enfants/ajouter"), PARENTS),
    "family.edit_guardian": Rule(_url("/mon-foyer/responsables/{w.guardian_b}"), OWNER_B),
    "family.resend_confirmation": Rule(_url("/mon-foyer/responsables/{w.guardian_b}/confirmation"), OWNER_B),
    "family.edit_child": Rule(_url("/mon-foyer/enfants/{w.child_b}"), OWNER_B),
    "family.remove_child": Rule(_url("/mon-foyer/enfants/{w.child_b}/retirer"), OWNER_B),
    "portal.start": Rule(_url("/services/cantine/inscription"), PARENTS),
    "portal.page": Rule(_url("/inscription/{w.draft_b}/etape/1"), OWNER_B),
    "portal.review": Rule(_url("/inscription/{w.draft_b}/recapitulatif"), OWNER_B),
    "portal.confirmation": Rule(_url("/inscription/{w.submitted_draft_b}/confirmation"), OWNER_B),
    "portal.my_registrations": Rule(_url("/mes-inscriptions"), PARENTS),
    "applications.prepare": Rule(_url("/inscription/{w.draft_b}/preparer"), OWNER_B),
    "applications.show": Rule(_url("/demandes/{w.application_b}"), OWNER_B),
    "applications.state": Rule(_url("/demandes/{w.application_b}/etat"), OWNER_B),
    # The canteen is decided by arrival: no algorithm's detail to download (404 once let in).
    "applications.decision_detail": Rule(_url("/demandes/{w.application_b}/decision.pdf"), OWNER_B,
                                         may_be_missing=True),
    # Sending B's application again is a double click: the same application, nothing more.
    "applications.send": Rule(_url("/demandes/{w.application_b}/envoyer"), OWNER_B),
    "portal.registration_detail": Rule(_url("/mes-inscriptions/{w.reference_b}"), OWNER_B),
    "portal.cancel": Rule(_url("/mes-inscriptions/{w.reference_b}/annulation"), OWNER_B),
    "portal.offer_accept": Rule(_url("/mes-inscriptions/{w.reference_b}/offre/accepter"), OWNER_B),
    "portal.offer_decline": Rule(_url("/mes-inscriptions/{w.reference_b}/offre/refuser"), OWNER_B),
    "portal.document": Rule(_url("/mes-documents/{w.upload_b}"), OWNER_B),
    # -- counter (any service's staff may find a household; reading a file asks a reason) ------
    "counter.home": Rule(_url("/guichet/"), COUNTER),
    "counter.open_code": Rule(_url("/guichet/code?code=XYZ"), COUNTER),
    "counter.forget_code": Rule(_url("/guichet/code/oublier"), COUNTER),
    "counter.new_household": Rule(_url("/guichet/foyers/nouveau"), COUNTER),
    "counter.reason": Rule(_url("/guichet/foyers/{w.household_b}/acces"), COUNTER),
    "counter.household": Rule(_url("/guichet/foyers/{w.household_b}"), COUNTER),
    "counter.entry": Rule(_url("/guichet/foyers/{w.household_b}/saisie/cantine"), SERVICE_X),
    # The agent of Y sees none of the batch's (canteen) registrations: "not found".
    "counter.confirmation": Rule(_url("/guichet/foyers/{w.household_b}/lot/{w.batch_b}"), SERVICE_X),
    "counter.registration": Rule(_url("/guichet/inscriptions/{w.reference_b}"), SERVICE_X),
    # An accepted web booking has no letter: 404 for staff let in.
    "counter.letter": Rule(_url("/guichet/inscriptions/{w.reference_b}/courrier.pdf"), SERVICE_X,
                           may_be_missing=True),
    # -- scan intake ----------------------------------------------------------------------------
    "intake.home": Rule(_url("/guichet/numerisation/"), COUNTER),
    "intake.manual": Rule(_url("/guichet/numerisation/manuel"), COUNTER),
    "intake.batch": Rule(_url(f"/guichet/numerisation/lots/{MISSING}"), COUNTER, may_be_missing=True),
    "intake.page_image": Rule(_url(f"/guichet/numerisation/pages/{MISSING}/image"), COUNTER, may_be_missing=True),
    "intake.crop": Rule(_url(f"/guichet/numerisation/pages/{MISSING}/decoupe"), COUNTER, may_be_missing=True),
    "intake.assign_code": Rule(_url(f"/guichet/numerisation/pages/{MISSING}/code"), COUNTER, may_be_missing=True),
    "intake.reject": Rule(_url(f"/guichet/numerisation/pages/{MISSING}/rejeter"), COUNTER, may_be_missing=True),
    # A printed canteen form not scanned yet: 404 once let in (the agent of Y gets a 403 before).
    "intake.document": Rule(_url("/guichet/numerisation/documents/{w.print_token_b}"), SERVICE_X,
                            may_be_missing=True),
    "intake.evidence": Rule(_url("/guichet/numerisation/preuves/{w.batch_b}"), SERVICE_X),
    "intake.resume": Rule(_url(f"/guichet/numerisation/lots/{MISSING}/relire"), COUNTER, may_be_missing=True),
    # B's printed form already names the household: a redirect to intake.document for staff let in.
    "intake.new_household": Rule(_url("/guichet/numerisation/documents/{w.print_token_b}/foyer"), SERVICE_X),
    # Only a redirect to intake.evidence, which checks the service.
    # The evidence page's own check (service), made before redirecting: the Location would reveal the batch id.
    "intake.registration_evidence": Rule(_url("/guichet/numerisation/registrations/{w.reference_b}"), SERVICE_X),
    # -- back office ----------------------------------------------------------------------------
    "backoffice.home": Rule(_url("/gestion/"), BACKOFFICE),
    "backoffice.queue": Rule(_url("/gestion/cantine/"), SERVICE_X),
    "backoffice.bulk": Rule(_url("/gestion/cantine/actions"), SERVICE_X),
    "backoffice.registration": Rule(_url("/gestion/cantine/inscriptions/{w.reference_b}"), SERVICE_X),
    "backoffice.change": Rule(_url("/gestion/cantine/inscriptions/{w.reference_b}/statut"), SERVICE_X),
    "backoffice.letter": Rule(_url("/gestion/cantine/inscriptions/{w.reference_b}/courrier.pdf"), SERVICE_X,
                              may_be_missing=True),
    # A file sent with B's registration: none here (404 once let in).
    "backoffice.document": Rule(_url("/gestion/cantine/inscriptions/{w.reference_b}/documents/nothing"), SERVICE_X,
                                may_be_missing=True),
    "backoffice.letters": Rule(_url("/gestion/cantine/courriers"), SERVICE_X),
    "backoffice.letters_pdf": Rule(_url("/gestion/cantine/courriers.pdf"), SERVICE_X, may_be_missing=True),
    # -- reports --------------------------------------------------------------------------------
    "reports.dashboard": Rule(_url("/gestion/cantine/rapports"), SERVICE_X),
    "reports.counts_page": Rule(_url("/gestion/cantine/rapports/comptages"), SERVICE_X),
    "reports.counts_csv": Rule(_url("/gestion/cantine/rapports/comptages.csv"), SERVICE_X),
    "reports.export_csv": Rule(_url("/gestion/cantine/rapports/export.csv"), MANAGERS_X),
    "reports.export_xlsx": Rule(_url("/gestion/cantine/rapports/export.xlsx"), MANAGERS_X),
    # The canteen has no sessions: 404 for staff let in.
    "reports.attendance_pdf": Rule(_url("/gestion/cantine/rapports/seances/mer-14h/presence.pdf"), SERVICE_X,
                                   may_be_missing=True),
    # The allocation log: public application numbers only, the read_reports rule.
    "reports.allocation_runs": Rule(_url("/gestion/cantine/rapports/attribution"), SERVICE_X),
    # The canteen is decided by arrival: no trial ranking (404 once let in).
    "reports.allocation_trial": Rule(_url("/gestion/cantine/rapports/attribution/essai"), SERVICE_X,
                                     may_be_missing=True),
    "reports.allocation_run": Rule(_url("/gestion/cantine/rapports/attribution/{w.run_b}"), SERVICE_X),
    "reports.allocation_run_csv": Rule(_url("/gestion/cantine/rapports/attribution/{w.run_b}.csv"), SERVICE_X),
    "reports.allocation_csv": Rule(_url("/gestion/cantine/rapports/attribution.csv"), SERVICE_X),
    # -- mass printing --------------------------------------------------------------------------
    "paper.print_index": Rule(_url("/gestion/impression"), MANAGERS_X),
    "paper.print_home": Rule(_url("/gestion/cantine/impression"), MANAGERS_X),
    "paper.print_job": Rule(_url(f"/gestion/cantine/impression/{MISSING}"), MANAGERS_X, may_be_missing=True),
    # A print run whose PDF was deleted (retention, a family's erasure), asked again.
    "paper.print_again": Rule(_url(f"/gestion/cantine/impression/{MISSING}/relancer"), MANAGERS_X,
                              may_be_missing=True),
    "paper.print_download": Rule(_url(f"/gestion/cantine/impression/{MISSING}/document.pdf"), MANAGERS_X,
                                 may_be_missing=True),
    # -- personal data (RGPD) -------------------------------------------------------------------
    "privacy.my_data": Rule(_url("/mon-foyer/donnees/"), PARENTS),
    "privacy.export_json": Rule(_url("/mon-foyer/donnees/export.json"), PARENTS),
    "privacy.export_pdf": Rule(_url("/mon-foyer/donnees/export.pdf"), PARENTS),
    "privacy.export_zip": Rule(_url("/mon-foyer/donnees/export.zip"), PARENTS),
    # An empty POST asks for the confirmation again: nothing is deleted here.
    "privacy.delete_my_account": Rule(_url("/mon-foyer/donnees/supprimer"), PARENTS),
    # No demo service asks photo consent yet: 404 once let in (parent A gets 404 on B's child anyway).
    "privacy.photo_consent": Rule(_url("/mon-foyer/donnees/photos/{w.child_b}/cantine"), OWNER_B,
                                  may_be_missing=True),
    "privacy.staff_photo_consents": Rule(_url("/guichet/photos/cantine"), SERVICE_X, may_be_missing=True),
    "privacy.audit_journal": Rule(_url("/dpo/journal"), DPO),
    "privacy.audit_journal_csv": Rule(_url("/dpo/journal.csv"), DPO),
    # A paper-only family's right of access goes through the DPO (an empty POST: 422, nothing produced).
    "privacy.dpo_household_data": Rule(_url("/dpo/donnees-foyer?household={w.household_b}"), DPO),
    # A paper-only family's right to erasure goes through the DPO too (an empty POST: 422, nothing erased).
    "privacy.erase_household_page": Rule(_url("/dpo/effacement-foyer?household={w.household_b}"), DPO),
    # -- JSON API (bearer tokens) ---------------------------------------------------------------
    "api.openapi": Rule(_url("/api/v1/openapi.json"), EVERYONE, api=True),
    "api.me": Rule(_url("/api/v1/me"), SIGNED_IN, api=True),
    "api.list_services": Rule(_url("/api/v1/services"), SIGNED_IN, api=True),
    "api.list_sessions": Rule(_url("/api/v1/services/cantine/sessions"), SIGNED_IN, api=True),
    "api.get_registration": Rule(_url("/api/v1/registrations/{w.reference_b}"), OWNER_B | SERVICE_X, api=True),
    "api.list_registrations": Rule(_url("/api/v1/registrations?service=cantine"), PARENTS | SERVICE_X, api=True),
    "api.search_households": Rule(_url("/api/v1/households?q=Durand"), COUNTER, api=True),
    "api.get_household": Rule(_url("/api/v1/households/{w.household_b}"), COUNTER, api=True),
    # A booking for household B's child in the canteen: B itself, or X's staff.
    # Sending B's (already sent) application again: the same answer, for B or X's staff.
    "api.send_application": Rule(_url("/api/v1/applications/{w.application_b}/send"), OWNER_B | SERVICE_X,
                                 api=True),
    "api.get_application": Rule(_url("/api/v1/applications/{w.application_b}"), OWNER_B | SERVICE_X, api=True),
    # An application for household B's child in the canteen: B itself, or X's staff.
    "api.create_application": Rule(_url("/api/v1/applications"), OWNER_B | SERVICE_X, api=True,
                                   data=lambda w: {"service": "cantine", "household_id": w.household_b,
                                                   "participants": [{"child_id": w.child_b}],
                                                   "answers": {**CANTEEN_ANSWERS, "days": ["thu"]}}),
    "api.create_registration": Rule(_url("/api/v1/registrations"), OWNER_B | SERVICE_X, api=True,
                                    data=lambda w: {"service": "cantine", "household_id": w.household_b,
                                                    "participants": [{"child_id": w.child_b}],
                                                    "answers": {**CANTEEN_ANSWERS, "days": ["fri"]}}),
}


# -- the world ------------------------------------------------------------------------------------

_HASH: dict[str, str] = {}


def _password_hash() -> str:
    # Hashing is slow on purpose: hash once, give every account of the world the same password.
    if not _HASH:
        from inscriptions.auth.passwords import hash_password

        _HASH["value"] = hash_password(PASSWORD)
    return _HASH["value"]


def _household(last_name: str, email: str) -> tuple[Household, Account]:
    household = Household(address_line1="1 rue des Écoles", postcode="99990", city="Villebelle",
                          quotient_familial=600)
    guardian = Guardian(first_name="Camille", last_name=last_name, email=email)
    household.guardians.append(guardian)
    household.children.append(Child(first_name="Léa", last_name=last_name, birth_date=dt.date(2018, 3, 1),
                                    school="École Jules-Ferry", class_name="CE1"))
    db.session.add(household)
    db.session.flush()
    account = Account(email=email, guardian_id=guardian.id, password_hash=_password_hash())
    db.session.add(account)
    db.session.commit()
    return household, account


def _book(household: Household) -> tuple[str, str]:
    outcome = create_registrations(RegistrationInput(
        service_code="cantine", household_id=household.id, channel="web",
        participants=[ParticipantInput(child_id=household.children[0].id, answers=dict(CANTEEN_ANSWERS))],
    ))
    from inscriptions.models import Registration

    reg = db.session.get(Registration, outcome.registration_ids[0])
    return reg.reference, outcome.batch


def build_world(app: Flask) -> World:
    """Families A and B (one canteen registration each), staff of X (canteen) and Y (pool)."""
    from inscriptions.auth.reset import make_reset_token
    from inscriptions.auth.signup import PendingSignup, make_signup_token
    from inscriptions.portal.wizard import new_state

    world = World()
    with app.app_context():
        home_a, account_a = _household("Martin", "parent.a@example.fr")
        home_b, account_b = _household("Durand", "parent.b@example.fr")
        world.household_a, world.household_b = home_a.id, home_b.id
        world.child_b, world.guardian_b = home_b.children[0].id, home_b.guardians[0].id
        world.reference_a, _batch_a = _book(home_a)
        world.reference_b, world.batch_b = _book(home_b)
        from inscriptions.models import Application

        world.application_b = db.session.scalar(db.select(Application.id).filter_by(batch=world.batch_b))
        world.run_b = db.session.scalar(db.select(Application.run_id).filter_by(batch=world.batch_b))
        version = current_version(registry().get("cantine"))
        draft = Draft(token=secrets.token_hex(16), account_id=account_b.id, service_code="cantine",
                      form_version_id=version.id, state=new_state([f"child:{world.child_b}"], None))
        submitted = Draft(token=secrets.token_hex(16), account_id=account_b.id, service_code="cantine",
                          form_version_id=version.id, state=new_state([f"child:{world.child_b}"], None),
                          submitted_batch=world.batch_b)
        upload = Upload(household_id=home_b.id, token=secrets.token_hex(16), filename="certificat.pdf",
                        content_type="application/pdf", size=9, sha256="0" * 64)
        print_token = PrintToken(token="B7K2M9Q4XZ", form_version_id=version.id, household_id=home_b.id,
                                 child_id=world.child_b, pages=2)
        db.session.add_all([draft, submitted, upload, print_token])
        db.session.commit()
        world.draft_b, world.submitted_draft_b = draft.token, submitted.token
        world.upload_b, world.print_token_b = upload.token, print_token.token
        world.reset_token_b = make_reset_token(account_b)
        world.signup_token = make_signup_token(PendingSignup(
            email="newcomer@example.fr", password_hash=_password_hash(), first_name="Sam",
            last_name="Petit", phone=None, address_line1="1 rue Neuve", postcode="99990", city="Villebelle"))
        accounts = {"parent_a": account_a, "parent_b": account_b}
        for role, (grant, service) in {"agent_x": ("agent", "cantine"), "agent_y": ("agent", "piscine"),
                                       "manager_x": ("manager", "cantine"), "admin": ("admin", None),
                                       "dpo": ("dpo", None)}.items():
            db.session.add(Account(email=f"{role}@mairie.test", password_hash=_password_hash()))
            db.session.flush()
            accounts[role], _created, _granted = grant_role(f"{role}@mairie.test", grant, service)
        db.session.commit()
        for role, account in accounts.items():
            world.accounts[role] = account.id
            world.login_ids[role] = account.get_id()
            world.api_tokens[role] = issue_token(account, "authorisation test")
        db.session.commit()
    return world


def _client(app: Flask, world: World, role: str) -> FlaskClient:
    client = app.test_client()
    if role != "anonymous":
        with client.session_transaction() as session:
            session["_user_id"] = world.login_ids[role]
            session["_fresh"] = True
    return client


def _request(client: FlaskClient, method: str, url: str, rule: Rule, world: World, role: str) -> TestResponse:
    headers = {}
    if rule.api and role != "anonymous":
        headers["Authorization"] = f"Bearer {world.api_tokens[role]}"
    kwargs: dict[str, Any] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        body = rule.data(world) if rule.data else {}
        kwargs["json" if rule.api else "data"] = body
    return client.open(url, method=method, **kwargs)


def outcome(response: TestResponse) -> str:
    """``error`` (5xx), ``login`` (401 or sent to log in), ``forbidden``, ``missing`` or ``ok``."""
    status = response.status_code
    if status >= 500:
        return "error"
    if status == 401 or (300 <= status < 400 and "/connexion" in response.headers.get("Location", "")):
        return "login"
    if status == 403:
        return "forbidden"
    if status == 404:
        return "missing"
    return "ok"


def endpoints(app: Flask) -> dict[str, set[str]]:
    """Endpoint name -> the methods its rules answer (HEAD and OPTIONS aside)."""
    found: dict[str, set[str]] = {}
    for url_rule in app.url_map.iter_rules():
        found.setdefault(url_rule.endpoint, set()).update(url_rule.methods or set())
    return {name: methods - {"HEAD", "OPTIONS"} for name, methods in found.items()}


def test_every_endpoint_is_in_the_table(app: Flask) -> None:
    present = set(endpoints(app))
    missing = sorted(present - set(ACCESS))
    assert not missing, f"endpoints without an access rule in tests/security/test_authorisation.py: {missing}"
    stale = sorted(set(ACCESS) - present)
    assert not stale, f"access rules for endpoints that no longer exist: {stale}"


@pytest.mark.parametrize("endpoint", sorted(ACCESS))
def test_access(world_app: tuple[Flask, World], endpoint: str) -> None:
    app, world = world_app
    methods = endpoints(app).get(endpoint)
    if methods is None:
        pytest.skip(f"{endpoint} is not registered (see test_every_endpoint_is_in_the_table)")
    rule = ACCESS[endpoint]
    url = rule.url(world)
    problems = []
    # Roles kept out first: a request let in may change the data (a cancellation, a log-out).
    order = sorted(ROLES, key=lambda r: r in rule.allowed)
    for role in order:
        client = _client(app, world, role)
        for method in sorted(methods, key=lambda m: m != "GET"):
            got = outcome(_request(client, method, url, rule, world, role))
            if got == "error":
                problems.append(f"{role} {method}: server error")
            elif role in rule.allowed:
                ok = {"ok", "missing"} if rule.may_be_missing else {"ok"}
                if got not in ok:
                    problems.append(f"{role} {method}: let in by the table, got {got}")
            elif got == "ok" or (role == "anonymous" and got != "login"):
                problems.append(f"{role} {method}: kept out by the table, got {got}")
    assert not problems, f"{endpoint} {url}: " + "; ".join(problems)
