"""What a scan of a party-member board shows: the board and how to leave a message (anyone)."""

from __future__ import annotations

import dataclasses
from typing import Any

from identity.pii import mask_public_text
from miniapp_api.boards import service
from miniapp_api.boards.models import Board
from qr import kinds
from qr.kinds import ScanContext
from qr.models import Credential


async def view(credential: Credential, context: ScanContext) -> dict[str, Any]:
    subject = credential.subject_id
    board = await Board.get_or_none(code=subject) if 0 < len(subject) <= 32 else None
    if board is None:
        return {"kind": "board", "registered": False}
    return {
        "kind": "board",
        "title": mask_public_text(board.title),
        "members": service.shown_members(board),
        "actions": [
            {
                "key": "message_party_branch",
                "title": "给网格党支部留言",
                "href": f"/api/v1/boards/{board.code}/messages",
                "method": "POST",
            }
        ],
    }


def register_kind() -> None:
    kinds.register(dataclasses.replace(kinds.BOARD, resolver=view), replace=True)
