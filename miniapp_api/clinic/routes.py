"""HTTP routes of the 民情诊所 for staff, scoped by the caller's node: the classifier's suggestion for a
report, confirming or correcting its category, duplicate groups and their one-action merge, ledgers."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw

from identity.roles import Role
from miniapp_api.clinic import groups, ledgers, topics
from miniapp_api.clinic.models import NOT_YET, ReportInsight
from miniapp_api.clinic.schemas import (
    CategoryIn,
    CategorySetOut,
    GroupList,
    GroupMember,
    GroupOut,
    GroupQuery,
    HotGroupOut,
    HotOut,
    HotQuery,
    InsightOut,
    LedgerOut,
    LedgerQuery,
    LedgerRowOut,
    MergeIn,
    MergeItem,
    MergeOut,
    TermOut,
)
from miniapp_api.reports import access, catalogue
from miniapp_api.reports.models import Category
from server.auth import require_principal, requires
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("clinic", url_prefix="/api/v1")

READERS = (Role.GRID_STAFF, Role.OFFICER, Role.ADMIN, Role.PARTY_MEMBER)
EDITORS = (Role.GRID_STAFF, Role.ADMIN)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/clinic/reports/<public_id:str>/insight", name="clinic.insight")
@requires(*READERS)
@responds(200, InsightOut, "The classifier's suggestion and the duplicate group of one report")
@errors(404)
async def insight(request: Request, public_id: str) -> HTTPResponse:
    """Advisory: a person confirms or corrects the category (PUT /api/v1/reports/{id}/category)."""
    principal = require_principal(request)
    report, _ = await access.get_visible(principal=principal, public_id=public_id)
    found = await ReportInsight.get_or_none(report_id=report.id)
    category = (
        await Category.get_or_none(id=found.suggested_category_id) if found and found.suggested_category_id else None
    )
    department = await catalogue.suggest_department(category, report.node_path) if category else None
    # The group as the caller sees it (GET /clinic/groups/{id}): members in their scope only, so
    # another grid's report is neither named nor counted.
    seen = (
        await groups.visible_group(found.group_id, principal.node_path)
        if found and found.group_id and principal.node_path is not None
        else None
    )
    lead, size = (seen.lead, len(seen.members)) if seen else (None, 0)
    out = InsightOut(
        id=report.public_id,
        analysed=found is not None and found.analysed_at > NOT_YET,
        suggested_category=category.key if category else None,
        suggested_category_name=category.name if category else None,
        suggested_department=department.code if department else None,
        confidence=found.confidence if category and found else None,
        model_version=(found.model_version or None) if found else None,
        group=lead.public_id if lead else None,
        group_size=size if lead else 0,
    )
    return json(out.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.put("/reports/<public_id:str>/category", name="clinic.set_category")
@requires(*EDITORS)
@json_body(CategoryIn)
@responds(200, CategorySetOut, "The category, confirmed or corrected (kept as training data)")
@errors(403, 404, 409, 422)
async def set_category(request: Request, public_id: str, body: CategoryIn) -> HTTPResponse:
    report = await groups.set_category(
        principal=require_principal(request), public_id=public_id, category_key=body.category, note=body.note
    )
    category = await Category.get(id=report.category_id)
    return json(CategorySetOut(id=report.public_id, category=category.key, category_name=category.name).model_dump())


def _group_out(group: groups.Group, categories: dict[int, Category]) -> GroupOut:
    main = group.main()
    return GroupOut(
        id=group.lead.public_id,
        size=len(group.members),
        main=main.public_id if main else None,
        members=[
            GroupMember(
                id=r.public_id,
                report_no=r.report_no,
                excerpt=r.text[:60],
                state=r.state,
                category=categories[r.category_id].key,
                building=r.building_code,
                created_at=r.created_at,
                similarity=similarity,
            )
            for r, similarity in group.members
        ],
    )


@bp.get("/clinic/groups", name="clinic.groups")
@requires(*READERS)
@query_args(GroupQuery)
@responds(200, GroupList, "Duplicate groups under your node (two or more reports), the largest first")
async def list_groups(request: Request, query: GroupQuery) -> HTTPResponse:
    found = await groups.list_groups(principal=require_principal(request), include_closed=query.include_closed)
    categories = {c.id: c for c in await Category.all()}
    body = GroupList(items=[_group_out(g, categories) for g in found])
    return json(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.get("/clinic/groups/<public_id:str>", name="clinic.group")
@requires(*READERS)
@responds(200, GroupOut, "The duplicate group of a report (give any member's id)")
@errors(404)
async def get_group(request: Request, public_id: str) -> HTTPResponse:
    group = await groups.get_group(principal=require_principal(request), public_id=public_id)
    categories = {c.id: c for c in await Category.all()}
    return json(_group_out(group, categories).model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.post("/clinic/groups/<public_id:str>/merge", name="clinic.group_merge")
@requires(*EDITORS)
@json_body(MergeIn)
@responds(200, MergeOut, "Every mergeable report of the group merged into one; one result per report")
@errors(404, 409)
async def merge_group(request: Request, public_id: str, body: MergeIn) -> HTTPResponse:
    """One action for the whole group: each report is merged through the state machine, and its
    reporter then hears of every step of the main report."""
    main, results = await groups.merge_group(principal=require_principal(request), public_id=public_id, into=body.into)
    out = MergeOut(
        main=main.public_id, results=[MergeItem(id=i, ok=r is not None, error=e or None) for i, r, e in results]
    )
    return json(out.model_dump(mode="json"))


@bp.get("/clinic/ledger", name="clinic.ledger")
@requires(*READERS)
@query_args(LedgerQuery)
@responds(200, LedgerOut, "Reports by period × node × category; `format=csv` or `xlsx` downloads the ledger")
@errors(403, 422)
async def ledger(request: Request, query: LedgerQuery) -> HTTPResponse:
    rows = await ledgers.ledger(
        principal=require_principal(request),
        period=query.period,
        since=query.since,
        until=query.until,
        level=query.level,
        category=query.category,
        node=query.node,
    )
    name = f"ledger-{query.period}-{query.since.isoformat()}-{query.until.isoformat()}"
    if query.format == "csv":
        return raw(ledgers.to_csv(rows), content_type="text/csv; charset=utf-8", headers=_download(f"{name}.csv"))
    if query.format == "xlsx":
        return raw(ledgers.to_xlsx(rows), content_type=XLSX, headers=_download(f"{name}.xlsx"))
    body = LedgerOut(items=[LedgerRowOut.model_validate(r.public()) for r in rows])
    return json(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


def _download(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}


@bp.get("/clinic/hot", name="clinic.hot")
@requires(*READERS)
@query_args(HotQuery)
@responds(200, HotOut, "Terms and groups of reports rising this week over the last, under your node")
@errors(422)
async def hot_topics(request: Request, query: HotQuery) -> HTTPResponse:
    found = await topics.topics(principal=require_principal(request), week=query.week, top=query.top)
    body = HotOut(
        week=found.week,
        reports=found.reports,
        terms=[
            TermOut(
                term=t.term,
                count=t.count,
                previous=t.previous,
                score=round(t.score, 3),
                reports=[str(i) for i in t.sample_ids],
                related=list(t.related),
            )
            for t in found.terms
        ],
        groups=[
            HotGroupOut(
                label=g.label[:60],
                size=g.size,
                previous=g.previous,
                change=g.change,
                voices=g.authors,
                followers=g.likes,
                first_at=g.first_at.replace(tzinfo=topics.BEIJING),
                last_at=g.last_at.replace(tzinfo=topics.BEIJING),
                heat=round(g.heat, 2),
                reports=[str(i) for i in g.ids],
            )
            for g in found.groups
        ],
    )
    return json(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
