"""Party-member boards: create or update one (with its e-ID code), and residents' messages to the
grid's party branch, which enter the 明心桥 report pipeline with channel ``board``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tortoise.transactions import in_transaction

from identity import hierarchy
from identity.models import Account
from identity.service import is_district_level
from miniapp_api.boards.models import Board
from miniapp_api.boards.schemas import BoardIn
from miniapp_api.reports import service as reports
from miniapp_api.reports.models import Report
from qr import service as qr_service
from server.auth import Principal
from server.errors import NotFound, ValidationFailed


def _node_error() -> ValidationFailed:
    message = "no hierarchy node has this code"
    return ValidationFailed(
        f"node: {message}", code="unknown_node", details={"fields": [{"field": "node", "message": message}]}
    )


async def get(code: str) -> Board:
    board = await Board.get_or_none(code=code) if 0 < len(code) <= 32 else None
    if board is None:
        raise NotFound("No board with this code.", code="board_not_found")
    return board


async def for_building(code: str) -> Board:
    """The board on the building, else the one of its grid."""
    from miniapp_api.buildings.service import get_by_code  # buildings is optional to boards

    board = await Board.filter(building_code=code).order_by("id").first()
    if board is None:
        building = await get_by_code(code=code)
        if building is not None:
            board = await Board.filter(node_path=building.node_path).order_by("id").first()
    if board is None:
        raise NotFound("No party-member board for this building or its grid yet.", code="board_not_found")
    return board


async def upsert(*, data: BoardIn, principal: Principal) -> Board:
    """Create the board (and issue its code) or update its title, members and place."""
    node = await hierarchy.get_by_code(data.node)
    if node is None:
        raise _node_error()
    district = is_district_level(principal)
    if not district and not principal.covers(node.path):
        raise NotFound("This grid is not in your part of the hierarchy.", code="node_not_found")
    members: list[dict[str, Any]] = [
        {"name": m.name, "duty": m.duty, "photo_url": str(m.photo_url) if m.photo_url else None} for m in data.members
    ]
    now = dt.datetime.now(dt.UTC)
    async with in_transaction() as conn:
        board = await Board.filter(code=data.code).using_db(conn).select_for_update().first()
        if board is None:
            credential = await qr_service.issue(
                kind="board", subject_id=data.code, node_path=node.path, label=data.title[:64], using_db=conn
            )
            board = await Board.create(
                code=data.code,
                title=data.title,
                node_path=node.path,
                building_code=data.building,
                members=members,
                credential_id=credential.public_id,
                created_at=now,
                updated_at=now,
                using_db=conn,
            )
        else:
            board.title, board.node_path, board.building_code = data.title, node.path, data.building
            board.members, board.updated_at = members, now
            await board.save(using_db=conn)
    return board


async def leave_message(*, board: Board, author: Account, principal: Principal, text: str, category: str) -> Report:
    """A resident's message (群众留言) becomes a report for the board's grid. The author is kept (to
    tell them of progress) but marked anonymous: nobody else ever sees who wrote it."""
    code = board.node_path.rstrip("/").rsplit("/", 1)[-1]  # paths are the codes from the root
    report = await reports.submit(
        reporter=author,
        principal=principal,
        category_key=category,
        text=text,
        node_code=code,
        channel="board",
        anonymous=True,
        building_code=board.building_code,
        board_code=board.code,
    )
    return report
