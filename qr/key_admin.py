"""Managing the QR signing keys: what ``gmid keys list/rotate/retire`` and the admin API both call.

The keyring files are changed by ``qr.keys`` (under its file lock); this module adds the checks an
operator relies on (the active key is never retired; a key whose codes are still in use is retired
only when asked to refuse them), the count of codes each key signed, and the audit entry of an
administrator's change. The process that made the change sees it at once (its keyring cache is
reloaded); other processes see it within seconds (they re-read ``keyring.json`` when it changes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from identity import audit
from qr import keys
from qr import service as qr_service


class ActiveKeyError(keys.KeyringError):
    """The active key cannot be retired: rotate first."""


class StillSigning(keys.KeyringError):
    """Active codes are still signed by the key: reissue them first, or retire with force."""

    def __init__(self, kid: str, remaining: int) -> None:
        super().__init__(f"{remaining:,} active codes are still signed by {kid}")
        self.kid = kid
        self.remaining = remaining


@dataclass(frozen=True)
class KeyRow:
    info: keys.KeyInfo
    active_codes: int


@dataclass(frozen=True)
class Retired:
    kid: str
    refused_codes: int  # active codes it signed, refused from now on (0 unless forced)
    already: bool


async def list_keys(*, keys_path: Path) -> list[KeyRow]:
    """Every key, newest first, with how many active codes it signed."""
    ring = keys.load(keys_path)
    rows = []
    for info in sorted(ring.keys.values(), key=lambda k: k.created_at, reverse=True):
        count = 0 if info.status == keys.RETIRED else await qr_service.signed_by(info.kid).count()
        rows.append(KeyRow(info, count))
    return rows


async def rotate(*, keys_path: Path, who: audit.Who | None = None) -> str:
    """A new key signs from now on (the previous one keeps verifying); returns its kid."""
    kid = keys.rotate(keys_path)
    qr_service.reload_keyring()
    if who is not None:
        await _audit(who, "qr_key.rotate", kid)
    return kid


async def retire(*, keys_path: Path, kid: str, force: bool, who: audit.Who | None = None) -> Retired:
    """Codes signed by ``kid`` are refused from now on and its private key is destroyed. Refused for
    the active key, and while active codes still carry the key unless ``force``."""
    info = keys.resolve_kid(keys_path, kid)
    if info.status == keys.ACTIVE:
        raise ActiveKeyError(f"{info.kid} is the active key: rotate first, then retire it")
    if info.status == keys.RETIRED:
        return Retired(info.kid, 0, already=True)
    remaining = await qr_service.signed_by(info.kid).count()
    if remaining and not force:
        raise StillSigning(info.kid, remaining)
    keys.retire(keys_path, info.kid)
    qr_service.reload_keyring()
    if who is not None:
        await _audit(who, "qr_key.retire", info.kid, refused_codes=remaining)
    return Retired(info.kid, remaining, already=False)


async def _audit(who: audit.Who, action: str, kid: str, **details: object) -> None:
    # Keys belong to the whole district: scope "" (only the district administration sees the entry).
    await audit.record(
        actor=who.actor,
        role=who.role,
        action=action,
        target=kid,
        client_addr=who.client_addr,
        request_id=who.request_id,
        details=dict(details),
        scope="",
    )
