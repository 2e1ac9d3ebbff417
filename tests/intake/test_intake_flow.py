"""Scan intake: upload, documents, confirmation into a paper registration, duplicates, manual queue."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import numpy as np
from flask.testing import FlaskClient
from flask_babel import gettext
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import Account, Household, Registration, ScanBatch, ScanPage
from inscriptions.paper.reader import simulate as sim


def upload(client: FlaskClient, pages: list[sim.SimPage] | list[tuple[bytes, str]]):
    files = [(io.BytesIO(p.data), p.filename) if isinstance(p, sim.SimPage) else (io.BytesIO(p[0]), p[1])
             for p in pages]
    return client.post("/guichet/numerisation/", data={"scans": files}, content_type="multipart/form-data")


def batch_of(response) -> ScanBatch:
    match = re.search(r"/lots/(\d+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return db.session.get(ScanBatch, int(match.group(1)))


def test_scanned_form_is_confirmed_into_a_paper_registration(
    client: FlaskClient, agent: Account, scanned_form: Callable[..., list[sim.SimPage]], family: Household
) -> None:
    pages = scanned_form()
    token = pages[0].token
    response = upload(client, pages)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    scan_batch = batch_of(response)
    assert scan_batch.page_count == len(pages) == 2
    assert len(scan_batch.sha256) == 64
    assert {p.status for p in scan_batch.pages} <= {"ok", "review"}
    assert all(p.token == token for p in scan_batch.pages)

    listing = client.get(f"/guichet/numerisation/lots/{scan_batch.id}").get_data(as_text=True)
    assert f"/guichet/numerisation/documents/{token}" in listing

    child = family.children[0]
    form = client.get(f"/guichet/numerisation/documents/{token}")
    html = form.get_data(as_text=True)
    assert form.status_code == 200, html[:2000]
    # Machine values prefilled: the ticked days and diet are checked.
    for name, value in ((f"c{child.id}-days", "mon"), (f"c{child.id}-days", "thu"), (f"c{child.id}-diet", "sans_porc")):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*value="{value}"[^>]*>', html)
        assert tag and "checked" in tag.group(0), (name, value)
    assert "/decoupe?path=" in html  # crops beside the fields

    response = client.post(f"/guichet/numerisation/documents/{token}", data={
        f"c{child.id}-days": ["mon", "thu"], f"c{child.id}-diet": "sans_porc", f"c{child.id}-allergy": "no",
        "pickup-0-name": "Jeanne Martin", "pickup-0-phone": "06 12 34 56 78", "rules": "y",
    })
    assert response.status_code == 302, re.findall(r'class="field-error"[^<]*<[^<]*</span>([^<]*)',
                                                   response.get_data(as_text=True))
    reg = db.session.scalar(select(Registration).filter_by(household_id=family.id))
    assert reg is not None
    assert reg.channel == "paper"
    assert reg.keyed_by_id == agent.id
    assert reg.answers["days"] == ["mon", "thu"]
    db.session.expire_all()
    stored = db.session.scalars(select(ScanPage).filter_by(token=token)).all()
    assert {p.status for p in stored} == {"registered"}
    assert all(p.registration_batch == reg.batch and p.confirmed_by_id == agent.id for p in stored)
    assert stored[0].machine_values["diet"] == "sans_porc"
    assert stored[0].confirmed_values["participants"][0]["pickup"][0]["name"] == "Jeanne Martin"

    evidence = client.get(f"/guichet/numerisation/registrations/{reg.reference}", follow_redirects=True)
    text = evidence.get_data(as_text=True)
    assert evidence.status_code == 200
    assert stored[0].image_sha256 in text and reg.reference in text and agent.email in text
    # The counter's registration page links to this evidence only for scanned registrations.
    from inscriptions.intake.views import has_scan_evidence

    assert has_scan_evidence(reg)
    assert not has_scan_evidence(Registration(batch="keyed-at-the-counter"))
    from inscriptions.models import AuditEvent

    assert db.session.scalar(select(AuditEvent).filter_by(action="open_paper_form", household_id=family.id))

    # The same pages scanned again: duplicates, never registered twice.
    again = upload(client, pages)
    second = batch_of(again)
    assert {p.status for p in second.pages} == {"duplicate"}
    first_batch = scan_batch.id
    registered_twice = gettext(
        "This page was already scanned and its form registered (scan batch %(n)s): "
        "it is kept but not registered again.", n=first_batch)
    assert all(p.message == registered_twice for p in second.pages)
    assert client.get(f"/guichet/numerisation/documents/{token}").status_code == 302
    assert db.session.scalar(select(db.func.count(Registration.id))) == 1


def test_blank_and_noise_pages_go_to_the_manual_queue_with_their_image(client: FlaskClient, agent: Account) -> None:
    rng = np.random.default_rng(5)
    from PIL import Image

    files = []
    for n, pixels in enumerate((sim.blank_page(rng), sim.noise_page(rng))):
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, format="PNG")
        files.append((out.getvalue(), f"page{n}.png"))
    scan_batch = batch_of(upload(client, files))
    assert [p.status for p in scan_batch.pages] == ["manual", "manual"]
    assert all(p.message for p in scan_batch.pages)
    queue = client.get("/guichet/numerisation/manuel").get_data(as_text=True)
    for page in scan_batch.pages:
        assert f"/pages/{page.id}/image" in queue
        image = client.get(f"/guichet/numerisation/pages/{page.id}/image")
        assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    # A wrong code is refused with a message; a reason rejects the page.
    bad = client.post(f"/guichet/numerisation/pages/{scan_batch.pages[0].id}/code", data={"code": "NOPE"})
    assert bad.status_code == 422
    done = client.post(f"/guichet/numerisation/pages/{scan_batch.pages[0].id}/rejeter", data={"reason": "Page blanche"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(ScanPage, scan_batch.pages[0].id).status == "rejected"


def test_unreadable_file_is_refused_and_nothing_stored(client: FlaskClient, agent: Account) -> None:
    response = upload(client, [(b"not a scan at all", "x.pdf")])
    assert response.status_code == 422
    assert db.session.scalar(select(db.func.count(ScanBatch.id))) == 0


def test_parents_and_anonymous_are_kept_out(
    client: FlaskClient, make_household: Callable[..., Household], login: Callable[[Household], Account]
) -> None:
    assert client.get("/guichet/numerisation/").status_code == 302  # to the log-in page
    login(make_household())
    assert client.get("/guichet/numerisation/").status_code == 403
    assert client.get("/guichet/numerisation/manuel").status_code == 403


def test_images_and_crops_only_for_staff_of_the_service(
    client: FlaskClient, agent: Account, staff: Callable[..., Account], login_as: Callable[[Account], Account],
    scanned_form: Callable[..., list[sim.SimPage]], make_household: Callable[..., Household],
    login: Callable[[Household], Account],
) -> None:
    scan_batch = batch_of(upload(client, scanned_form(seed=2)))
    page = scan_batch.pages[0]

    def image(page_id: int) -> int:
        return client.get(f"/guichet/numerisation/pages/{page_id}/image").status_code

    # A whole page shows its health question as plainly as the question's cut-out: same rule, for
    # every role (the agent, the town's IT); a page without one is open to the service's agents.
    health = {p.id: bool(p.reading["sensitive_paths"]) for p in scan_batch.pages}
    assert set(health.values()) == {True, False}
    for page_id, shows_health in health.items():
        assert image(page_id) == (403 if shows_health else 200)
    document = client.get(f"/guichet/numerisation/documents/{page.token}").get_data(as_text=True)
    for page_id, shows_health in health.items():
        assert (f"/pages/{page_id}/image" in document) is not shows_health
    login_as(staff("admin"))
    assert [image(page_id) for page_id in health] == [403 if h else 200 for h in health.values()]
    login_as(staff("agent", "cantine"))
    # Sensitive questions (allergy, PAI) are cropped for managers only.
    crops = [(p.id, path, path in p.reading["sensitive_paths"])
             for p in scan_batch.pages for path in p.reading["crop_files"]]
    assert any(hidden for *_x, hidden in crops) and not all(hidden for *_x, hidden in crops)

    def crop(page_id: int, path: str):
        return client.get(f"/guichet/numerisation/pages/{page_id}/decoupe", query_string={"path": path})

    for page_id, path, hidden in crops:
        response = crop(page_id, path)
        assert response.status_code == (403 if hidden else 200), path
    login_as(staff("manager", "cantine"))
    for page_id, path, _hidden in crops:
        assert crop(page_id, path).data.startswith(b"\x89PNG")
    assert all(image(page_id) == 200 for page_id in health)
    login_as(staff("dpo"))
    assert client.get(f"/guichet/numerisation/pages/{page.id}/image").status_code == 403
    login(make_household(last_name="Autre"))
    assert client.get(f"/guichet/numerisation/pages/{page.id}/image").status_code == 403
    for page_id, path, _hidden in crops:
        assert crop(page_id, path).status_code == 403


def test_page_without_qr_code_joins_its_form_by_the_typed_code(
    client: FlaskClient, agent: Account, scanned_form: Callable[..., list[sim.SimPage]]
) -> None:
    from PIL import Image

    from inscriptions.paper.tokens import human_code

    pages = scanned_form(seed=3)
    # Page 2 has lost its QR code (cut off): white out the top of the page.
    pixels = np.array(Image.open(io.BytesIO(pages[1].data)).convert("L"))
    pixels[: pixels.shape[0] // 5, :] = 255
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    scan_batch = batch_of(upload(client, [pages[0], (out.getvalue(), "cut.png")]))
    first, second = scan_batch.pages
    assert first.status in ("ok", "review") and second.status == "manual"
    response = client.post(f"/guichet/numerisation/pages/{second.id}/code",
                           data={"code": human_code(pages[0].token, 2)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/documents/{pages[0].token}")
    db.session.expire_all()
    second = db.session.get(ScanPage, second.id)
    assert (second.status, second.token, second.page) == ("review", pages[0].token, 2)
    form = client.get(f"/guichet/numerisation/documents/{pages[0].token}")
    assert form.status_code == 200


def test_upload_needs_the_csrf_token(make_app: Callable[..., Any]) -> None:
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        from inscriptions.permissions import grant_role

        account, _c, _g = grant_role("agent-csrf@mairie.test", "agent", "cantine")
        db.session.commit()
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = account.get_id()
            session["_fresh"] = True
        response = upload(client, [(b"x", "x.png")])
        assert response.status_code == 400


def test_blank_form_is_matched_to_a_family_by_the_agent(
    client: FlaskClient, agent: Account, canteen_version: Any, family: Household
) -> None:
    rng = np.random.default_rng(7)
    marked = {"days": ["tue"], "diet": "standard", "allergy": False, "rules": True}
    pages, _answers = sim.filled_documents(canteen_version, 1, rng, answers=[marked],
                                           settings=lambda _r: sim.ScanSettings(dpi=200, jpeg=None),
                                           styles={"cross": 1.0}, smudges=0.0)
    home = client.get("/guichet/numerisation/")
    assert home.status_code == 200 and 'name="scans"' in home.get_data(as_text=True)
    batch_of(upload(client, pages))
    url = f"/guichet/numerisation/documents/{pages[0].token}"
    search = client.get(url, query_string={"q": "Durand"}).get_data(as_text=True)
    assert f"household={family.id}" in search
    form = client.get(url, query_string={"household": family.id})
    assert form.status_code == 200
    assert f'name="c{family.children[0].id}-diet"' in form.get_data(as_text=True)
