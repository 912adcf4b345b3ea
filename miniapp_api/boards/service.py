"""Party-member boards: create or update one (with its e-ID code), and residents' messages to the
grid's party branch, which enter the 明心桥 report pipeline with channel ``board``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tortoise.transactions import in_transaction

from identity import hierarchy
from identity.models import Account
from identity.pii import mask_public_text
from identity.scope import is_district_level
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


def shown_members(board: Board) -> list[dict[str, Any]]:
    """The members as anyone sees them: a phone or ID number in a name or duty stored before these
    were refused is masked."""
    return [
        {"name": mask_public_text(m["name"]), "duty": mask_public_text(m["duty"]), "photo_url": m.get("photo_url")}
        for m in board.members
    ]


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


def _covers(principal: Principal, node_path: str) -> bool:
    return is_district_level(principal) or principal.covers(node_path)


async def _board_building(principal: Principal, code: str | None, node_path: str) -> str | None:
    """The board's building, checked: it exists in the caller's area (one outside it is as unknown as
    one that does not exist) and lies under the board's node, so that messages left on the board (the
    building's grid) reach the grid the board serves."""
    from miniapp_api.buildings.service import get_by_code  # buildings is optional to boards

    if not code:
        return None
    building = await get_by_code(code=code)
    if building is None or not _covers(principal, building.node_path):
        raise ValidationFailed.field("building", "no building has this code in your area", "unknown_building")
    if not building.node_path.startswith(node_path):
        raise ValidationFailed.field(
            "building", "this building lies outside the grid the board serves", "building_not_in_node"
        )
    return building.code


async def upsert(*, data: BoardIn, principal: Principal) -> Board:
    """Create the board (and issue its code) or update its title, members and place. The caller must
    cover both the board as it is (another grid's board is "not found", and stays as it was) and the
    node it is put at."""
    node = await hierarchy.get_by_code(data.node)
    if node is None:
        raise _node_error()
    if not _covers(principal, node.path):
        raise NotFound("This grid is not in your part of the hierarchy.", code="node_not_found")
    building_code = await _board_building(principal, data.building, node.path)
    members: list[dict[str, Any]] = [
        {"name": m.name, "duty": m.duty, "photo_url": str(m.photo_url) if m.photo_url else None} for m in data.members
    ]
    now = dt.datetime.now(dt.UTC)
    async with in_transaction() as conn:
        board = await Board.filter(code=data.code).using_db(conn).select_for_update().first()
        if board is None:
            credential = await qr_service.issue(
                kind="board", subject_id=data.code, node_path=node.path, label=data.title, using_db=conn
            )
            board = await Board.create(
                code=data.code,
                title=data.title,
                node_path=node.path,
                building_code=building_code,
                members=members,
                credential_id=credential.public_id,
                created_at=now,
                updated_at=now,
                using_db=conn,
            )
        else:
            if not _covers(principal, board.node_path):
                # Another grid's board: not this caller's to overwrite, nor to learn of.
                raise NotFound("No board with this code in your part of the hierarchy.", code="board_not_found")
            board.title, board.node_path, board.building_code = data.title, node.path, building_code
            board.members, board.updated_at = members, now
            await board.save(using_db=conn)
            # Its code belongs to the grid it serves (that grid's staff manage and print it) and its
            # sticker prints its title as it is now.
            await qr_service.follow(
                public_id=board.credential_id, node_path=board.node_path, label=board.title, using_db=conn
            )
    await qr_service.changed(board.credential_id)  # its title and members are what a scan shows
    return board


async def leave_message(*, board: Board, author: Account, principal: Principal, text: str, category: str) -> Report:
    """A resident's message (群众留言) becomes a report for the board's grid (the grid of its building,
    when it is on one). The author is kept (to tell them of progress) but marked anonymous: nobody else
    ever sees who wrote it."""
    from miniapp_api.buildings.service import get_by_code

    code = board.node_path.rstrip("/").rsplit("/", 1)[-1]  # paths are the codes from the root
    building = await get_by_code(code=board.building_code) if board.building_code else None
    report = await reports.submit(
        reporter=author,
        principal=principal,
        category_key=category,
        text=text,
        # The building decides the node (its own grid); a board whose building is gone files at its node.
        node_code=None if building else code,
        channel="board",
        anonymous=True,
        building_code=building.code if building else None,
        board_code=board.code,
    )
    return report
