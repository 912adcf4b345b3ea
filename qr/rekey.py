"""Reissuing every code one signing key signed, with the active key (``gmid qr reissue --kid KID``).

Before a key is retired, the codes it signed must be reissued, or every sticker carrying one is
refused. The run takes the credentials in batches, each batch in one transaction: an interrupted run
leaves each credential either reissued or not, never half. A credential is reissued only while its
code is still signed by the old key (checked on the locked row), so a second run, or two at once,
carry on where the first stopped and never reissue a code twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tortoise.transactions import in_transaction

from qr import codec, service
from server import progress

DEFAULT_BATCH = 200


@dataclass
class RekeyResult:
    reissued: int = 0
    seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # "public_id: reason", for the operator


def progress_bar(done: int, total: int, started: float) -> None:
    progress.draw(done, total, started, what="codes reissued")


async def reissue_signed_by(
    *,
    kid: str,
    batch_size: int = DEFAULT_BATCH,
    total: int | None = None,
    on_progress: Callable[[int, int, float], None] | None = None,
) -> RekeyResult:
    """Reissue, with the active key, every active credential whose code ``kid`` signed."""
    started = time.monotonic()
    result = RekeyResult()
    total = total if total is not None else await service.signed_by(kid).count()
    last_id = 0
    while True:
        # A cursor on the id: a credential that cannot be reissued is passed over, not met again.
        rows = (
            await service.signed_by(kid)
            .filter(id__gt=last_id)
            .order_by("id")
            .limit(batch_size)
            .values("id", "public_id")
        )
        if not rows:
            break
        last_id = rows[-1]["id"]
        reissued: list[str] = []
        async with in_transaction() as conn:
            for row in rows:
                try:
                    credential = await service.rekey(public_id=row["public_id"], kid=kid, using_db=conn)
                except (codec.VerifyError, service.UnknownKind) as exc:
                    result.failed.append(f"{row['public_id']}: {exc}")
                    continue
                if credential is not None:
                    reissued.append(credential.public_id)
                    result.reissued += 1
                    result.by_kind[credential.kind] = result.by_kind.get(credential.kind, 0) + 1
        await service.changed(*reissued)  # after the commit: old stickers answer superseded at once
        # Reported after the commit: what the bar shows is done and stays done.
        if on_progress is not None:
            on_progress(result.reissued, max(total, result.reissued), started)
    result.seconds = time.monotonic() - started
    return result
