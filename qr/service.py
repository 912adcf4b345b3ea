"""The credential registry: issue, reissue, revoke, resolve; the revocation feed; scanning.

Feature packages call these with keyword arguments, inside their own transaction when they pass
``using_db``: a bike registered and its code issued commit together, or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlparse

import jwt
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from identity import audit
from qr import codec, keys, kinds, render, scancache
from qr.keys import Keyring, KeyringCache
from qr.models import Credential, CredentialStatus, RevocationEntry, RevocationHead, ScanEvent
from qr.scanlog import ScanLog
from server import product
from server.auth import Principal

_cache: KeyringCache | None = None


def set_keyring(cache: KeyringCache | None) -> None:
    global _cache
    _cache = cache


def keyring() -> Keyring:
    if _cache is None:
        raise RuntimeError("the QR keyring is not loaded (the app's start-up listener loads it)")
    return _cache.get()


class UnknownKind(ValueError):
    pass


@dataclass(frozen=True)
class Resolved:
    credential: Credential
    claims: codec.Claims
    kind: kinds.KindSpec


def kind_spec(name: str) -> kinds.KindSpec | None:
    return kinds.by_name(name)


def _kind(name: str) -> kinds.KindSpec:
    spec = kinds.by_name(name)
    if spec is None:
        raise UnknownKind(f"unknown credential kind {name!r}")
    return spec


def _sign(spec: kinds.KindSpec, public_id: bytes, serial: int) -> tuple[str, datetime]:
    now = int(time.time())
    token = codec.sign(codec.Claims(spec.code, public_id, serial, now), keyring())
    return token, datetime.fromtimestamp(now, UTC)


async def issue(
    *,
    kind: str,
    subject_id: str,
    node_path: str | None = None,
    label: str = "",
    using_db: BaseDBAsyncClient | None = None,
) -> Credential:
    spec = _kind(kind)
    raw_id = codec.new_public_id()
    token, issued_at = _sign(spec, raw_id, 1)
    return await Credential.create(
        kind=spec.name,
        public_id=codec.encode_public_id(raw_id),
        serial=1,
        subject_id=subject_id,
        node_path=node_path,
        label=label[:64],
        token=token,
        issued_at=issued_at,
        using_db=using_db,
    )


async def _next_counter(conn: BaseDBAsyncClient) -> int:
    # The head row's update takes the lock (row lock on PostgreSQL, the write lock on SQLite).
    await RevocationHead.filter(id=1).using_db(conn).update(counter=F("counter") + 1)
    head = await RevocationHead.get(id=1, using_db=conn)
    return head.counter


async def reissue(*, public_id: str, reason: str = "reissued", using_db: BaseDBAsyncClient | None = None) -> Credential:
    """A new code with serial + 1; the old one answers ``superseded`` from now on. Inside a caller's
    transaction (``using_db``), the caller calls ``changed()`` after its commit."""
    async with in_transaction() if using_db is None else _nullcontext(using_db) as conn:
        credential = await Credential.select_for_update().using_db(conn).get_or_none(public_id=public_id)
        if credential is None:
            raise codec.VerifyError("not_found", "There is no such credential.")
        credential = await _reissue_locked(credential, reason=reason, conn=conn)
    if using_db is None:
        await changed(public_id)
    return credential


async def _reissue_locked(credential: Credential, *, reason: str, conn: BaseDBAsyncClient) -> Credential:
    if credential.status is CredentialStatus.REVOKED:
        raise codec.VerifyError("revoked", "A revoked credential cannot be reissued.")
    spec = _kind(credential.kind)
    raw_id = codec.decode_public_id(credential.public_id)
    assert raw_id is not None
    if credential.serial >= codec.MAX_SERIAL:
        raise codec.VerifyError("serial_exhausted", "This credential cannot be reissued again; issue a new one.")
    credential.serial += 1
    credential.token, credential.issued_at = _sign(spec, raw_id, credential.serial)
    await credential.save(using_db=conn, update_fields=["serial", "token", "issued_at"])
    await RevocationEntry.create(
        counter=await _next_counter(conn),
        public_id=credential.public_id,
        kind=credential.kind,
        min_serial=credential.serial,
        revoked=False,
        reason=reason[:32],
        at=credential.issued_at,  # the same instant: "reissued since T" finds this code at T
        using_db=conn,
    )
    return credential


# Codes signed by one key -------------------------------------------------------------------------


def token_prefixes(kid: str) -> list[str]:
    """How a code signed by the key ``kid`` (its full thumbprint) begins: the canonical header naming
    the full kid, or the 8-character kid of codes signed before full thumbprints."""
    return [codec.canonical_header(name) + "." for name in dict.fromkeys((kid, kid[: keys.LEGACY_KID_LENGTH]))]


def signed_by(kid: str) -> QuerySet[Credential]:
    """The active credentials whose current code is signed by ``kid``."""
    condition = Q(*[Q(token__startswith=prefix) for prefix in token_prefixes(kid)], join_type="OR")
    return Credential.filter(status=CredentialStatus.ACTIVE).filter(condition)


def rekey_reason(kid: str) -> str:
    return f"rekeyed:{kid[: keys.LEGACY_KID_LENGTH]}"


async def rekey(*, public_id: str, kid: str, using_db: BaseDBAsyncClient | None = None) -> Credential | None:
    """Reissue a credential with the active key if its code is still signed by ``kid``; None when it
    is not (already reissued, by this run or another): running twice never reissues twice."""
    async with in_transaction() if using_db is None else _nullcontext(using_db) as conn:
        credential = await Credential.select_for_update().using_db(conn).get_or_none(public_id=public_id)
        if credential is None or credential.status is not CredentialStatus.ACTIVE:
            return None
        if not any(credential.token.startswith(prefix) for prefix in token_prefixes(kid)):
            return None
        credential = await _reissue_locked(credential, reason=rekey_reason(kid), conn=conn)
    if using_db is None:
        await changed(public_id)
    return credential


async def rekeyed_since(*, kid: str) -> datetime | None:
    """When the first code signed by ``kid`` was reissued (over every run): new stickers are needed
    for every code reissued since."""
    first = await RevocationEntry.filter(reason=rekey_reason(kid)).order_by("counter").first()
    return first.at if first is not None else None


async def revoke(*, public_id: str, reason: str, using_db: BaseDBAsyncClient | None = None) -> Credential:
    """Refused everywhere from now on. Inside a caller's transaction (``using_db``), the caller calls
    ``changed()`` after its commit."""
    credential = await _revoke(public_id=public_id, reason=reason, using_db=using_db)
    if using_db is None:
        await changed(public_id)
    return credential


async def _revoke(*, public_id: str, reason: str, using_db: BaseDBAsyncClient | None) -> Credential:
    async with in_transaction() if using_db is None else _nullcontext(using_db) as conn:
        credential = await Credential.select_for_update().using_db(conn).get_or_none(public_id=public_id)
        if credential is None:
            raise codec.VerifyError("not_found", "There is no such credential.")
        if credential.status is CredentialStatus.REVOKED:
            return credential
        now = datetime.now(UTC)
        credential.status = CredentialStatus.REVOKED
        credential.revoked_at = now
        credential.revoke_reason = reason[:32]
        await credential.save(using_db=conn, update_fields=["status", "revoked_at", "revoke_reason"])
        await RevocationEntry.create(
            counter=await _next_counter(conn),
            public_id=credential.public_id,
            kind=credential.kind,
            min_serial=credential.serial + 1,
            revoked=True,
            reason=reason[:32],
            at=now,
            using_db=conn,
        )
        return credential


class _nullcontext:
    def __init__(self, conn: BaseDBAsyncClient) -> None:
        self.conn = conn

    async def __aenter__(self) -> BaseDBAsyncClient:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None


async def get(*, public_id: str) -> Credential | None:
    return await Credential.get_or_none(public_id=public_id)


async def by_subject(*, kind: str, subject_id: str) -> Credential | None:
    return await Credential.get_or_none(kind=kind, subject_id=subject_id)


def token_from_payload(payload: str, *, base_url: str | None = None) -> str:
    """A scanned payload is the code's URL (``{base_url}/q/<token>``) or the bare token.

    With ``base_url``, a URL elsewhere is refused even when its token is genuine: a real token
    copied onto a look-alike site must not be vouched for."""
    text = payload.strip()
    if len(text) > 2048:
        raise codec.VerifyError("malformed", "This is not an e-ID code.")
    if "://" in text:
        parsed = urlparse(text)
        path = unquote(parsed.path)
        marker = "/q/"
        if marker not in path:
            raise codec.VerifyError("malformed", "This is not an e-ID code.")
        prefix, _, token = path.rpartition(marker)
        if base_url is not None:
            expected = urlparse(base_url)
            same_site = (parsed.scheme.lower(), parsed.netloc.lower(), prefix.rstrip("/")) == (
                expected.scheme.lower(),
                expected.netloc.lower(),
                expected.path.rstrip("/"),
            )
            if not same_site:
                raise codec.VerifyError(
                    "foreign_url", "This code's address is not this service's: do not trust the sticker."
                )
        text = token.strip("/")
    return text


async def resolve(*, payload: str, now: float | None = None, base_url: str | None = None) -> Resolved:
    """Verify a scanned code and find its credential; raises VerifyError with the reason."""
    verified = codec.verify(token_from_payload(payload, base_url=base_url), keyring(), now=now)
    return await registered(verified)


async def registered(verified: codec.Verified) -> Resolved:
    """The credential of a code whose signature is good: refused when not in the register, revoked,
    or superseded by a newer serial."""
    claims = verified.claims
    spec = kinds.by_code(claims.kind)
    credential = await Credential.get_or_none(public_id=claims.public_id_text)
    if spec is None or credential is None or credential.kind != spec.name:
        raise codec.VerifyError("not_found", "This code is not in the register.")
    check_serial(claims, credential.status, credential.serial, credential)
    return Resolved(credential, claims, spec)


def check_serial(
    claims: codec.Claims, status: CredentialStatus, serial: int, credential: Credential | CredentialRef
) -> None:
    if status is CredentialStatus.REVOKED:
        raise codec.VerifyError("revoked", "This code has been revoked.", credential)
    if claims.serial < serial:
        raise codec.VerifyError("superseded", "This code was replaced by a newer one.", credential)
    if claims.serial > serial:
        raise codec.VerifyError("not_found", "This code is not in the register.")


# The revocation feed ------------------------------------------------------------------------------


def _entry_json(e: RevocationEntry) -> dict[str, Any]:
    return {
        "n": e.counter,
        "id": e.public_id,
        "kind": e.kind,
        "min_serial": e.min_serial,
        "revoked": e.revoked,
        "at": int(e.at.timestamp()),
    }


# Offline verifiers must refresh at least this often: a feed or bundle older than this is stale.
DOCUMENT_LIFETIME_SECONDS = 24 * 3600


def sign_document(document: dict[str, Any], *, typ: str) -> str:
    """Sign a feed document. Its own ``typ`` keeps it from being taken for another kind of document
    signed by the same key, and ``exp`` bounds how long a replayed copy is believed."""
    ring = keyring()
    body = dict(document)
    body.setdefault("exp", int(body.get("iat", time.time())) + DOCUMENT_LIFETIME_SECONDS)
    token: str = jwt.encode(body, ring.signer, algorithm=codec.ALGORITHM, headers={"kid": ring.active_kid, "typ": typ})
    return token


async def revocation_head() -> int:
    head = await RevocationHead.get_or_none(id=1)
    return head.counter if head else 0


async def revocations(*, since: int, limit: int, issuer: str) -> dict[str, Any]:
    rows = await RevocationEntry.filter(counter__gt=since).order_by("counter").limit(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    head = await RevocationHead.get_or_none(id=1)
    return {
        "iss": issuer,
        "iat": int(time.time()),
        "since": since,
        "until": rows[-1].counter if rows else since,
        "head": head.counter if head else 0,
        "more": more,
        "entries": [_entry_json(e) for e in rows],
    }


async def verifier_bundle(*, issuer: str) -> dict[str, Any]:
    """The JWKS and the whole revocation state, compacted to the latest entry per credential."""
    latest: dict[str, RevocationEntry] = {}
    last = 0
    while True:
        rows = await RevocationEntry.filter(counter__gt=last).order_by("counter").limit(5000)
        if not rows:
            break
        for row in rows:
            current = latest.get(row.public_id)
            if current is None or row.revoked or not current.revoked:
                latest[row.public_id] = row
        last = rows[-1].counter
    kinds_doc = {str(k.code): k.name for k in kinds.all_kinds()}
    return {
        "iss": issuer,
        "iat": int(time.time()),
        "jwks": keyring().jwks(),
        "kinds": kinds_doc,
        "revocations": {
            "until": last,
            "entries": [_entry_json(e) for e in sorted(latest.values(), key=lambda e: e.counter)],
        },
        "format": "JWS compact, EdDSA; payload: version(1) kind(1) id(8) serial(4, BE) iat(4, BE)",
    }


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
    fields: dict[str, Any] = {
        "at": datetime.now(UTC),
        "actor": context.viewer.account_id if context.viewer else "",
        "audience": context.audience,
        "public_id": credential.public_id if credential else "",
        "kind": credential.kind if credential else "",
        "result": result,
        "lat": context.lat,
        "lng": context.lng,
        "client_addr": context.client_addr[:64],
        "request_id": context.request_id[:128],
    }
    if _scan_log is not None:
        _scan_log.add(**fields)
    else:
        await ScanEvent.create(**fields)


async def view_for(resolved: Resolved, context: kinds.ScanContext) -> dict[str, Any]:
    """What the caller's role may see; a kind without a resolver shows only its kind and status."""
    if resolved.kind.resolver is None:
        return {"kind": resolved.kind.name, "title": resolved.kind.title, "status": resolved.credential.status.value}
    return await resolved.kind.resolver(resolved.credential, context)


