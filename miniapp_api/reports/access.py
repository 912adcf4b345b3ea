"""Who reads a report, and how much: the staff in scope and its reporter all of it, a follower (and
the reporter of a report merged into it) its public view, anyone else nothing (404, no hint that it
exists). Police matters are never public. A report's place, shown to the public, is its community."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from identity.models import Account, Node
from identity.roles import CIVIC_STAFF_ROLES, NodeLevel, Role
from identity.scope import is_district_level
from miniapp_api.reports.models import Category, Report, ReportEvent, ReportFollower
from server.auth import Principal
from server.errors import NotFound

# Reports about crime and public order go to the police, not to the public: never suggested to a
# resident, never followed by one, never published (Open311).
PRIVATE_CATEGORIES = frozenset({"public_order"})
# A person's own matters (卫生计生: an illness in the family; 劳动和社会保障: wages, insurance, a dismissal):
# never suggested to another resident, so no suggestion places someone's health or job near them; never
# followed or read by one (not even the reporter of a report merged into it), never published (Open311).
PERSONAL_CATEGORIES = frozenset({"health_family_planning", "labour_social_security"})
# Party members are volunteers: they read neither police matters nor a person's own matters (unless
# they filed it), and never whose a report is.
CLOSED_TO_PARTY_MEMBERS = PRIVATE_CATEGORIES | PERSONAL_CATEGORIES


def closed_categories(principal: Principal) -> frozenset[str]:
    """The category keys this reader's lists and staff view leave out."""
    return closed_to_role(principal.role)


def closed_to_role(role: Role) -> frozenset[str]:
    """The category keys a role's staff view leaves out (party members: police and personal matters)."""
    return CLOSED_TO_PARTY_MEMBERS if role is Role.PARTY_MEMBER else frozenset()


async def _closed_to(principal: Principal, report: Report) -> bool:
    closed = closed_categories(principal)
    return bool(closed) and await Category.exists(id=report.category_id, key__in=list(closed))


def in_scope(principal: Principal, report: Report) -> bool:
    """Staff see the reports under their node; the district level sees all."""
    if principal.role not in CIVIC_STAFF_ROLES:
        return False
    if is_district_level(principal):
        return True
    return principal.covers(report.node_path)


class View(StrEnum):
    """How much of a report one reader sees; decided per report, never per page."""

    REPORTER = "reporter"  # who filed it: all of it, their own comment included
    STAFF = "staff"  # staff in whose part of the hierarchy it lies: all of it, the reporter unless anonymous
    PUBLIC = "public"  # a follower, or the reporter of a report merged into it: category, state, place, times


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    account_id: int | None  # the database id of the principal's account, when it still exists

    def view(self, report: Report) -> View:
        if self.account_id is not None and report.reporter_id == self.account_id:
            return View.REPORTER
        if in_scope(self.principal, report):
            return View.STAFF
        return View.PUBLIC


async def viewer_of(principal: Principal) -> Viewer:
    account = await Account.get_or_none(public_id=principal.account_id)
    return Viewer(principal, account.id if account else None)


def viewer_of_account(account: Account) -> Viewer:
    """An account as a reader, as its own token would make it (``account.node`` fetched)."""
    node: Node | None = account.node
    return Viewer(Principal(account.public_id, account.role, node.path if node else None), account.id)


def may_read(view: View, *, role: Role, told: bool, category_key: str | None) -> bool:
    """Whether one reads a report, in the view they have of it: its reporter always; the staff in scope
    but for the categories their role leaves out (``closed_to_role``: a party member reads no police or
    personal matter); anyone else (``View.PUBLIC``) only when told of it (a follower, or the reporter of
    a report merged into it), and never a police matter or a person's own matter (``PERSONAL_CATEGORIES``)."""
    if view is View.STAFF:
        return category_key not in closed_to_role(role)
    if view is not View.PUBLIC:
        return True
    return told and category_key is not None and category_key not in PRIVATE_CATEGORIES | PERSONAL_CATEGORIES


def not_found() -> NotFound:
    return NotFound("No report with this id.", code="report_not_found")


async def by_public_id(public_id: str) -> Report:
    report = await Report.get_or_none(public_id=public_id) if 0 < len(public_id) <= 16 else None
    if report is None:
        raise not_found()
    return report


async def get_visible(*, principal: Principal, public_id: str) -> tuple[Report, bool]:
    """The report and whether the caller filed it; 404 for anyone else (no hint that it exists)."""
    report = await by_public_id(public_id)
    viewer = await viewer_of(principal)
    view = viewer.view(report)
    if view is View.PUBLIC or (view is View.STAFF and await _closed_to(principal, report)):
        raise not_found()
    return report, view is View.REPORTER


async def get_readable(*, principal: Principal, public_id: str) -> tuple[Report, Viewer, bool]:
    """For reading: the report, who reads it, and whether they follow it. Its reporter and the staff
    in scope read all of it; a follower, and the reporter of a report merged into it, read its public
    view (``View.PUBLIC``) and cannot move it; anyone else gets 404."""
    report = await by_public_id(public_id)
    viewer = await viewer_of(principal)
    following = viewer.account_id is not None and await ReportFollower.exists(
        report_id=report.id, account_id=viewer.account_id
    )
    if viewer.view(report) is View.STAFF and await _closed_to(principal, report):
        raise not_found()
    if viewer.view(report) is View.PUBLIC:
        told = following or (
            viewer.account_id is not None
            and await Report.exists(merged_into_id=report.id, reporter_id=viewer.account_id)
        )
        category = await Category.get_or_none(id=report.category_id)
        if not may_read(View.PUBLIC, role=principal.role, told=told, category_key=category.key if category else None):
            raise not_found()
    return report, viewer, following


async def history(report: Report) -> list[ReportEvent]:
    return list(await ReportEvent.filter(report_id=report.id).order_by("id"))


def community_path(node_path: str) -> str:
    """The community a node lies in (district, street, community: the first three codes), or the node
    itself when it is higher: the place a report is shown at to anyone but its reporter and staff."""
    return "/" + "/".join([code for code in node_path.strip("/").split("/") if code][:3]) + "/"


async def community_places(paths: set[str]) -> dict[str, str | None]:
    """Each node path's place above the grid, by name (光明区光明街道光明社区): where a report is, no
    closer than the community."""
    segments = {path: [code for code in path.strip("/").split("/") if code] for path in paths}
    codes = {code for parts in segments.values() for code in parts}
    names = dict(await Node.filter(code__in=codes).exclude(level=NodeLevel.GRID).values_list("code", "name"))
    return {path: "".join(names[c] for c in parts if c in names) or None for path, parts in segments.items()}
