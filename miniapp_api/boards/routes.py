"""HTTP routes of party-member boards."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity import service as identity_service
from identity.pii import mask_public_text
from identity.roles import Role
from miniapp_api.boards import scan, service
from miniapp_api.boards.models import Board
from miniapp_api.boards.schemas import BoardIn, BoardOut, BoardQuery, MemberOut, MessageIn, MessageOut
from miniapp_api.reports import service as reports
from qr import service as qr_service
from qr.routes import code_url
from server.auth import public, require_principal, requires, token_ignored
from server.errors import NotFound
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("boards", url_prefix="/api/v1")
scan.register_kind()


async def board_out(request: Request, board: Board) -> BoardOut:
    credential = await qr_service.get(public_id=board.credential_id)
    return BoardOut(
        code=board.code,
        title=mask_public_text(board.title),
        node=board.node_path,
        building=board.building_code,
        members=[MemberOut(**member) for member in service.shown_members(board)],
        credential=board.credential_id,
        url=code_url(request, credential.token) if credential else "",
        updated_at=board.updated_at,
    )


@bp.put("/boards", name="boards.upsert")
@requires(Role.GRID_STAFF, Role.ADMIN)
@json_body(BoardIn)
@responds(200, BoardOut, "The board, created with its e-ID code or updated")
@errors(404, 422)
async def upsert(request: Request, body: BoardIn) -> HTTPResponse:
    """Put up or update a party-member board for a grid in your part of the hierarchy. Another grid's
    board is 404 and stays as it was; a building must lie in your area and under the board's node (422)."""
    board = await service.upsert(data=body, principal=require_principal(request))
    return json((await board_out(request, board)).model_dump(mode="json"))


@bp.get("/boards", name="boards.find")
@public
@token_ignored
@query_args(BoardQuery)
@responds(200, BoardOut, "The board of the building, or else of its grid")
@errors(404, 422)
async def find_board(request: Request, query: BoardQuery) -> HTTPResponse:
    """From a scanned building to the party branch to message: its own board, or its grid's."""
    board = await service.for_building(query.building)
    return json((await board_out(request, board)).model_dump(mode="json"))


@bp.get("/boards/<code:str>", name="boards.get")
@public
@token_ignored
@responds(200, BoardOut, "The board: its members on duty (contact through the platform only)")
@errors(404)
async def get_board(request: Request, code: str) -> HTTPResponse:
    board = await service.get(code)
    return json((await board_out(request, board)).model_dump(mode="json"))


@bp.post("/boards/<code:str>/messages", name="boards.message")
@requires(Role.RESIDENT, Role.PARTY_MEMBER)
@json_body(MessageIn)
@responds(201, MessageOut, "Your message is a report for the grid; nobody else sees who wrote it")
@errors(403, 404, 422)
async def message(request: Request, code: str, body: MessageIn) -> HTTPResponse:
    """Leave a message (群众留言) for the grid's party branch from its board: a report for the board's
    grid (its building's grid, when it is on one). A party member leaves one only in their own area (403)."""
    principal = require_principal(request)
    board = await service.get(code)
    account = await identity_service.get_account(public_id=principal.account_id)
    if account is None:
        raise NotFound("Your account no longer exists.", code="account_not_found")
    await reports.check_text(gateway=request.app.ctx.wechat, account=account, text=body.text)
    report = await service.leave_message(
        board=board, author=account, principal=principal, text=body.text, category=body.category
    )
    return json(MessageOut(report=report.public_id, report_no=report.report_no).model_dump(mode="json"), status=201)
