"""The credential registry: issue, reissue, rekey, revoke, resolve. Beside it: ``scanning`` (what a
scan tells its caller, and the scan records), ``feed`` (the signed revocation feed and verifier bundle),
``images`` (codes drawn and cached).

Feature packages call these with keyword arguments, inside their own transaction when they pass
``using_db``: a bike registered and its code issued commit together, or not at all.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from identity import audit
from identity.pii import mask_embedded
from qr import codec, keys, kinds, scancache
from qr.keys import Keyring, KeyringCache
from qr.models import Credential, CredentialStatus, RevocationEntry, RevocationHead
from server.auth import Principal

if TYPE_CHECKING:
    from qr.scanning import CredentialRef

_cache: KeyringCache | None = None


def set_keyring(cache: KeyringCache | None) -> None:
    global _cache
    _cache = cache


def reload_keyring() -> None:
    """Re-read the keyring now (after this process changed it), if this process has one loaded."""
    if _cache is not None:
        _cache.reload()


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


def printable_label(text: str) -> str:
    """What a sticker may print under its code: at most 64 characters, and anything shaped like a
    phone or ID number masked (the feature packages refuse such text where it is typed; this also
    covers rows stored before they did)."""
    return mask_embedded(text)[:64]


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
        label=printable_label(label),
        token=token,
        issued_at=issued_at,
        using_db=using_db,
    )


async def follow(*, public_id: str, node_path: str | None, label: str, using_db: BaseDBAsyncClient) -> None:
    """Keep a credential with its subject: its node decides who may read, print, reissue and revoke
    it and which area's sheet prints it; its label is what the sticker prints (and is part of the
    image's cache key and ETag). Call in the transaction that changes the subject, with what the
    subject now is, and ``changed()`` after the commit."""
    await (
        Credential.filter(public_id=public_id)
        .using_db(using_db)
        .update(node_path=node_path, label=printable_label(label))
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


_PLAIN_TOKEN_RE = re.compile(r"[A-Za-z0-9_.-]+")


@functools.lru_cache(maxsize=8)
def _site_of(base_url: str) -> tuple[str, str, str]:
    expected = urlparse(base_url)
    return expected.scheme.lower(), expected.netloc.lower(), expected.path.rstrip("/")


@functools.lru_cache(maxsize=8)
def _code_prefix(base_url: str) -> str:
    """How this service's code URLs begin, spelt as it prints them (``{base_url}/q/``)."""
    return base_url.rstrip("/") + "/q/"


def token_from_payload(payload: str, *, base_url: str | None = None) -> str:
    """A scanned payload is the code's URL (``{base_url}/q/<token>``) or the bare token.

    With ``base_url``, a URL elsewhere is refused even when its token is genuine: a real token
    copied onto a look-alike site must not be vouched for."""
    text = payload.strip()
    if len(text) > 2048:
        raise codec.VerifyError("malformed", "This is not an e-ID code.")
    if base_url is not None and text.startswith(_code_prefix(base_url)):
        # The usual payload: this service's own code URL, its token only base64url and dots (no
        # escapes, query or fragment), so what follows the prefix is the token as the parse below finds it.
        token = text[len(_code_prefix(base_url)) :]
        if _PLAIN_TOKEN_RE.fullmatch(token):
            return token
    if "://" in text:
        parsed = urlparse(text)
        path = unquote(parsed.path)
        marker = "/q/"
        if marker not in path:
            raise codec.VerifyError("malformed", "This is not an e-ID code.")
        prefix, _, token = path.rpartition(marker)
        if base_url is not None:
            same_site = (parsed.scheme.lower(), parsed.netloc.lower(), prefix.rstrip("/")) == _site_of(base_url)
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


async def changed(*public_ids: str | None) -> None:
    """Call after a commit that changed these credentials or what their subjects' public views show
    (revoke, reissue, alarm, transfer, deregistration, an edited building or board): the next scan
    anywhere reads the new state (qr/scancache.py)."""
    await scancache.changed(*[public_id for public_id in public_ids if public_id])


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
