"""Credential kinds and the scan views each one registers.

A feature package (ebikes, buildings, boards, ...) registers its kind once at import: the code in the
token, the titles printed on its stickers, and a view resolver that turns a scanned credential into
what the caller's role may see. A kind without a resolver still scans: the answer is the kind and
its status, nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qr.models import Credential
    from server.auth import Principal


class Audience:
    """Who is looking, from least to most privileged view."""

    ANONYMOUS = "anonymous"
    RESIDENT = "resident"
    OFFICER = "officer"
    POLICE = "police"
    ADMIN = "admin"


@dataclass(frozen=True)
class ScanContext:
    viewer: Principal | None
    audience: str
    lat: float | None
    lng: float | None
    client_addr: str
    request_id: str


ViewResolver = Callable[["Credential", ScanContext], Awaitable[dict[str, Any]]]
OwnerCheck = Callable[["Credential", "Principal"], Awaitable[bool]]


@dataclass(frozen=True)
class KindSpec:
    name: str  # in URLs and the API: "ebike"
    code: int  # in the token: 1..255, never reused
    title: str  # printed above the code on a sticker
    description: str  # one line for the public page
    resolver: ViewResolver | None = None
    is_owner: OwnerCheck | None = None
    # The resolver shows every anonymous and resident scanner the same view, which only changes
    # through calls that tell qr.service.changed(): such answers come from the scan cache.
    public_view_cacheable: bool = False


_BY_NAME: dict[str, KindSpec] = {}
_BY_CODE: dict[int, KindSpec] = {}


def register(spec: KindSpec, *, replace: bool = False) -> KindSpec:
    if not 1 <= spec.code <= 255:
        raise ValueError("kind codes are 1..255")
    existing = _BY_CODE.get(spec.code)
    if existing is not None and existing.name != spec.name:
        raise ValueError(f"kind code {spec.code} is already {existing.name}")
    if spec.name in _BY_NAME and not replace and _BY_NAME[spec.name] != spec:
        raise ValueError(f"kind {spec.name} is already registered")
    _BY_NAME[spec.name] = spec
    _BY_CODE[spec.code] = spec
    return spec


def unregister(name: str) -> None:
    """Forget a kind (tests register throwaway kinds)."""
    spec = _BY_NAME.pop(name, None)
    if spec is not None:
        _BY_CODE.pop(spec.code, None)


def by_name(name: str) -> KindSpec | None:
    return _BY_NAME.get(name)


def by_code(code: int) -> KindSpec | None:
    return _BY_CODE.get(code)


def all_kinds() -> list[KindSpec]:
    return sorted(_BY_NAME.values(), key=lambda k: k.code)


# The product's kinds. Feature packages add their resolvers with register(..., replace=True).
EBIKE = register(KindSpec("ebike", 1, "光明区电动单车电子身份证", "光明区登记的电动单车", public_view_cacheable=True))
BUILDING = register(KindSpec("building", 2, "光明区出租屋智慧身份证", "光明区出租屋", public_view_cacheable=True))
BOARD = register(KindSpec("board", 3, "光明区党员亮相牌", "光明区党员亮相牌", public_view_cacheable=True))
# A resident's scan shows whether they are in the device's household: not one view for all residents.
DEVICE = register(KindSpec("device", 4, "光明区安全设备电子身份证", "光明区登记的安全设备"))
