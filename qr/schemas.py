"""Request and response schemas of the QR service."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from server.validation import CounterCursor, StrictModel, Stripped, WithPoint
from server.wire import WireTime


class ScanIn(WithPoint):
    payload: str = Field(
        min_length=1, max_length=2048, description="The scanned text: the code's URL or the bare token."
    )
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)

    @classmethod
    def plain(cls, data: dict[str, Any]) -> ScanIn | None:
        """The usual scan body (an ASCII payload within its length, with or without a whole point in
        range) made without validation, which costs a scan as much as its own work; None for anything
        else, which validation then judges and words as before."""
        payload = data.get("payload")
        if type(payload) is not str or not 1 <= len(payload) <= 2048 or not payload.isascii():
            return None
        if len(data) == 1:
            return cls.model_construct(payload=payload, lat=None, lng=None)
        lat, lng = data.get("lat"), data.get("lng")
        if len(data) != 3 or not isinstance(lat, int | float) or not isinstance(lng, int | float):
            return None
        if isinstance(lat, bool) or isinstance(lng, bool):
            return None  # ``"lat": true`` is refused by validation
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):  # NaN and infinity are not in range either
            return None
        return cls.model_construct(payload=payload, lat=float(lat), lng=float(lng))


class ScanOut(BaseModel):
    valid: bool
    code: str = Field(description="ok, or why the code is refused (malformed, bad_signature, revoked, ...).")
    message: str = Field(description="What a person is told: the alert's sentence when there is one.")
    alert: str | None = Field(
        default=None, description="Something the scanner must act on: `stolen`, `not_registered`; null when none."
    )
    kind: str | None = None
    public_id: str | None = None
    status: str | None = None
    view: dict[str, Any] = Field(default_factory=dict, description="What your role may see of the subject.")


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    use: str
    alg: str


class Jwks(BaseModel):
    keys: list[Jwk]


class RevocationsQuery(StrictModel):
    since: CounterCursor = Field(default=0, description="Return entries with a counter above this one.")
    epoch: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{1,32}$",
        description="The `epoch` of the last answer: when it is not the current one, the answer has `reset: true`.",
    )
    limit: int = Field(default=1000, ge=1, le=10000)


class ImageQuery(StrictModel):
    size: int = Field(default=512, ge=64, le=2048, description="Width and height in pixels (about).")


class CredentialOut(BaseModel):
    id: str
    kind: str
    serial: int
    status: str
    label: str
    url: str = Field(description="The URL the code carries.")
    issued_at: WireTime
    revoked_at: WireTime | None
    images: dict[str, str]


class RevokeIn(StrictModel):
    reason: Stripped = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")


# Admin: signing keys -------------------------------------------------------------------------------


class KeyOut(BaseModel):
    kid: str = Field(description="RFC 7638 thumbprint of the public key (as in the JWKS and the codes' header).")
    status: str = Field(description="active (signs new codes), verifying (its codes verify), retired (refused).")
    created_at: str
    retired_at: str | None = None
    active_codes: int = Field(description="Active codes whose current code this key signed.")


class KeyList(BaseModel):
    active_kid: str
    items: list[KeyOut]


class RotateIn(StrictModel):
    confirm: Literal[True] = Field(description="Must be true: a new key signs every code from now on.")


class RotateOut(BaseModel):
    active_kid: str


class RetireIn(StrictModel):
    confirm_kid: str = Field(min_length=1, max_length=64, description="The kid again, to confirm.")
    force: bool = Field(default=False, description="Retire even while active codes it signed remain (refuses them).")


class RetireOut(BaseModel):
    kid: str
    refused_codes: int
    already_retired: bool


# Admin: sticker-sheet print jobs ---------------------------------------------------------------------


class SheetIn(StrictModel):
    kind: str = Field(min_length=1, max_length=32, description="The kind of code: ebike, building, board ...")
    node: Stripped = Field(min_length=1, max_length=32, description="The node whose codes to print (yours or below).")


class SheetJobOut(BaseModel):
    id: str
    kind: str
    node: str
    state: str = Field(description="running, done, failed or interrupted (its worker stopped).")
    total: int = Field(description="Stickers to print.")
    done: int = Field(description="Stickers drawn so far.")
    pages: int
    percent: int
    error: str = Field(description="Why it failed (an error class), empty otherwise.")
    created_at: str
    finished_at: str
    pdf: str | None = Field(description="Where to download the PDF, once done.")