# What a scan tells the caller ---------------------------------------------------------------------

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
    claims = codec.peek(token)
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
    return _answer(spec, credential, entry.view)


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


def _answer(spec: kinds.KindSpec, credential: Credential | CredentialRef, view: dict[str, Any]) -> ScanAnswer:
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
    )


async def changed(*public_ids: str | None) -> None:
    """Call after a commit that changed these credentials or what their subjects' public views show
    (revoke, reissue, alarm, transfer, deregistration, an edited building or board): the next scan
    anywhere reads the new state (qr/scancache.py)."""
    await scancache.changed(*[public_id for public_id in public_ids if public_id])


# Images --------------------------------------------------------------------------------------------


def draw_image(*, fmt: str, url: str, size: int, credential: Credential, font: str) -> bytes:
    if fmt == "svg":
        return render.svg(url, size)
    if fmt == "sticker":
        spec = kinds.by_name(credential.kind)
        title = spec.title if spec else product.NAME_ZH
        return render.sticker_png(url, title=title, public_id=credential.public_id, caption=credential.label, font=font)
    return render.png(url, size)


async def cached_image(*, redis: aioredis.Redis, key: str, ttl: int, draw: Callable[[], bytes]) -> bytes:
    """A rendered image from Redis, or drawn (in a thread: tens of milliseconds of CPU) and kept."""
    cache_key = f"qrimg:{key}"
    try:
        cached = await redis.get(cache_key)
    except RedisError:
        cached = None
    if isinstance(cached, bytes):
        return cached
    body = await asyncio.to_thread(draw)
    with contextlib.suppress(RedisError):  # a cache that is down only costs speed
        await redis.set(cache_key, body, ex=ttl)
    return body


async def audit_admin_action(
    *, request_principal: Principal, action: str, credential: Credential, request_id: str, client_addr: str, reason: str
) -> None:
    await audit.record(
        actor=request_principal.account_id,
        role=request_principal.role.value,
        action=action,
        target=f"{credential.kind}:{credential.public_id}",
        reason=reason,
        client_addr=client_addr,
        request_id=request_id,
        scope=credential.node_path,  # the administrators of the code's place see the entry
    )
