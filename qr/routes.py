"""HTTP routes of the QR service: JWKS, revocation feed, verifier bundle, scanning, images."""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import time
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, json, raw

from identity.roles import Role
from qr import codec, feed, images, render, scanning, service
from qr.kinds import Audience, ScanContext
from qr.models import Credential, CredentialStatus
from qr.schemas import CredentialOut, ImageQuery, Jwks, RevocationsQuery, RevokeIn, ScanIn, ScanOut
from server import product, ratelimit
from server.auth import Principal, principal_of, public, require_principal, requires, token_ignored
from server.conditional import etag_matches
from server.errors import AppError, NotFound
from server.ratelimit import rate_limit
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("qr")

_VERIFY_STATUS = scanning.REFUSAL_STATUS
IMAGE_CACHE_SECONDS = 7 * 24 * 3600


class CodeRefused(AppError):
    """A scanned code that must not be trusted; ``code`` says why."""

    status_code = 422
    code = "bad_signature"


class StickerFontMissing(AppError):
    """The server has no font that draws Chinese: a sticker is not printed in boxes or Latin."""

    status_code = 503
    code = "sticker_font_missing"


def refused(exc: codec.VerifyError, credential: Credential | scanning.CredentialRef | None = None) -> CodeRefused:
    error = CodeRefused(exc.message, code=exc.code)
    error.status_code = _VERIFY_STATUS.get(exc.code, 422)
    error.details = {"valid": False}
    if credential is not None:
        error.details.update({"kind": credential.kind, "public_id": credential.public_id})
    return error


def audience_of(principal: Principal | None) -> str:
    if principal is None:
        return Audience.ANONYMOUS
    # A role not named here (health staff, employers, employment staff, any role added later) sees what
    # any resident sees: more is given only by naming the role.
    return {
        Role.GRID_STAFF: Audience.OFFICER,
        Role.OFFICER: Audience.OFFICER,
        Role.POLICE: Audience.POLICE,
        Role.ADMIN: Audience.ADMIN,
    }.get(principal.role, Audience.RESIDENT)


def issuer(request: Request) -> str:
    base: str = request.app.ctx.settings.public_base_url
    return base


def code_url(request: Request, token: str) -> str:
    return f"{issuer(request)}/q/{token}"


def image_urls(public_id: str) -> dict[str, str]:
    """Where a credential's code is drawn (signed-in callers fetch them)."""
    base = f"/api/v1/credentials/{public_id}"
    return {"png": f"{base}/qr.png", "svg": f"{base}/qr.svg", "sticker": f"{base}/sticker.png"}


# Keys and revocation -------------------------------------------------------------------------------


@bp.get("/.well-known/jwks.json", name="jwks")
@public
@token_ignored
@rate_limit(exempt=True)
@responds(200, Jwks, "Every key whose codes still verify (OKP/Ed25519)")
async def jwks(request: Request) -> HTTPResponse:
    """The public keys, for any JOSE library to verify codes offline."""
    ring = service.keyring()
    etag = f'"{ring.version}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return HTTPResponse(status=304, headers=headers)
    return json(ring.jwks(), headers=headers)


@bp.get("/api/v1/qr/revocations", name="revocations")
@public
@token_ignored
@query_args(RevocationsQuery)
@responds(200, None, "A compact JWS (EdDSA) whose payload lists the entries above `since`", media="application/jose")
async def revocations(request: Request, query: RevocationsQuery) -> HTTPResponse:
    """The revocation feed: entries with a counter that only goes up, the whole answer signed.

    Sync with `since` = the `until` of the last answer and `epoch` = its `epoch`; `more: true` means
    ask again. `reset: true` (another epoch, or `since` above the head: the database was restored):
    drop everything held, the entries start again from zero."""
    document = await feed.revocations(since=query.since, epoch=query.epoch, limit=query.limit, issuer=issuer(request))
    return raw(
        feed.sign_document(document, typ="gmid-revocations+jwt").encode("ascii"),
        content_type="application/jose",
        headers={"Cache-Control": "no-cache"},
    )


