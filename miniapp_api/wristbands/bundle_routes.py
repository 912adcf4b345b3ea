"""HTTP route of the offline bundle: what a checkpoint app fetches to decide at the gate when the
network is down (miniapp_api/wristbands/bundle.py)."""

from __future__ import annotations

from pydantic import Field
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from identity.models import Account
from identity.roles import Role
from miniapp_api.wristbands import bundle
from miniapp_api.wristbands.models import Checkpoint, CheckpointStaff
from qr import feed, service
from server.auth import Principal, require_principal, requires
from server.conditional import etag_matches
from server.errors import Forbidden
from server.ratelimit import rate_limit
from server.validation import CounterCursor, StrictModel, errors, query_args, responds

bp = Blueprint("checkin_bundle", url_prefix="/api/v1")


class BundleQuery(StrictModel):
    since: CounterCursor | None = Field(
        default=None, description="The `until` of the last bundle: only the entries above it (lifts included)."
    )
    epoch: int | None = Field(default=None, ge=0, le=1_000_000, description="The `epoch` of the last bundle.")
    limit: int = Field(default=bundle.DEFAULT_LIMIT, ge=1, le=bundle.MAX_LIMIT)


async def works_a_checkpoint(principal: Principal) -> bool:
    account = await Account.get_or_none(public_id=principal.account_id)
    if account is None:
        return False
    checkpoints = await CheckpointStaff.filter(account_id=account.id).values_list("checkpoint_id", flat=True)
    return bool(checkpoints) and await Checkpoint.filter(id__in=list(checkpoints), active=True).exists()


@bp.get("/checkins/bundle", name="bundle")
@requires()
@rate_limit(account="60/minute")
@query_args(BundleQuery)
@responds(200, None, "A compact JWS (EdDSA, kid in /.well-known/jwks.json): the stop list", media="application/jose")
@errors(304, 403)
async def checkin_bundle(request: Request, query: BundleQuery) -> HTTPResponse:
    """The offline stop list, signed (typ `gmid-checkin-bundle+jwt`), for the staff of an active
    checkpoint and administrators (403 for anyone else). Without `since`: every band that must stop,
    each band's latest windows. With `since` (and `epoch`): the entries above it; an empty `w` lifts
    the band. `reset: true` means the `since` could not be answered and this is the whole list: start
    again from it. `more: true`: ask again with `since` = `until`. Send `If-None-Match` with the last
    ETag to get 304 while nothing changed."""
    principal = require_principal(request)
    if principal.role is not Role.ADMIN and not await works_a_checkpoint(principal):
        raise Forbidden("Only the staff of a checkpoint may fetch its offline bundle.")
    ring = service.keyring()
    key = await bundle.etag_key(since=query.since, epoch=query.epoch, limit=query.limit, kid=ring.active_kid)
    headers = {"ETag": f'"{key}"', "Cache-Control": "private, no-cache"}
    if etag_matches(request.headers.get("if-none-match"), f'"{key}"'):
        return HTTPResponse(status=304, headers=headers)
    issuer: str = request.app.ctx.settings.public_base_url
    document = await bundle.document(issuer=issuer, since=query.since, epoch=query.epoch, limit=query.limit)
    token = feed.sign_document(document, typ=bundle.TYP)
    return raw(token.encode("ascii"), content_type="application/jose", headers=headers)
