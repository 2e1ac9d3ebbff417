"""Who may do what: every permission of the application, written once, here.

Roles: ``parent`` (an account with a guardian: it acts on its own household only), ``agent``
and ``manager`` (granted for one service each), ``admin`` (the town's IT, every service) and
``dpo`` (data protection officer). Grants are rows of ``staff_roles``
(:class:`inscriptions.models.StaffRole`).

A permission is either *per service* (the agent or manager must hold the role for that service;
an admin has it for every service) or *town-wide* (holding the role for any service is enough).
``docs/permissions.md`` is generated from :data:`PERMISSIONS` (a test checks it is in sync):
``inscriptions staff permissions > docs/permissions.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_request_context
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import SERVICE_ROLES, Account, Role, StaffRole

PARENT = "parent"
ROLES = (PARENT, Role.AGENT.value, Role.MANAGER.value, Role.ADMIN.value, Role.DPO.value)


@dataclass(frozen=True)
class Permission:
    """What a permission allows (for the documentation) and which roles hold it."""

    description: str
    roles: frozenset[str]
    per_service: bool


def _perm(description: str, *roles: str, per_service: bool) -> Permission:
    unknown = set(roles) - set(ROLES)
    if unknown:  # pragma: no cover - caught when the module is imported
        raise ValueError(f"unknown roles {unknown}")
    return Permission(description, frozenset(roles), per_service)


# The one table of permissions. Keep descriptions short: they become docs/permissions.md.
PERMISSIONS: dict[str, Permission] = {
    "register_own_household": _perm(
        "Register members of one's own household (web portal, API with channel `api`).",
        PARENT, per_service=False,
    ),
    "read_own_registrations": _perm(
        "Read the registrations of one's own household, answers included.",
        PARENT, per_service=False,
    ),
    "register_for_any_household": _perm(
        "Register any household for the service (counter, paper, phone, mail or API channel); "
        "the booking records the agent as `keyed_by`.",
        Role.AGENT, Role.MANAGER, Role.ADMIN, per_service=True,
    ),
    "read_any_registration": _perm(
        "Read any registration of the service (answers flagged sensitive excepted).",
        Role.AGENT, Role.MANAGER, Role.ADMIN, per_service=True,
    ),
    "read_sensitive_answers": _perm(
        "Read answers flagged `sensitive` (health, PAI, allergies) in the service's registrations.",
        Role.MANAGER, per_service=True,
    ),
    "read_sessions_fill": _perm(
        "See places held and waiting-list counts of the service's sessions.",
        Role.AGENT, Role.MANAGER, Role.ADMIN, per_service=True,
    ),
    "print_paper_forms": _perm(
        "Mass-print the service's paper forms (prefilled or blank) and letters from the back office "
        "as a background job, and download the PDFs.",
        Role.MANAGER, Role.ADMIN, per_service=True,
    ),
    "use_backoffice": _perm(
        "Open the back office (`/gestion/`): its home lists the sections the account may use.",
        Role.AGENT, Role.MANAGER, Role.ADMIN, Role.DPO, per_service=False,
    ),
    "review_registrations": _perm(
        "Review the service's registrations in the back office: queue, detail, accept / reject / "
        "waiting list one by one or in bulk, letters to print. Which role may make which move is "
        "set by the service's `workflow` (default: every move for agents and managers).",
        Role.AGENT, Role.MANAGER, Role.ADMIN, per_service=True,
    ),
    # Agents see the dashboard, the counts and the attendance lists: the kitchen's meal count and
    # the lifeguard's list are their daily work, and these show no answers beyond names and class.
    "read_reports": _perm(
        "See the service's dashboard and counts (e.g. meals per day, school and diet), print the "
        "attendance lists of its sessions (names, age, class; each print is audited), and read the "
        "allocation log (decisions by application number, no names; CSV exports audited).",
        Role.AGENT, Role.MANAGER, Role.ADMIN, per_service=True,
    ),
    # Not agents: an export copies the whole service's file out of the application, beyond the
    # reach of its access checks; a counter agent's tasks need one household at a time (read with
    # a reason) or the aggregated reports above.
    "export_registrations": _perm(
        "Export the service's registrations (CSV, XLSX) with every answer; answers flagged sensitive "
        "only with `read_sensitive_answers`. Each export is audited.",
        Role.MANAGER, Role.ADMIN, per_service=True,
    ),
    "search_households": _perm(
        "Search households by name or e-mail (to register them at the counter).",
        Role.AGENT, Role.MANAGER, Role.ADMIN, per_service=False,
    ),
    # -- personal data (RGPD, inscriptions.privacy) --
    "manage_own_data": _perm(
        "Download all data about one's own household (JSON, PDF), give or withdraw photo consent "
        "for one's children, delete one's account.",
        PARENT, per_service=False,
    ),
    "read_photo_consents": _perm(
        "See which registered children may be photographed, with the consent history.",
        Role.AGENT, Role.MANAGER, Role.ADMIN, per_service=True,
    ),
    "read_audit_log": _perm(
        "Read the audit log (`/dpo/journal`) and export it as CSV (the export is itself logged).",
        Role.DPO, per_service=False,
    ),
    # The right of access of families without an account (paper-only) goes through the DPO.
    "produce_household_data": _perm(
        "Produce all data about any household (ZIP or PDF, `/dpo/donnees-foyer`) to answer its request; "
        "the request is written in the audit log as the reason.",
        Role.DPO, per_service=False,
    ),
    # The right to erasure of families without an account goes through the DPO too. Not managers:
    # an erasure reaches every service's registrations and files, and cannot be undone; the DPO,
    # who receives the requests, checks them and decides, on the counts shown before confirming.
    "erase_household": _perm(
        "Erase any household on its request (`/dpo/effacement-foyer`): its people, accounts, drafts, "
        "registrations (anonymised, current ones cancelled), files, scanned pages and print runs holding it; "
        "the request is written in the audit log as the reason.",
        Role.DPO, per_service=False,
    ),
}


# Per request (flask.g): the menu of every page and the view itself ask several times.
_GRANTS_CACHE = "_inscriptions_grants"


def grants_of(account: Account | None) -> list[tuple[str, str | None]]:
    """The ``(role, service_code)`` pairs of ``account``, ``("parent", None)`` included.

    Read once per request and account (grants are not changed halfway through a request;
    :func:`grant_role` forgets what was read).
    """
    if account is None or not account.is_active:
        return []
    cache = getattr(g, _GRANTS_CACHE, None) if has_request_context() else None
    cached = cache.get(account.id) if cache is not None else None
    if cached is not None:
        return list(cached)
    if "staff_roles" in sa_inspect(account).dict:
        # Brought by the user loader's query (see auth.accounts.load_account).
        rows = [(r.role, r.service_code) for r in account.staff_roles]
    else:
        rows = list(db.session.execute(
            select(StaffRole.role, StaffRole.service_code).where(StaffRole.account_id == account.id)
        ).all())
    grants = [(role, code) for role, code in rows]
    if account.guardian_id is not None:
        grants.append((PARENT, None))
    if has_request_context():
        if cache is None:
            cache = {}
            setattr(g, _GRANTS_CACHE, cache)
        cache[account.id] = tuple(grants)
    return grants


def can(account: Account | None, permission: str, service_code: str | None = None) -> bool:
    """Whether ``account`` holds ``permission`` (for ``service_code`` when it is per service).

    A per-service permission needs ``service_code``: asking without one is a programming error,
    not a "yes for some service" (use :func:`services_with` to list them).
    Household-scoped rules (a parent acts on their own household only) are checked by the
    callers with :func:`acts_for_household`.
    """
    perm = PERMISSIONS[permission]
    if perm.per_service and service_code is None:
        raise ValueError(f"{permission!r} is granted per service: give service_code")
    for role, code in grants_of(account):
        if role not in perm.roles:
            continue
        if not perm.per_service or role not in SERVICE_ROLES or code == service_code:
            return True
    return False


def roles_holding(permission: str) -> tuple[list[str], list[str]]:
    """The staff roles that hold ``permission``: (town-wide roles, per-service roles), for the
    statements that check a grant in SQL (the opening-morning send, :mod:`inscriptions.quick_send`)
    rather than with :func:`can`."""
    perm = PERMISSIONS[permission]
    roles = sorted(r for r in perm.roles if r != PARENT)
    if not perm.per_service:
        return roles, []
    return [r for r in roles if r not in SERVICE_ROLES], [r for r in roles if r in SERVICE_ROLES]


def services_with(account: Account | None, permission: str) -> set[str] | None:
    """Service codes for which ``account`` holds the per-service ``permission``; None means all."""
    perm = PERMISSIONS[permission]
    codes: set[str] = set()
    for role, code in grants_of(account):
        if role not in perm.roles:
            continue
        if role not in SERVICE_ROLES:
            return None
        if code is not None:
            codes.add(code)
    return codes


def access_roles(account: Account | None, service_code: str | None = None) -> str:
    """The roles under which ``account`` makes an access, as the audit log records them.

    Staff grants first: for an access to ``service_code``, the grants for that service (and the
    town-wide admin); otherwise (a town-wide access such as a search, or no grant for the service)
    every staff grant. A per-service grant is written ``role:service`` (``agent:cantine``), several
    are comma-separated. An account with no staff grant acting as a family is ``parent``.
    """
    grants = grants_of(account)
    staff = [(role, code) for role, code in grants if role != PARENT]
    relevant = [(role, code) for role, code in staff
                if service_code is not None and (code == service_code or role == Role.ADMIN)]
    chosen = relevant or staff
    if not chosen:
        return PARENT if any(role == PARENT for role, _code in grants) else ""
    return ",".join(sorted({f"{role}:{code}" if code else str(role) for role, code in chosen}))


def acts_for_household(account: Account | None, household_id: int) -> bool:
    """Whether ``account`` is a parent of household ``household_id``."""
    if account is None or not account.is_active or account.guardian is None:
        return False
    return account.guardian.household_id == household_id


def permissions_markdown() -> str:
    """``docs/permissions.md``: the table of :data:`PERMISSIONS`, one column per role."""
    lines = [
        "# Permissions",
        "",
        "Generated from `inscriptions/permissions.py` (`PERMISSIONS`) by "
        "`inscriptions staff permissions > docs/permissions.md`; a test checks this file is in sync.",
        "",
        "Roles: **parent** (an account with a guardian; acts on its own household only), "
        "**agent** and **manager** (granted per service: `inscriptions staff create --role agent "
        "--service CODE`), **admin** (the town's IT, every service), **dpo** (data protection officer).",
        "",
        "Cells: *own household*, *granted services* (per-service permission: only for the services "
        "the role was granted for), *all services*, *yes* (town-wide permission), or — (denied).",
        "",
        "| Permission | What it allows | " + " | ".join(ROLES) + " |",
        "| --- | --- | " + " | ".join("---" for _ in ROLES) + " |",
    ]
    for name, perm in PERMISSIONS.items():
        cells = [_cell(perm, role) for role in ROLES]
        lines.append(f"| `{name}` | {perm.description} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(perm: Permission, role: str) -> str:
    if role not in perm.roles:
        return "—"
    if role == PARENT:
        return "own household"
    if not perm.per_service:
        return "yes"
    return "granted services" if role in SERVICE_ROLES else "all services"


class GrantError(ValueError):
    """A role grant that cannot be made (unknown service, missing service for a per-service role...)."""


def grant_role(
    email: str, role: str, service_code: str | None, password: str | None = None
) -> tuple[Account, bool, bool]:
    """Give ``role`` (for ``service_code``) to the account ``email``, creating a staff account if none.

    ``password`` sets the account's password when given (a new account without one gets a random,
    unknown password: it can still use API tokens). Returns ``(account, created, granted)``;
    ``granted`` is False when the account already had this grant.
    """
    import secrets

    from inscriptions.auth.accounts import find_account
    from inscriptions.definitions.registry import registry

    email = email.strip().lower()
    if "@" not in email:
        raise GrantError(f"{email!r} is not an e-mail address")
    if role not in (r.value for r in Role):
        raise GrantError(f"unknown role {role!r}")
    if role in SERVICE_ROLES:
        if not service_code:
            raise GrantError(f"the role {role!r} is granted for one service: give --service")
        if registry().get(service_code) is None:
            raise GrantError(f"unknown service {service_code!r}")
    elif service_code:
        raise GrantError(f"the role {role!r} covers every service: give no --service")

    account = find_account(email)
    created = account is None
    if account is None:
        account = Account(email=email)
        account.set_password(password or secrets.token_urlsafe(32))
        db.session.add(account)
        db.session.flush()
    elif password:
        account.set_password(password)
    code = service_code if role in SERVICE_ROLES else None
    exists = db.session.scalar(
        select(StaffRole.id).where(
            StaffRole.account_id == account.id,
            StaffRole.role == role,
            StaffRole.service_code.is_(None) if code is None else StaffRole.service_code == code,
        )
    )
    if exists is None:
        db.session.add(StaffRole(account_id=account.id, role=role, service_code=code))
    db.session.commit()
    if has_request_context():
        getattr(g, _GRANTS_CACHE, {}).pop(account.id, None)
    return account, created, exists is None