@bp.get("/api/v1/qr/verifier-bundle", name="verifier_bundle")
@public
@token_ignored
@rate_limit(ip="30/minute")
@responds(200, None, "A compact JWS: the JWKS, the kinds and every revocation, compacted", media="application/jose")
async def verifier_bundle(request: Request) -> HTTPResponse:
    """Everything an offline verifier app needs in one signed document (rebuilt when the feed or the
    keys change, or after an hour)."""
    key = (await feed.head_and_epoch(), service.keyring().version)
    cached = getattr(request.app.ctx, "verifier_bundle", None)
    if cached is None or cached[0] != key or time.monotonic() - cached[2] > 3600:
        document = await feed.verifier_bundle(issuer=issuer(request))
        cached = (key, feed.sign_document(document, typ="gmid-verifier-bundle+jwt"), time.monotonic())
        request.app.ctx.verifier_bundle = cached
    return raw(
        cached[1].encode("ascii"),
        content_type="application/jose",
        headers={"Cache-Control": "no-cache"},
    )


# Scanning ------------------------------------------------------------------------------------------


def scan_context(request: Request, lat: float | None, lng: float | None) -> ScanContext:
    principal = principal_of(request)
    return ScanContext(
        viewer=principal,
        audience=audience_of(principal),
        lat=lat,
        lng=lng,
        client_addr=str(request.remote_addr or request.ip),
        request_id=request.ctx.request_id,
    )


