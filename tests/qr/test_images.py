"""Code images over real HTTP: PNG, SVG and the sticker decode (zxing-cpp) to exactly the code's URL;
they are cached in Redis with an ETag; only staff in scope or the subject's owner can fetch them."""

from __future__ import annotations

import io
import os
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis.asyncio as aioredis
import zxingcpp
from PIL import Image
from sanic import Sanic

from identity.roles import Role
from qr import kinds, render, service
from qr.kinds import KindSpec
from qr.models import Credential
from server.app import create_app
from server.auth import Principal
from server.settings import Settings
from tests.factories import auth, make_account, token_for
from tests.support.app_server import RunningApp

GRID = "/GM/GM01/GM0101/GM010101/"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QR = zxingcpp.BarcodeFormat.QRCode


def decode_png(data: bytes) -> list[str]:
    assert data.startswith(PNG_MAGIC)
    # QR symbols only: zxing-cpp now and then reads a phantom linear barcode in a QR code's modules.
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(data)), formats=QR)]


def rasterize_svg(data: bytes) -> Image.Image:
    """Draw the SVG's module paths ourselves (``M{x} {y}h{w}v1h-{w}z`` per dark run) and scale up."""
    root = ET.fromstring(data)  # noqa: S314 - our own server's output, checked for well-formedness
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    _, _, width, height = (int(v) for v in root.attrib["viewBox"].split())
    assert width == height
    modules = np.zeros((width, width), dtype=bool)
    path = root.find("{http://www.w3.org/2000/svg}path")
    assert path is not None
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", path.attrib["d"])
    assert runs and "".join(f"M{x} {y}h{w}v1h-{w}z" for x, y, w, _ in runs) == path.attrib["d"]
    for x, y, w, back in runs:
        assert w == back
        modules[int(y), int(x) : int(x) + int(w)] = True
    pixels = np.where(modules, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L").resize((width * 8, width * 8), Image.Resampling.NEAREST)


async def admin_headers(app: Sanic) -> dict[str, str]:
    return auth(await token_for(app, await make_account(Role.ADMIN)))


async def building(node_path: str | None = GRID) -> Credential:
    return await service.issue(kind="building", subject_id="bld-img", node_path=node_path, label="8栋")


def code_url(credential: Credential) -> str:
    return f"https://eid.example.cn/q/{credential.token}"


@pytest.fixture
def ownedkind() -> Iterator[KindSpec]:
    """A kind whose owner is the account named by the subject id."""

    async def is_owner(credential: Credential, principal: Principal) -> bool:
        return credential.subject_id == principal.account_id

    spec = kinds.register(KindSpec("ownedkind", 251, "测试", "测试", is_owner=is_owner), replace=True)
    yield spec
    kinds.unregister("ownedkind")


async def test_png_decodes_to_exactly_the_url(client: httpx.AsyncClient, app: Sanic) -> None:
    credential = await building()
    response = await client.get(
        f"/api/v1/credentials/{credential.public_id}/qr.png?size=300", headers=await admin_headers(app)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert "private" in response.headers["cache-control"]
    image = Image.open(io.BytesIO(response.content))
    assert 64 <= image.width <= 300 and image.width == image.height
    assert decode_png(response.content) == [code_url(credential)]
    lower = await client.get(
        f"/api/v1/credentials/{credential.public_id.lower()}/qr.png?size=300", headers=await admin_headers(app)
    )
    assert lower.status_code == 200 and lower.content == response.content

    # The credential itself links the same URL and its image routes.
    detail = await client.get(f"/api/v1/credentials/{credential.public_id}", headers=await admin_headers(app))
    assert detail.status_code == 200
    assert detail.json()["url"] == code_url(credential)
    assert detail.json()["images"]["png"] == f"/api/v1/credentials/{credential.public_id}/qr.png"


async def test_svg_is_well_formed_and_decodes(client: httpx.AsyncClient, app: Sanic) -> None:
    credential = await building()
    response = await client.get(
        f"/api/v1/credentials/{credential.public_id}/qr.svg?size=400", headers=await admin_headers(app)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(response.content)  # noqa: S314 - our own server's output
    assert root.attrib["width"] == "400"
    found = zxingcpp.read_barcodes(rasterize_svg(response.content), formats=QR)
    assert [f.text for f in found] == [code_url(credential)]


async def test_sticker_decodes_to_the_url(client: httpx.AsyncClient, app: Sanic) -> None:
    credential = await building()
    response = await client.get(
        f"/api/v1/credentials/{credential.public_id}/sticker.png", headers=await admin_headers(app)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (render.STICKER_W, render.STICKER_H)
    assert decode_png(response.content) == [code_url(credential)]


async def test_etag_and_redis_cache(client: httpx.AsyncClient, app: Sanic, settings: Settings) -> None:
    headers = await admin_headers(app)
    credential = await building()
    url = f"/api/v1/credentials/{credential.public_id}/sticker.png"
    cache = aioredis.Redis.from_url(settings.redis_url or "")
    try:
        assert await cache.keys("qrimg:*") == []
        started = time.perf_counter()
        first = await client.get(url, headers=headers)
        first_seconds = time.perf_counter() - started
        assert first.status_code == 200
        assert len(await cache.keys("qrimg:*")) == 1

        cached_seconds = []
        for _ in range(3):
            started = time.perf_counter()
            again = await client.get(url, headers=headers)
            cached_seconds.append(time.perf_counter() - started)
            assert again.status_code == 200
            assert again.content == first.content
            assert again.headers["etag"] == first.headers["etag"]
        assert min(cached_seconds) < first_seconds  # loose: the figures are in bench/qr_bench.py

        etag = first.headers["etag"]
        unchanged = await client.get(url, headers={**headers, "If-None-Match": etag})
        assert unchanged.status_code == 304
        assert unchanged.content == b""
        assert unchanged.headers["etag"] == etag

        # Other sizes and formats are other images with other ETags.
        small = await client.get(f"/api/v1/credentials/{credential.public_id}/qr.png?size=128", headers=headers)
        large = await client.get(f"/api/v1/credentials/{credential.public_id}/qr.png?size=1024", headers=headers)
        assert len({etag, small.headers["etag"], large.headers["etag"]}) == 3
        assert Image.open(io.BytesIO(small.content)).width < Image.open(io.BytesIO(large.content)).width
        assert len(await cache.keys("qrimg:*")) == 3

        # A reissued code is a new URL: a new image, not the cached old one.
        await service.reissue(public_id=credential.public_id)
        renewed = await client.get(url, headers={**headers, "If-None-Match": etag})
        assert renewed.status_code == 200
        assert renewed.headers["etag"] != etag
        fresh = await Credential.get(public_id=credential.public_id)
        assert decode_png(renewed.content) == [code_url(fresh)]
    finally:
        await cache.aclose()


async def test_size_out_of_range_is_refused(client: httpx.AsyncClient, app: Sanic) -> None:
    headers = await admin_headers(app)
    credential = await building()
    for query in ("size=10", "size=5000", "size=big", "colour=red"):
        response = await client.get(f"/api/v1/credentials/{credential.public_id}/qr.png?{query}", headers=headers)
        assert response.status_code == 422, query
        assert response.json()["error"]["code"] == "validation_failed"


async def test_only_staff_in_scope_or_the_owner_see_images(
    client: httpx.AsyncClient, app: Sanic, ownedkind: KindSpec
) -> None:
    owner = await make_account(Role.RESIDENT)
    other = await make_account(Role.RESIDENT)
    owned = await service.issue(kind="ownedkind", subject_id=owner.public_id, node_path=GRID)
    png = f"/api/v1/credentials/{owned.public_id}/qr.png"

    mine = await client.get(png, headers=auth(await token_for(app, owner)))
    assert mine.status_code == 200
    assert decode_png(mine.content) == [code_url(owned)]

    # Someone else's code: as if it did not exist (404, not 403), for every image and the detail.
    stranger = auth(await token_for(app, other))
    for suffix in ("", "/qr.png", "/qr.svg", "/sticker.png"):
        response = await client.get(f"/api/v1/credentials/{owned.public_id}{suffix}", headers=stranger)
        assert response.status_code == 404, suffix
        assert response.json()["error"]["code"] == "credential_not_found"
    missing = await client.get("/api/v1/credentials/0000000000000/qr.png", headers=stranger)
    hidden = await client.get(png, headers=stranger)
    assert missing.status_code == hidden.status_code == 404
    assert missing.json()["error"]["message"] == hidden.json()["error"]["message"]
    assert (await client.get(png)).status_code == 401

    # Staff: in the credential's branch of the hierarchy, yes; in another street, no.
    inside = auth(await token_for(app, await make_account(Role.OFFICER, node="GM0101")))
    grid_staff = auth(await token_for(app, await make_account(Role.GRID_STAFF, node="GM010101")))
    outside = auth(await token_for(app, await make_account(Role.OFFICER, node="GM0201")))
    neighbour = auth(await token_for(app, await make_account(Role.GRID_STAFF, node="GM010102")))
    assert (await client.get(png, headers=inside)).status_code == 200
    assert (await client.get(png, headers=grid_staff)).status_code == 200
    for headers in (outside, neighbour):
        response = await client.get(png, headers=headers)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "credential_not_found"


async def test_revoked_credentials_have_no_image(client: httpx.AsyncClient, app: Sanic) -> None:
    headers = await admin_headers(app)
    credential = await building()
    url = f"/api/v1/credentials/{credential.public_id}/qr.png"
    assert (await client.get(url, headers=headers)).status_code == 200  # now cached
    await service.revoke(public_id=credential.public_id, reason="demolished")
    for suffix in ("qr.png", "qr.svg", "sticker.png"):
        response = await client.get(f"/api/v1/credentials/{credential.public_id}/{suffix}", headers=headers)
        assert response.status_code == 410, suffix
        error: dict[str, Any] = response.json()["error"]
        assert error["code"] == "revoked"
        assert error["details"]["public_id"] == credential.public_id


async def sticker_from(settings: Settings) -> tuple[bytes, str]:
    app = create_app(settings)
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        credential = await Credential.get_or_none(subject_id="bld-font")
        if credential is None:  # the first app issues it; the second prints the same code
            credential = await service.issue(kind="building", subject_id="bld-font", node_path=GRID, label="8栋")
        response = await http.get(
            f"/api/v1/credentials/{credential.public_id}/sticker.png", headers=await admin_headers(app)
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        return response.content, code_url(credential)


# What fc-match answers for :lang=zh on a machine with chromium but no CJK font package, when present.
LATIN_FONTS = [p for p in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",) if os.path.isfile(p)]


async def test_stickers_are_drawn_with_the_shipped_font_whatever_the_machine_has(settings: Settings) -> None:
    """The default is the font in the package: the same sticker on every machine, with Chinese."""
    assert render.SHIPPED_FONT.is_file() and render.SHIPPED_FONT.parent.name == "fonts"
    assert (render.SHIPPED_FONT.parent / "OFL.txt").is_file()
    assert render.find_cjk_font() == str(render.SHIPPED_FONT)
    assert render.draws_text(str(render.SHIPPED_FONT), "光明区电动单车电子身份证出租屋智慧党员亮相牌 8栋 粤B·12345")
    shipped, url = await sticker_from(settings)
    same, same_url = await sticker_from(settings.replace(qr_font=str(render.SHIPPED_FONT)))
    assert same_url == url and decode_png(shipped) == [url]
    assert same == shipped  # deterministic: the setting and the default are one font


@pytest.mark.parametrize("configured", ["/nonexistent.ttf", "README.md", *LATIN_FONTS])
async def test_a_gmid_qr_font_that_cannot_draw_chinese_fails_loudly(settings: Settings, configured: str) -> None:
    app = create_app(settings.replace(qr_font=configured))
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        credential = await service.issue(kind="building", subject_id="bld-x", node_path=GRID, label="8栋")
        headers = await admin_headers(app)
        response = await http.get(f"/api/v1/credentials/{credential.public_id}/sticker.png", headers=headers)
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "sticker_font_missing" and "GMID_QR_FONT" in error["message"]
        # The plain code needs no font: it is still served.
        png = await http.get(f"/api/v1/credentials/{credential.public_id}/qr.png", headers=headers)
        assert png.status_code == 200


def test_a_font_is_used_only_if_it_really_draws_chinese(tmp_path: Path) -> None:
    for latin in LATIN_FONTS:
        assert render.draws_text(latin, "ABC") and not render.draws_text(latin, "光明")
    assert all(render.draws_text(path, render.PROBE) for path in render.system_cjk_fonts())
    # No shipped font and no system font: a clear error naming the setting, never Latin letters.
    with pytest.raises(render.StickerFontError, match="GMID_QR_FONT"):
        render.find_cjk_font(shipped=tmp_path / "missing.otf", search_system=False)
    with pytest.raises(render.StickerFontError, match="GMID_QR_FONT"):
        render.sticker("https://eid.example.cn/q/x", title="光明", public_id="0" * 13, font=str(tmp_path / "no.ttf"))


async def test_a_changed_label_is_drawn_anew_not_served_from_the_cache(client: httpx.AsyncClient, app: Sanic) -> None:
    headers = await admin_headers(app)
    credential = await building()
    url = f"/api/v1/credentials/{credential.public_id}/sticker.png"
    first = await client.get(url, headers=headers)
    await Credential.filter(id=credential.id).update(label="9栋")
    second = await client.get(url, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.headers["etag"] != second.headers["etag"]
    assert first.content != second.content


def test_a_text_the_font_lacks_is_drawn_with_one_that_has_it() -> None:
    shipped = str(render.SHIPPED_FONT)
    assert render.font_for(shipped, "8栋 粤B·12345") == shipped
    assert not render.draws_text(shipped, "龘")  # outside GB 2312: not in the subset
    chosen = render.font_for(shipped, "龘")
    assert chosen == shipped or render.draws_text(chosen, "龘")
    # A CJK-only system font (Droid Sans Fallback has no digits) as GMID_QR_FONT: "8栋" still prints whole.
    for cjk_only in [path for path in render.system_cjk_fonts() if not render.draws_text(path, "8")]:
        assert render.draws_text(render.font_for(cjk_only, "8栋"), "8栋")
        assert render.font_for(cjk_only, "光明") == cjk_only
