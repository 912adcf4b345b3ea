"""HTTP routes of report photos: upload (cleaned of metadata), list, and fetch the JPEG.

Who may see a report's photos is who may see the report (``access.get_visible``): its reporter and
the staff whose part of the hierarchy it lies in; anyone else gets 404, as for the report itself.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, cast

from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, json
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from identity.models import Account
from miniapp_api.reports import access, photos, service
from miniapp_api.reports.models import Report
from miniapp_api.reports.photo_models import ReportPhoto
from miniapp_api.reports.storage import LocalStorage, PhotoNotStored, PhotoStorage, digest_of
from server import idempotency, public_ids
from server.auth import require_principal, requires
from server.conditional import etag_matches
from server.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from server.ratelimit import Rate, RateLimiter
from server.validation import errors, responds
from server.wire import WireTime

log = logging.getLogger("gmid.reports.photos")

bp = Blueprint("report_photos", url_prefix="/api/v1")

MAX_PHOTOS_PER_REPORT = 9
# An upload a little over the limit is read to its end so that the client gets a clean 413; one
# announcing more than this is refused before its body is read (and the connection is closed).
_DRAIN_LIMIT = 2 * photos.MAX_UPLOAD_BYTES
_MB = photos.MAX_UPLOAD_BYTES // (1024 * 1024)


class PhotoOut(BaseModel):
    id: str
    url: str = Field(description="Where to fetch the JPEG (signed in, as someone who may see the report).")
    width: int
    height: int
    bytes: int = Field(description="Size of the JPEG.")
    sha256: str = Field(description="Digest of the JPEG; also its ETag.")
    created_at: WireTime


class PhotoList(BaseModel):
    items: list[PhotoOut]
    limit: int = Field(description="The most photos a report may have.")


def storage_of(request: Request) -> PhotoStorage:
    """The app's photo store, made on first use (tests may put their own on ``app.ctx``)."""
    store: PhotoStorage | None = getattr(request.app.ctx, "photo_storage", None)
    if store is None:
        store = LocalStorage(request.app.ctx.settings.var_path / "photos")
        request.app.ctx.photo_storage = store
    return store


def pool_of(app: Sanic) -> photos.DecodePool:
    """This worker's decoding pool, made on first use, sized by the settings."""
    pool: photos.DecodePool | None = getattr(app.ctx, "photo_pool", None)
    if pool is None:
        settings = app.ctx.settings
        pool = photos.DecodePool(workers=settings.photo_decode_workers, queue=settings.photo_decode_queue)
        app.ctx.photo_pool = pool
    return pool


@bp.after_server_stop
async def close_pool(app: Sanic) -> None:
    pool: photos.DecodePool | None = getattr(app.ctx, "photo_pool", None)
    if pool is not None:
        pool.close()
        app.ctx.photo_pool = None


BUSY_RETRY_SECONDS = 5


async def count_upload(request: Request, account_id: str) -> None:
    """429 when the account has used its photo budget (GMID_PHOTO_UPLOAD_LIMITS, sliding windows).
    Counted before decoding: a refused picture cost the CPU too."""
    settings = request.app.ctx.settings
    limiter: RateLimiter | None = getattr(request.app.ctx, "rate_limiter", None)
    if limiter is None or not settings.rate_limit_enabled:
        return
    for part in settings.photo_upload_limits.split(","):
        rate = Rate.parse(part)
        try:
            decision = await limiter.hit_window(f"photos:{account_id}", rate)
        except RedisError:
            log.warning("photo upload limit skipped: redis unavailable")  # fail open, as every limit
            return
        if not decision.allowed:
            raise RateLimited(
                f"You have uploaded as many photos as allowed ({rate}); try again later.",
                code="photo_upload_limit",
                retry_after=int(decision.retry_after + 0.999),
                details={"limit": str(rate)},
            )


def photo_url(report: Report, photo: ReportPhoto) -> str:
    return f"/api/v1/reports/{report.public_id}/photos/{photo.public_id}.jpg"


def photo_out(report: Report, photo: ReportPhoto) -> PhotoOut:
    return PhotoOut(
        id=photo.public_id,
        url=photo_url(report, photo),
        width=photo.width,
        height=photo.height,
        bytes=photo.bytes,
        sha256=photo.sha256,
        created_at=photo.created_at,
    )


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"A photo may have at most {_MB} MB.",
        code="photo_too_large",
        details={"max_bytes": photos.MAX_UPLOAD_BYTES},
    )


