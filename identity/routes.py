"""HTTP routes of identity: sign-in, the caller's own account, staff accounts, hierarchy, audit."""

from __future__ import annotations

from datetime import UTC, datetime

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from identity import audit, hierarchy, scope, service, signin
from identity.models import Account, Node
from identity.purpose import require_purpose
from identity.roles import Role
from identity.schemas import (
    AccountList,
    AccountListQuery,
    AccountOut,
    AccountPatchIn,
    AuditEntryOut,
    AuditList,
    AuditQuery,
    AuditVerifyOut,
    IdNumberCorrectionIn,
    MeOut,
    NodeList,
    NodeListQuery,
    NodeOut,
    ProfileIn,
    RefreshIn,
    StaffCreateIn,
    StaffLoginIn,
    TokenOut,
    WeChatLoginIn,
)
from identity.wechat import WeChatGateway
from server.auth import public, require_principal, requires, token_ignored
from server.errors import NotFound
from server.ratelimit import rate_limit
from server.validation import errors, json_body, query_args, responds
from server.wire import wire_time

bp = Blueprint("identity", url_prefix="/api/v1")


def client_addr(request: Request) -> str:
    return str(request.remote_addr or request.ip)


def account_out(account: Account) -> dict[str, object]:
    node: Node | None = account.node if isinstance(account.node, Node) else None
    return AccountOut(
        id=account.public_id,
        role=account.role,
        node=node.code if node else None,
        username=account.username,
        is_active=account.is_active,
        created_at=account.created_at,
    ).model_dump(mode="json")


async def token_answer(pair: signin.TokenPair) -> HTTPResponse:
    await pair.account.fetch_related("node")
    body = {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_at": wire_time(datetime.fromtimestamp(pair.expires_at, UTC)),
        "refresh_token": pair.refresh_token,
        "account": account_out(pair.account),
    }
    return json(body, headers={"Cache-Control": "no-store"})


def gateway(request: Request) -> WeChatGateway:
    gw: WeChatGateway = request.app.ctx.wechat
    return gw


# Sign-in ----------------------------------------------------------------------------------------


@bp.post("/auth/wechat", name="auth.wechat")
@public
@token_ignored
@rate_limit(ip="30/minute")
@json_body(WeChatLoginIn)
@responds(200, TokenOut, "Signed in; the account is created on first login")
@errors(400, 401, 415, 429, 503)
async def wechat_login(request: Request, body: WeChatLoginIn) -> HTTPResponse:
    """Resident sign-in with the code from wx.login() (WeChat code2session)."""
    account = await signin.wechat_login(code=body.code, gateway=gateway(request))
    settings = request.app.ctx.settings
    pair = await signin.issue_tokens(account=account, settings=settings, secret=request.app.ctx.access_token_secret)
    return await token_answer(pair)


@bp.post("/auth/login", name="auth.login")
@public
@token_ignored
@rate_limit(ip="20/minute")
@json_body(StaffLoginIn)
@responds(200, TokenOut, "Signed in")
@errors(400, 401, 415, 429)
async def staff_login(request: Request, body: StaffLoginIn) -> HTTPResponse:
    """Staff sign-in with username and password; refused for a while after repeated failures."""
    settings = request.app.ctx.settings
    account = await signin.staff_login(
        username=body.username,
        password=body.password,
        client_addr=client_addr(request),
        redis=request.app.ctx.redis,
        settings=settings,
    )
    pair = await signin.issue_tokens(account=account, settings=settings, secret=request.app.ctx.access_token_secret)
    return await token_answer(pair)


@bp.post("/auth/refresh", name="auth.refresh")
@public
@token_ignored
@rate_limit(ip="60/minute")
@json_body(RefreshIn)
@responds(200, TokenOut, "A new access token and the next refresh token")
@errors(400, 401, 415, 429)
async def refresh(request: Request, body: RefreshIn) -> HTTPResponse:
    """Spend a refresh token for a new pair. Reusing a spent one closes every session of its family."""
    pair = await signin.refresh(
        refresh_token=body.refresh_token,
        settings=request.app.ctx.settings,
        secret=request.app.ctx.access_token_secret,
    )
    return await token_answer(pair)


@bp.post("/auth/logout", name="auth.logout")
@public
@token_ignored
@json_body(RefreshIn)
@responds(204, None, "Signed out: the refresh token's family is revoked")
async def logout(request: Request, body: RefreshIn) -> HTTPResponse:
    await signin.logout(refresh_token=body.refresh_token)
    return empty()