@bp.post("/api/v1/scan", name="scan")
@public
# Checkpoints scan in bursts, often behind one NAT. The handler checks the limit itself, reading the
# scan cache's entry in the same Redis round trip.
@rate_limit(ip="600/minute", account="600/minute", in_handler=True)
@json_body(ScanIn, fast=ScanIn.plain)
@responds(200, ScanOut, "A valid code, and what your role may see of its subject")
@errors(400, 404, 410, 422)
async def scan(request: Request, body: ScanIn) -> HTTPResponse:
    """Verify a scanned code. Refusals use the error shape; `error.code` says why (malformed,
    bad_signature, unknown_key, retired_key, algorithm_not_allowed, issued_in_future, superseded,
    revoked, not_found, and foreign_url for a genuine token inside another site's address) and
    `error.details.notice` is the sentence the code's page shows. A valid code with an `alert`
    (`stolen`, `not_registered`) has that sentence as its `message`."""
    context = scan_context(request, body.lat, body.lng)
    base_url = issuer(request)
    read = scanning.read_scan(payload=body.payload, context=context, base_url=base_url)
    prefetched = await ratelimit.enforce(request, fetch=read.cache_keys)
    answer = await scanning.scan(
        payload=body.payload, context=context, base_url=base_url, request=read, prefetched=prefetched
    )
    if not answer.valid:
        error = refused(codec.VerifyError(answer.code, answer.message), answer.credential)
        error.details["notice"] = answer.notice
        raise error
    assert answer.kind is not None and answer.credential is not None
    if answer.view_is_json:
        # From the scan cache: the answer ScanOut would give, without building and dumping the model.
        document = {
            "valid": True,
            "code": "ok",
            "message": answer.notice,
            "alert": answer.alert,
            "kind": answer.kind.name,
            "public_id": answer.credential.public_id,
            "status": answer.credential.status.value,
            "view": answer.view or {},
        }
        return json(document, headers={"Cache-Control": "no-store"})
    out = ScanOut(
        valid=True,
        code="ok",
        message=answer.notice,
        alert=answer.alert,
        kind=answer.kind.name,
        public_id=answer.credential.public_id,
        status=answer.credential.status.value,
        view=answer.view or {},
    )
    return json(out.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


# The page a phone camera opens. Everything it prints is escaped; it runs no script, loads nothing,
# cannot be framed, and sends no Referer (the token is in its address).
_STYLE = (
    'body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f4f5f7}'
    "main{max-width:28rem;margin:2rem auto;background:#fff;border-radius:12px;padding:1.5rem;"
    "box-shadow:0 1px 4px #0002}"
    "h1{font-size:1.2rem;margin:0 0 .5rem} p{line-height:1.6} small{color:#666}"
    ".ok{color:#137333} .bad{color:#b3261e}"
    ".alert{color:#fff;background:#b3261e;border-radius:8px;padding:.75rem 1rem;font-weight:600}"
)
_PAGE_CSP = "; ".join(
    [
        "default-src 'none'",
        f"style-src 'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": _PAGE_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_FOOTER = f"{product.NAME_ZH} · 深圳市光明区。请在微信中打开“{product.NAME_ZH}”小程序扫码查看更多。"


def landing_page(answer: scanning.ScanAnswer) -> str:
    """The page for one scan answer: the same notice the scan API gives, nothing personal."""
    e = html_lib.escape
    title = answer.kind.title if answer.kind is not None and answer.valid else product.NAME_ZH
    parts = [f"<h1>{e(title)}</h1>"]
    if not answer.valid:
        parts.append(f'<p class="bad">✗ {e(answer.notice)}</p>')
    elif answer.alert is not None:
        parts.append(f'<p class="alert" role="alert">⚠ {e(answer.notice)}</p>')
    else:
        parts.append(f'<p class="ok">✓ {e(answer.notice)}</p>')
    if answer.valid and answer.kind is not None and answer.credential is not None:
        parts.append(f"<p>{e(answer.kind.description)}</p>")
        parts.append(f"<p>编号 {e(render.group_id(answer.credential.public_id))}</p>")
    parts.append(f"<p><small>{e(_FOOTER)}</small></p>")
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body><main>{''.join(parts)}</main></body></html>"
    )


@bp.get("/q/<token:str>", name="landing")
@public
@token_ignored
@rate_limit(ip="120/minute")
@responds(200, None, "A small mobile page: what the code is, whether it is valid, any alert", media="text/html")
@responds(400, None, "The page says this is not an e-ID code", media="text/html")
@responds(404, None, "The page says the code is not in the register", media="text/html")
@responds(410, None, "The page says the code was revoked or replaced", media="text/html")
@responds(422, None, "The page says the code cannot be verified (forged, unknown key...)", media="text/html")
async def landing(request: Request, token: str) -> HTTPResponse:
    """The page a phone camera opens: what an anonymous scan of the code answers, nothing personal."""
    answer = await scanning.scan(payload=token, context=scan_context(request, None, None))
    return html(landing_page(answer), status=answer.http_status, headers=PAGE_HEADERS)


# Credentials and images ---------------------------------------------------------------------------

_STAFF_IMAGE_ROLES = (Role.ADMIN, Role.OFFICER, Role.GRID_STAFF, Role.POLICE)


async def credential_for(request: Request, public_id: str) -> Credential:
    """The credential if the caller may print it: staff in scope, or the subject's owner; else 404."""
    principal = require_principal(request)
    raw = codec.decode_public_id(public_id)  # accepts lower case, dashes and the I/L/O look-alikes
    credential = await service.get(public_id=codec.encode_public_id(raw)) if raw is not None else None
    if credential is None:
        raise NotFound("There is no such credential.", code="credential_not_found")
    district_wide = principal.node_path is not None and principal.node_path.count("/") == 2
    in_scope = district_wide or (credential.node_path is not None and principal.covers(credential.node_path))
    if principal.role in _STAFF_IMAGE_ROLES and in_scope:
        return credential
    spec = service.kind_spec(credential.kind)
    if spec is not None and spec.is_owner is not None and await spec.is_owner(credential, principal):
        return credential
    raise NotFound("There is no such credential.", code="credential_not_found")


def credential_out(request: Request, credential: Credential) -> dict[str, Any]:
    return CredentialOut(
        id=credential.public_id,
        kind=credential.kind,
        serial=credential.serial,
        status=credential.status.value,
        label=service.printable_label(credential.label),
        url=code_url(request, credential.token),
        issued_at=credential.issued_at,
        revoked_at=credential.revoked_at,
        images=image_urls(credential.public_id),
    ).model_dump(mode="json")


@bp.get("/api/v1/credentials/<public_id:str>", name="credential.get")
@requires()
@responds(200, CredentialOut, "The credential and its code's URL")
@errors(404)
async def get_credential(request: Request, public_id: str) -> HTTPResponse:
    credential = await credential_for(request, public_id)
    return json(credential_out(request, credential), headers={"Cache-Control": "no-store"})


async def _image(request: Request, credential: Credential, fmt: str, size: int) -> HTTPResponse:
    if credential.status is CredentialStatus.REVOKED:
        raise refused(codec.VerifyError("revoked", "A revoked credential has no code to print."), credential)
    url = code_url(request, credential.token)
    settings = request.app.ctx.settings
    # Everything that changes the picture is in the key: what is drawn (URL, title, label) and with
    # which font (the one found on this host, not only the setting) and which renderer version.
    spec = service.kind_spec(credential.kind)
    font = ""
    if fmt == "sticker":
        try:
            font = render.find_cjk_font(settings.qr_font)
        except render.StickerFontError as exc:
            raise StickerFontMissing(str(exc)) from None
    parts = [render.RENDER_VERSION, fmt, str(size), font, spec.title if spec else "", credential.label, url]
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    etag = f'"{key[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return HTTPResponse(status=304, headers=headers)
    media = "image/svg+xml" if fmt == "svg" else "image/png"
    body = await images.cached_image(
        redis=request.app.ctx.redis,
        key=key,
        ttl=IMAGE_CACHE_SECONDS,
        draw=lambda: images.draw_image(fmt=fmt, url=url, size=size, credential=credential, font=font),
    )
    return raw(body, content_type=media, headers=headers)


@bp.get("/api/v1/credentials/<public_id:str>/qr.png", name="credential.png")
@requires()
@query_args(ImageQuery)
@responds(200, None, "The code as PNG", media="image/png")
@errors(404, 410)
async def credential_png(request: Request, public_id: str, query: ImageQuery) -> HTTPResponse:
    return await _image(request, await credential_for(request, public_id), "png", query.size)


@bp.get("/api/v1/credentials/<public_id:str>/qr.svg", name="credential.svg")
@requires()
@query_args(ImageQuery)
@responds(200, None, "The code as SVG", media="image/svg+xml")
@errors(404, 410)
async def credential_svg(request: Request, public_id: str, query: ImageQuery) -> HTTPResponse:
    return await _image(request, await credential_for(request, public_id), "svg", query.size)


@bp.get("/api/v1/credentials/<public_id:str>/sticker.png", name="credential.sticker")
@requires()
@responds(200, None, "The printable sticker: title, code and id", media="image/png")
@errors(404, 410, 503)
async def credential_sticker(request: Request, public_id: str) -> HTTPResponse:
    return await _image(request, await credential_for(request, public_id), "sticker", 600)


@bp.post("/api/v1/credentials/<public_id:str>/revoke", name="credential.revoke")
@requires(Role.ADMIN)
@json_body(RevokeIn)
@responds(200, CredentialOut, "Revoked: its code is refused everywhere, and listed in the revocation feed")
@errors(404)
async def revoke_credential(request: Request, public_id: str, body: RevokeIn) -> HTTPResponse:
    credential = await credential_for(request, public_id)
    credential = await service.revoke(public_id=credential.public_id, reason=body.reason)
    await service.audit_admin_action(
        request_principal=require_principal(request),
        action="credential.revoke",
        credential=credential,
        request_id=request.ctx.request_id,
        client_addr=str(request.remote_addr or request.ip),
        reason=body.reason,
    )
    return json(credential_out(request, credential))


@bp.post("/api/v1/credentials/<public_id:str>/reissue", name="credential.reissue")
@requires(Role.ADMIN)
@responds(200, CredentialOut, "A new code (serial + 1); the old one answers `superseded`")
@errors(404, 410)
async def reissue_credential(request: Request, public_id: str) -> HTTPResponse:
    credential = await credential_for(request, public_id)
    try:
        credential = await service.reissue(public_id=credential.public_id)
    except codec.VerifyError as exc:
        raise refused(exc, credential) from None
    await service.audit_admin_action(
        request_principal=require_principal(request),
        action="credential.reissue",
        credential=credential,
        request_id=request.ctx.request_id,
        client_addr=str(request.remote_addr or request.ip),
        reason="",
    )
    return json(credential_out(request, credential))
