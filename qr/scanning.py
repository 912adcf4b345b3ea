"""What a scan tells its caller: the code verified (a token seen lately is not checked again), the
answer read from the scan cache for the audiences that all see the same view, else from the register,
the refusal notices, and a scan record for every scan (written in batches)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from qr import codec, kinds, scancache
from qr.models import Credential, CredentialStatus, ScanEvent
from qr.scanlog import ScanLog
from qr.service import Resolved, check_serial, keyring, kind_spec, registered, token_from_payload
from server import product

_scan_log: ScanLog | None = None


def set_scan_log(scan_log: ScanLog | None) -> None:
    """The process's batched writer of scan records (the app opens and closes it); without one, each
    record is written at once."""
    global _scan_log
    _scan_log = scan_log


async def flush_scan_log() -> None:
    """Write the waiting scan records now (tests and commands that read them right after a scan)."""
    if _scan_log is not None:
        await _scan_log.flush()


async def log_scan(
    *,
    context: kinds.ScanContext,
    result: str,
    credential: Credential | CredentialRef | None,
) -> None:
    viewer = context.viewer
    row: tuple[Any, ...] = (  # in ScanLog.COLUMNS' order
        datetime.now(UTC),
        viewer.account_id if viewer else "",
        context.audience,
        credential.public_id if credential else "",
        credential.kind if credential else "",
        result,
        context.lat,
        context.lng,
        context.client_addr[:64],
        context.request_id[:128],
    )
    if _scan_log is not None:
        _scan_log.add_row(row)
    else:
        await ScanEvent.create(**dict(zip(ScanLog.COLUMNS, row, strict=True)))


async def view_for(resolved: Resolved, context: kinds.ScanContext) -> dict[str, Any]:
    """What the caller's role may see; a kind without a resolver shows only its kind and status."""
    if resolved.kind.resolver is None:
        return {"kind": resolved.kind.name, "title": resolved.kind.title, "status": resolved.credential.status.value}
    return await resolved.kind.resolver(resolved.credential, context)


# The sentence a person reads for each refusal: the API gives it as ``details.notice`` and the /q/
# page prints it, so a finder hears the same thing from both.
REFUSAL_NOTICES = {
    "revoked": "此码已注销，不再有效。",
    "superseded": "此码已被新码替换，不再有效。",
    "not_found": "未在登记册中找到此码。",
    "malformed": f"这不是有效的{product.NAME_ZH}二维码。",
    "foreign_url": f"此码的网址不是{product.NAME_ZH}的网址，请勿信任。",
}
FORGED_NOTICE = "此码无法验证，可能是伪造的。请勿信任。"
NOT_REGISTERED_NOTICE = "此码登记的对象已不在登记册中，请勿信任。"
REFUSAL_STATUS = {"malformed": 400, "not_found": 404, "revoked": 410, "superseded": 410}


@dataclass(frozen=True)
class ScanAnswer:
    """What a scan tells its caller. ``POST /api/v1/scan`` and the ``/q/`` page are both drawn from
    this one answer, so they never disagree (a stolen bike is stolen on both)."""

    valid: bool
    code: str  # "ok", or why the code is refused
    http_status: int
    notice: str  # the sentence a person reads (Chinese)
    alert: str | None  # something the scanner must act on: "stolen", "not_registered", ...
    message: str  # for the API's error shape (English) when refused
    kind: kinds.KindSpec | None = None
    credential: Credential | CredentialRef | None = None
    view: dict[str, Any] | None = None
    view_is_json: bool = False  # the view came from the scan cache: JSON values only, nothing to convert


_verified = codec.VerifiedTokens()


@dataclass(frozen=True)
class CredentialRef:
    """What a scan answer needs of a credential, made from the scan cache (no ORM object per scan)."""

    public_id: str
    kind: str
    status: CredentialStatus
    serial: int
    node_path: str | None


# The audiences everybody of which sees the same view: their answers come from the scan cache.
CACHED_AUDIENCES = frozenset({kinds.Audience.ANONYMOUS, kinds.Audience.RESIDENT})


@dataclass(frozen=True)
class ScanRequest:
    """A scanned payload read once: its token (or why it is not one), and the scan cache's keys the
    scan will read (none when its answer is not cached), so that the route can read them with its
    rate limit in one round trip. The keys come from the code's unverified claims: a forged code only
    makes a read of a key that is not there."""

    token: str
    refusal: codec.VerifyError | None
    cache_keys: list[str]