# The caller's own account ---------------------------------------------------------------------------


async def me_answer(account: Account) -> HTTPResponse:
    await account.fetch_related("node")
    profile = service.masked_profile(account)
    return json({"account": account_out(account), "profile": profile.__dict__}, headers={"Cache-Control": "no-store"})


@bp.get("/me", name="me.get")
@requires()
@responds(200, MeOut, "Your account, personal data masked")
@errors(401)
async def me(request: Request) -> HTTPResponse:
    principal = require_principal(request)
    account = await service.visible_account(viewer=principal, public_id=principal.account_id)
    return await me_answer(account)


@bp.put("/me/profile", name="me.profile")
@requires(Role.RESIDENT, Role.PARTY_MEMBER)
@rate_limit(account="20/hour")
@json_body(ProfileIn)
@responds(200, MeOut, "Saved (encrypted at rest); the answer is masked")
@errors(401, 403, 409, 422)
async def update_profile(request: Request, body: ProfileIn) -> HTTPResponse:
    principal = require_principal(request)
    account = await service.visible_account(viewer=principal, public_id=principal.account_id)
    await service.update_profile(
        account=account,
        name=body.name,
        phone=body.phone,
        id_number=body.id_number,
        address=body.address,
        redis=request.app.ctx.redis,
    )
    return await me_answer(account)


# Hierarchy ------------------------------------------------------------------------------------------


def node_out(node: Node, parent_code: str | None) -> dict[str, object]:
    return NodeOut(
        code=node.code,
        name=node.name,
        level=node.level,
        parent=parent_code,
        path=node.path,
        division_code=node.division_code,
    ).model_dump(mode="json")


def parent_code(node: Node) -> str | None:
    parts = node.path.strip("/").split("/")
    return parts[-2] if len(parts) > 1 else None


@bp.get("/hierarchy/nodes", name="hierarchy.list")
@public
@token_ignored
@query_args(NodeListQuery)
@responds(200, NodeList, "The district's streets, communities and grids")
@errors(422)
async def list_nodes(request: Request, query: NodeListQuery) -> HTTPResponse:
    nodes = await hierarchy.list_nodes(under=query.under, level=query.level, limit=query.limit)
    return json({"items": [node_out(n, parent_code(n)) for n in nodes]})


@bp.get("/hierarchy/nodes/<code:str>", name="hierarchy.get")
@public
@token_ignored
@responds(200, NodeOut, "One node")
@errors(404)
async def get_node(request: Request, code: str) -> HTTPResponse:
    node = await hierarchy.get_by_code(code)
    if node is None:
        raise NotFound("There is no such node.", code="node_not_found")
    return json(node_out(node, parent_code(node)))


# Accounts (administration) ---------------------------------------------------------------------------


@bp.get("/accounts", name="accounts.list")
@requires(Role.ADMIN)
@query_args(AccountListQuery)
@responds(200, AccountList, "Accounts in your part of the hierarchy")
@errors(401, 403, 422)
async def list_accounts(request: Request, query: AccountListQuery) -> HTTPResponse:
    principal = require_principal(request)
    rows = await service.list_accounts(
        viewer=principal, role=query.role, node_code=query.node, limit=query.limit, after=query.after
    )
    next_after = rows[-1].public_id if len(rows) == query.limit else None
    return json({"items": [account_out(a) for a in rows], "next_after": next_after})


@bp.post("/accounts", name="accounts.create")
@requires(Role.ADMIN)
@json_body(StaffCreateIn)
@responds(201, AccountOut, "The staff account")
@errors(401, 403, 404, 409, 422)
async def create_staff(request: Request, body: StaffCreateIn) -> HTTPResponse:
    principal = require_principal(request)
    node = await hierarchy.get_by_code(body.node)
    if node is None:
        raise NotFound("There is no such node.", code="node_not_found")
    scope.ensure_may_create(principal, node, body.role)
    account = await service.create_staff(
        username=body.username,
        role=body.role,
        node_code=body.node,
        password=body.password,
        by=service.AuditContext(principal, client_addr(request), request.ctx.request_id),
    )
    await account.fetch_related("node")
    return json(account_out(account), status=201)


