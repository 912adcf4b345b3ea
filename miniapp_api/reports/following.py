"""Following a report: instead of filing the same problem again, one follows an open report (a
resident any but a police matter or a person's own matter, staff those in scope) and hears of its moves."""

from __future__ import annotations

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from identity.models import Account
from identity.roles import Role
from miniapp_api.reports import states
from miniapp_api.reports.access import (
    PERSONAL_CATEGORIES,
    PRIVATE_CATEGORIES,
    View,
    by_public_id,
    not_found,
    viewer_of,
)
from miniapp_api.reports.models import Category, Report, ReportFollower
from miniapp_api.reports.service import utcnow
from miniapp_api.reports.states import State
from server.auth import Principal
from server.errors import Conflict

MAX_FOLLOWED = 200


async def follow(*, principal: Principal, public_id: str) -> tuple[Report, int]:
    """Follow an open report (one of the similar ones, instead of filing it again); a merged report's
    main report is followed instead. Following twice is the same as once. Answers the followed report
    and its number of followers.

    Staff follow only reports in their part of the hierarchy. A resident follows any open report but
    a police matter or a person's own matter (health, labour: ``PERSONAL_CATEGORIES``), and reads only
    its public view (category, state, community, times): what anyone may already read of it through
    Open311. Anything else is 404, as if it did not exist."""
    report = await by_public_id(public_id)
    viewer = await viewer_of(principal)
    if viewer.account_id is None:
        raise not_found()
    if report.state == State.MERGED and report.merged_into_id is not None:
        report = await Report.get(id=report.merged_into_id)
    view = viewer.view(report)
    if view is View.PUBLIC:
        category = await Category.get(id=report.category_id)
        if principal.role is not Role.RESIDENT or category.key in PRIVATE_CATEGORIES | PERSONAL_CATEGORIES:
            raise not_found()
    if report.state in states.FINAL_STATES:
        raise Conflict("This report is closed; file a new one if the problem is back.", code="report_closed")
    if view is not View.REPORTER:
        async with in_transaction() as conn:
            followed = await ReportFollower.filter(account_id=viewer.account_id).using_db(conn).count()
            if followed >= MAX_FOLLOWED and not await ReportFollower.exists(
                report_id=report.id, account_id=viewer.account_id
            ):
                raise Conflict(f"You follow {MAX_FOLLOWED} reports already.", code="too_many_followed")
            await ReportFollower.bulk_create(
                [ReportFollower(report_id=report.id, account_id=viewer.account_id, created_at=utcnow())],
                ignore_conflicts=True,
                using_db=conn,
            )
    return report, await followers(report)


async def unfollow(*, principal: Principal, public_id: str) -> None:
    report = await Report.get_or_none(public_id=public_id) if 0 < len(public_id) <= 16 else None
    account = await Account.get_or_none(public_id=principal.account_id)
    if report is not None and account is not None:
        await ReportFollower.filter(report_id=report.id, account_id=account.id).delete()


async def followers(report: Report) -> int:
    return await ReportFollower.filter(report_id=report.id).count()


async def followed(*, principal: Principal, limit: int = MAX_FOLLOWED) -> list[Report]:
    """The reports the caller follows, as ``get_readable`` lets them read each: a police matter or a
    person's own matter out of their scope (followed before such follows were refused, or since become
    one) is not listed."""
    viewer = await viewer_of(principal)
    if viewer.account_id is None:
        return []
    ids = ReportFollower.filter(account_id=viewer.account_id).values_list("report_id", flat=True)
    rows = await Report.filter(id__in=Subquery(ids)).order_by("-updated_at", "-id").limit(limit)
    hidden = PRIVATE_CATEGORIES | PERSONAL_CATEGORIES
    private = set(await Category.filter(key__in=list(hidden)).values_list("id", flat=True))
    return [r for r in rows if r.category_id not in private or viewer.view(r) is not View.PUBLIC]