def read_scan(*, payload: str, context: kinds.ScanContext, base_url: str | None = None) -> ScanRequest:
    try:
        token = token_from_payload(payload, base_url=base_url)
    except codec.VerifyError as exc:
        return ScanRequest("", exc, [])
    if context.audience not in CACHED_AUDIENCES:
        return ScanRequest(token, None, [])
    # A code verified lately has its claims at hand (and worked out once); else its unverified claims.
    known = _verified.known(token, keyring())
    claims = known.claims if known is not None else codec.peek(token)
    spec = kinds.by_code(claims.kind) if claims is not None else None
    if claims is None or spec is None or not spec.public_view_cacheable:
        return ScanRequest(token, None, [])
    return ScanRequest(token, None, scancache.keys(context.audience, claims.public_id_text))


async def scan(
    *,
    payload: str,
    context: kinds.ScanContext,
    base_url: str | None = None,
    request: ScanRequest | None = None,
    prefetched: list[bytes | None] | None = None,
) -> ScanAnswer:
    """Verify a scanned code, log the scan, and say what the caller's role may see of it.
    ``request``: the payload already read by ``read_scan``; ``prefetched``: the values of its cache
    keys, when the caller read them already."""
    read = request or read_scan(payload=payload, context=context, base_url=base_url)
    if read.refusal is not None:
        return await _refused(read.refusal, context)
    try:
        verified = _verified.verify(read.token, keyring())
    except codec.VerifyError as exc:
        return await _refused(exc, context)
    lookup = None
    spec = kinds.by_code(verified.claims.kind)
    if context.audience in CACHED_AUDIENCES and spec is not None and spec.public_view_cacheable:
        if prefetched is not None and len(prefetched) == 2 and read.cache_keys:
            lookup = scancache.lookup_from(prefetched)
        else:
            lookup = await scancache.get(context.audience, verified.claims.public_id_text)
        if lookup is not None and lookup.entry is not None:
            answer = await _from_cache(verified, lookup.entry, context)
            if answer is not None:
                return answer
    try:
        resolved = await registered(verified)
    except codec.VerifyError as exc:
        refused = exc.credential
        if lookup is not None and refused is not None:
            entry = scancache.Entry(refused.kind, refused.status.value, refused.serial, refused.node_path, None)
            await scancache.put(context.audience, verified.claims.public_id_text, lookup.version, entry)
        return await _refused(exc, context)
    view = await view_for(resolved, context)
    if lookup is not None:
        credential = resolved.credential
        entry = scancache.Entry(credential.kind, credential.status.value, credential.serial, credential.node_path, view)
        await scancache.put(context.audience, credential.public_id, lookup.version, entry)
    await log_scan(context=context, result="ok", credential=resolved.credential)
    return _answer(resolved.kind, resolved.credential, view)


async def _from_cache(
    verified: codec.Verified, entry: scancache.Entry, context: kinds.ScanContext
) -> ScanAnswer | None:
    """The same answer as from the database, made from the cached credential and view; None when the
    entry cannot answer this code (it was kept for a refusal, and this code is the current one)."""
    claims = verified.claims
    spec = kinds.by_code(claims.kind)
    if spec is None or spec.name != entry.kind:
        return await _refused(codec.VerifyError("not_found", "This code is not in the register."), context)
    credential = CredentialRef(
        public_id=claims.public_id_text,
        kind=entry.kind,
        status=CredentialStatus(entry.status),
        serial=entry.serial,
        node_path=entry.node_path,
    )
    try:
        check_serial(claims, credential.status, credential.serial, credential)
    except codec.VerifyError as exc:
        return await _refused(exc, context)
    if entry.view is None:
        return None
    await log_scan(context=context, result="ok", credential=credential)
    return _answer(spec, credential, entry.view, view_is_json=True)


async def _refused(exc: codec.VerifyError, context: kinds.ScanContext) -> ScanAnswer:
    await log_scan(context=context, result=exc.code, credential=exc.credential)
    credential = exc.credential
    return ScanAnswer(
        valid=False,
        code=exc.code,
        http_status=REFUSAL_STATUS.get(exc.code, 422),
        notice=REFUSAL_NOTICES.get(exc.code, FORGED_NOTICE),
        alert=None,
        message=exc.message,
        kind=kind_spec(credential.kind) if credential is not None else None,
        credential=credential,
    )


def _answer(
    spec: kinds.KindSpec, credential: Credential | CredentialRef, view: dict[str, Any], *, view_is_json: bool = False
) -> ScanAnswer:
    alert: str | None = None
    notice = f"有效的{spec.title}"
    if isinstance(view.get("alert"), str):
        # The kind's resolver raised an alarm (a stolen bike): its own sentence comes first.
        alert = view["alert"]
        notice = str(view.get("message") or notice)
    elif view.get("registered") is False:
        alert = "not_registered"
        notice = NOT_REGISTERED_NOTICE
    return ScanAnswer(
        valid=True,
        code="ok",
        http_status=200,
        notice=notice,
        alert=alert,
        message=notice,
        kind=spec,
        credential=credential,
        view=view,
        view_is_json=view_is_json,
    )