@bp.get("/accounts/<public_id:str>", name="accounts.get")
@requires()
@responds(200, MeOut, "The account, personal data masked")
@errors(401, 404)
async def get_account(request: Request, public_id: str) -> HTTPResponse:
    principal = require_principal(request)
    account = await service.visible_account(viewer=principal, public_id=public_id)
    if account.public_id != principal.account_id:
        await audit.record(
            actor=principal.account_id,
            role=principal.role.value,
            action="account.read",
            target=account.public_id,
            client_addr=client_addr(request),
            request_id=request.ctx.request_id,
            scope=scope.account_scope(account),
        )
    return await me_answer(account)


@bp.patch("/accounts/<public_id:str>", name="accounts.update")
@requires(Role.ADMIN)
@json_body(AccountPatchIn)
@responds(200, AccountOut, "Updated")
@errors(401, 403, 404, 409, 422)
async def update_account(request: Request, public_id: str, body: AccountPatchIn) -> HTTPResponse:
    principal = require_principal(request)
    account = await service.set_active(
        viewer=principal,
        public_id=public_id,
        active=body.is_active,
        client_addr=client_addr(request),
        request_id=request.ctx.request_id,
        redis=request.app.ctx.redis,
    )
    await account.fetch_related("node")
    return json(account_out(account))


@bp.put("/accounts/<public_id:str>/id-number", name="accounts.id_number")
@requires(*service.CORRECTING_ROLES)
@rate_limit(account="30/hour")
@json_body(IdNumberCorrectionIn)
@responds(200, MeOut, "Corrected; audited, and the resident is told. The answer is masked")
@errors(401, 403, 404, 409, 422, 429)
async def correct_id_number(request: Request, public_id: str, body: IdNumberCorrectionIn) -> HTTPResponse:
    """The one way an ID number bound to registered property changes: an administrator or officer of
    the place where the resident's property is registered (the district: any resident) corrects it,
    after checking the ID card, with the reason and the ticket or case number. Both numbers go into
    the audit log masked. `id_number: null` removes a number someone else claimed. A number another
    account holds is refused (`id_number_in_use`): correct that account first."""
    principal = require_principal(request)
    purpose = require_purpose(body.reason, body.case_no)
    account = await service.correct_id_number(
        viewer=principal,
        public_id=public_id,
        id_number=body.id_number,
        reason=purpose.reason,
        case_no=purpose.case_no,
        client_addr=client_addr(request),
        request_id=request.ctx.request_id,
    )
    return await me_answer(account)


# Audit -------------------------------------------------------------------------------------------------


@bp.get("/admin/audit/verify", name="audit.verify")
@requires(Role.ADMIN)
@rate_limit(account="6/minute")
@responds(200, AuditVerifyOut, "Whether the hash chain holds, and where it first breaks")
@errors(401, 403, 429)
async def verify_audit(request: Request) -> HTTPResponse:
    """Walk the whole audit chain now, as `gmid audit verify` does: the district administration only
    (403 `district_only` below it: the chain is one for the whole district)."""
    scope.require_district(require_principal(request), "verifies the audit chain")
    result = await audit.verify()
    out = AuditVerifyOut(ok=result.ok, checked=result.checked, broken_seq=result.broken_seq, problem=result.problem)
    return json(out.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.get("/admin/audit", name="audit.list")
@requires(Role.ADMIN)
@query_args(AuditQuery)
@responds(200, AuditList, "Audit entries, oldest first")
@errors(401, 403, 422)
async def list_audit(request: Request, query: AuditQuery) -> HTTPResponse:
    """Audit entries. The district administration sees all; an administrator lower down sees what
    the accounts in their part of the hierarchy did to rows in it (an entry about a bike, account or
    building elsewhere is not shown, whoever made it)."""
    principal = require_principal(request)
    rows = await audit.search(
        within=scope.admin_scope(principal),
        actor=query.actor,
        action=query.action,
        since=query.since,
        until=query.until,
        after=query.after,
        limit=query.limit,
    )
    items = [
        AuditEntryOut(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            role=e.role,
            action=e.action,
            target=e.target,
            reason=e.reason,
            client_addr=e.client_addr,
            request_id=e.request_id,
            details=e.details,
            scope=e.scope,
            hash=e.hash,
        ).model_dump(mode="json")
        for e in rows
    ]
    next_after = rows[-1].seq if len(rows) == query.limit else None
    return json({"items": items, "next_after": next_after}, headers={"Cache-Control": "no-store"})