class _BodyReader(Protocol):
    # What Sanic's HTTP/1.1 and HTTP/3 streams offer a streaming handler (not on their base class).
    async def read(self) -> bytes | None: ...


async def read_upload(request: Request) -> bytes:
    """The raw body, at most MAX_UPLOAD_BYTES; 413 beyond. The route streams its body because the
    app-wide body limit is smaller than a photo."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > _DRAIN_LIMIT:
        raise _too_large()
    if request.stream is None:  # not streamed (never the case for this route over HTTP/1.1)
        body = request.body or b""
        if len(body) > photos.MAX_UPLOAD_BYTES:
            raise _too_large()
        return body
    reader = cast(_BodyReader, request.stream)
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = await reader.read()
        if chunk is None:
            break
        total += len(chunk)
        if total <= photos.MAX_UPLOAD_BYTES:
            chunks.append(chunk)
        elif total > _DRAIN_LIMIT:
            raise _too_large()
    if total > photos.MAX_UPLOAD_BYTES:
        raise _too_large()
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    return (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()


async def _uploader(principal_account_id: str) -> Account:
    account = await Account.get_or_none(public_id=principal_account_id)
    if account is None:
        raise NotFound("Your account no longer exists.", code="account_not_found")
    return account


def _limit_reached() -> Conflict:
    return Conflict(
        f"A report may have at most {MAX_PHOTOS_PER_REPORT} photos.",
        code="too_many_photos",
        details={"limit": MAX_PHOTOS_PER_REPORT},
    )


@bp.post("/reports/<public_id:str>/photos", name="report_photos.upload", stream=True)
@requires()
@responds(201, PhotoOut, "Stored: the photo as re-encoded (JPEG, at most 2048 px, no metadata)")
@responds(200, PhotoOut, "This report already has this very photo: the stored one")
@errors(404, 409, 413, 415, 422, 429, 503)
async def upload(request: Request, public_id: str) -> HTTPResponse:
    """Attach a photo to a report: the body is the picture itself, not JSON.

    Send the file's bytes as the body with `Content-Type: image/jpeg`, `image/png` or `image/webp`
    (at most 8 MB; 415 for other types, 413 beyond the size). The picture is decoded and written out
    again as a JPEG of at most 2048 px on its long side, turned upright, with no EXIF (so no GPS
    position), XMP or ICC data; bytes that are not such a picture, or whose header declares more than
    8,000 px on a side, 40 million pixels or a shape longer than 20:1, are 422 (refused before any
    pixel is decoded). The reporter and the staff in whose part of the hierarchy the report lies may
    add photos, at most 9 per report (409 beyond). Each account may upload a limited number of photos
    per hour and per day (429 with Retry-After); when the server is busy decoding others, 503 with
    Retry-After. The same picture sent again is answered with the stored one (200) rather than added
    twice. With an `Idempotency-Key`, the same bytes sent again get the first answer again
    (`Idempotent-Replayed: true`); other bytes, or another media type, with that key are 422
    `idempotency_key_reused`.
    """
    principal = require_principal(request)
    data = await read_upload(request)
    # The Idempotency-Key stands for this very picture: claimed now that it has been read.
    replay = await idempotency.claim_body(request, data)
    if replay is not None:
        return replay
    media = _media_type(request)
    if media not in photos.ALLOWED_TYPES:
        raise UnsupportedMediaType(
            "Send the photo as image/jpeg, image/png or image/webp.",
            details={"expected": list(photos.ALLOWED_TYPES), "received": media or None},
        )
    report, _ = await access.get_visible(principal=principal, public_id=public_id)
    uploader = await _uploader(principal.account_id)
    if not data:
        raise ValidationFailed("The request body is empty; send the picture itself.", code="not_an_image")
    await count_upload(request, principal.account_id)
    try:
        cleaned = await pool_of(request.app).clean(data)
    except photos.NotAnImage as exc:
        raise ValidationFailed(exc.message, code=exc.code) from None
    except photos.PoolBusy:
        raise ServiceUnavailable(
            "Too many photos are being processed right now; try again in a few seconds.",
            code="photo_busy",
            headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
            details={"retry_after": BUSY_RETRY_SECONDS},
        ) from None
    photo, created = await _attach(report, uploader, cleaned, storage_of(request))
    out = photo_out(report, photo)
    if created:
        log.info(
            "report photo stored report=%s photo=%s format=%s size=%dx%d bytes=%d",
            report.public_id,
            photo.public_id,
            cleaned.source_format,
            photo.width,
            photo.height,
            photo.bytes,
        )
    # Kept for an Idempotency-Key (its fingerprint holds the picture): a retry gets this very answer.
    headers = {"Location": out.url}
    return json(out.model_dump(mode="json"), status=201 if created else 200, headers=headers)


async def _attach(
    report: Report, uploader: Account, cleaned: photos.CleanPhoto, store: PhotoStorage
) -> tuple[ReportPhoto, bool]:
    """The row for this photo (existing or new) under a lock on the report, so that two uploads at
    once cannot pass the limit together. The file is written once the row is sure to be added, and
    before it commits, so a row never points at nothing."""
    digest = digest_of(cleaned.data)
    try:
        async with in_transaction() as conn:
            await Report.filter(id=report.id).using_db(conn).select_for_update().first()
            existing = await ReportPhoto.get_or_none(report_id=report.id, sha256=digest, using_db=conn)
            if existing is not None:
                return existing, False
            if await ReportPhoto.filter(report_id=report.id).using_db(conn).count() >= MAX_PHOTOS_PER_REPORT:
                raise _limit_reached()
            await store.put(cleaned.data)
            photo = await ReportPhoto.create(
                public_id=public_ids.new("ph_"),
                report_id=report.id,
                sha256=digest,
                width=cleaned.width,
                height=cleaned.height,
                bytes=len(cleaned.data),
                uploader_id=uploader.id,
                created_at=service.utcnow(),
                using_db=conn,
            )
            return photo, True
    except IntegrityError:
        # The same picture arrived twice at once: the other upload stored it.
        existing = await ReportPhoto.get_or_none(report_id=report.id, sha256=digest)
        if existing is None:
            raise
        return existing, False


@bp.get("/reports/<public_id:str>/photos", name="report_photos.list")
@requires()
@responds(200, PhotoList, "The report's photos, oldest first")
@errors(404)
async def list_photos(request: Request, public_id: str) -> HTTPResponse:
    principal = require_principal(request)
    report, _ = await access.get_visible(principal=principal, public_id=public_id)
    rows = await ReportPhoto.filter(report_id=report.id).order_by("id")
    body = PhotoList(items=[photo_out(report, p) for p in rows], limit=MAX_PHOTOS_PER_REPORT)
    return json(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.get("/reports/<public_id:str>/photos/<filename:str>", name="report_photos.get")
@requires()
@responds(200, None, "The photo as JPEG; `filename` is the photo id followed by .jpg", media="image/jpeg")
@errors(404)
async def get_photo(request: Request, public_id: str, filename: str) -> HTTPResponse:
    """One photo of a report, as JPEG (`{photo id}.jpg`); its ETag is its SHA-256, so it revalidates."""
    principal = require_principal(request)
    report, _ = await access.get_visible(principal=principal, public_id=public_id)
    photo_id = filename.removesuffix(".jpg")
    photo = None
    if filename.endswith(".jpg") and 0 < len(photo_id) <= 16:
        photo = await ReportPhoto.get_or_none(public_id=photo_id, report_id=report.id)
    if photo is None:
        raise NotFound("This report has no photo with this id.", code="photo_not_found")
    etag = f'"{photo.sha256}"'
    # private: a shared cache must not keep what only the report's people may see.
    headers: dict[str, Any] = {"ETag": etag, "Cache-Control": "private, max-age=86400"}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return HTTPResponse(status=304, headers=headers)
    try:
        data = await storage_of(request).get(photo.sha256)
    except PhotoNotStored:
        log.error("report photo file missing report=%s photo=%s", report.public_id, photo.public_id)
        raise NotFound("This photo's file is missing.", code="photo_file_missing") from None
    return HTTPResponse(data, status=200, headers=headers, content_type="image/jpeg")
