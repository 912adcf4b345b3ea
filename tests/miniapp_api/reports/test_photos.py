"""Report photos over HTTP: cleaned of metadata (GPS above all), turned upright and shrunk; refused
when too large, of another type, not a picture or a decompression bomb; at most 9 per report; seen
only by who sees the report; stored once per content, owner-only, under VAR_DIR/photos."""

from __future__ import annotations

import io
import stat
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import ExifTags, Image
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports import photos
from miniapp_api.reports.photo_models import ReportPhoto
from miniapp_api.reports.storage import LocalStorage, PhotoNotStored
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.reports.test_closed_loop import submit

GPS_MARKER = "WGS-84-GMID-MARKER"


def jpeg(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (200, 30, 30), **save: Any) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", **save)
    return buf.getvalue()


def jpeg_with_gps_sideways() -> bytes:
    """3000x1500, red left half and blue right half, EXIF orientation 6 (turn 90° clockwise to view),
    with a GPS position, a camera make and a comment."""
    picture = Image.new("RGB", (3000, 1500), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, 1500, 1500))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "SECRETCAM"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (22.0, 45.0, 30.5),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (113.0, 56.0, 1.25),
        ExifTags.GPS.GPSMapDatum: GPS_MARKER,
    }
    buf = io.BytesIO()
    picture.save(buf, "JPEG", exif=exif, comment=b"taken at home", quality=90)
    data = buf.getvalue()
    assert GPS_MARKER.encode() in data and b"SECRETCAM" in data
    return data


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (its pixel data is a few bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


async def upload(
    client: httpx.AsyncClient, who: User, report_id: str, data: bytes, media: str = "image/jpeg"
) -> httpx.Response:
    headers = {**who.headers, "Content-Type": media}
    return await client.post(f"/api/v1/reports/{report_id}/photos", content=data, headers=headers)


def photo_files(app: Sanic) -> list[Path]:
    root = app.ctx.settings.var_path / "photos"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_a_photo_comes_back_upright_shrunk_and_without_any_exif(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    report = await submit(client, resident)

    r = await upload(client, resident, report["id"], jpeg_with_gps_sideways())
    assert r.status_code == 201, r.text
    photo = r.json()
    # Turned upright (1500 wide, 3000 high), then shrunk to 2048 on the long side.
    assert (photo["width"], photo["height"]) == (1024, 2048)
    assert photo["url"] == f"/api/v1/reports/{report['id']}/photos/{photo['id']}.jpg"
    assert r.headers["location"] == photo["url"]

    # The grid worker sees it in the list and fetches the bytes.
    listed = await client.get(f"/api/v1/reports/{report['id']}/photos", headers=grid.headers)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["items"]] == [photo["id"]]
    assert listed.json()["limit"] == 9
    got = await client.get(photo["url"], headers=grid.headers)
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["cache-control"] == "private, max-age=86400"
    assert got.headers["etag"] == f'"{photo["sha256"]}"'
    data = got.content
    assert len(data) == photo["bytes"]

    # No metadata at all: no EXIF segment, no GPS, no camera, no comment, no ICC profile.
    assert GPS_MARKER.encode() not in data and b"SECRETCAM" not in data and b"taken at home" not in data
    assert b"Exif\x00\x00" not in data and b"ICC_PROFILE" not in data and b"http://ns.adobe.com/xap" not in data
    assert b"\xff\xe1" not in data  # no APP1 segment (EXIF or XMP)
    with Image.open(io.BytesIO(data)) as served:
        assert served.format == "JPEG" and served.size == (1024, 2048)
        assert dict(served.getexif()) == {}
        assert served.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert "exif" not in served.info and "icc_profile" not in served.info and "comment" not in served.info
        # The red half, on the left of the sideways file, is at the top once turned upright.
        top = served.getpixel((512, 200))
        bottom = served.getpixel((512, 1850))
        assert isinstance(top, tuple) and isinstance(bottom, tuple)
        assert top[0] > 200 and top[2] < 60, top
        assert bottom[2] > 200 and bottom[0] < 60, bottom

    # Revalidation by ETag.
    again = await client.get(photo["url"], headers={**grid.headers, "If-None-Match": got.headers["etag"]})
    assert again.status_code == 304
    # Only a photo of this report, named with .jpg, is served.
    assert (await client.get(photo["url"][: -len(".jpg")], headers=grid.headers)).status_code == 404
    missing = await client.get(f"/api/v1/reports/{report['id']}/photos/ph_nothing.jpg", headers=grid.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "photo_not_found"


async def test_png_and_webp_are_accepted_and_stored_as_jpeg(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    transparent = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    transparent.paste((0, 128, 0, 255), (0, 0, 100, 200))
    png = io.BytesIO()
    transparent.save(png, "PNG")
    webp = io.BytesIO()
    Image.new("RGB", (320, 240), (10, 20, 200)).save(webp, "WEBP", quality=80)

    r_png = await upload(client, resident, report["id"], png.getvalue(), "image/png")
    assert r_png.status_code == 201, r_png.text
    r_webp = await upload(client, resident, report["id"], webp.getvalue(), "image/webp")
    assert r_webp.status_code == 201, r_webp.text
    assert (r_webp.json()["width"], r_webp.json()["height"]) == (320, 240)

    served = await client.get(r_png.json()["url"], headers=resident.headers)
    with Image.open(io.BytesIO(served.content)) as back:
        assert back.format == "JPEG" and back.size == (300, 200)
        # Transparency is flattened onto white.
        corner = back.getpixel((250, 100))
        assert isinstance(corner, tuple) and min(corner) > 240
    # Small pictures are not enlarged.
    listed = await client.get(f"/api/v1/reports/{report['id']}/photos", headers=resident.headers)
    assert [(p["width"], p["height"]) for p in listed.json()["items"]] == [(300, 200), (320, 240)]


async def test_bad_uploads_are_refused_and_nothing_is_stored(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)

    text = await upload(client, resident, report["id"], "这不是图片，只是文字".encode() * 50)
    assert text.status_code == 422 and text.json()["error"]["code"] == "not_an_image"
    truncated = await upload(client, resident, report["id"], jpeg((400, 300))[:300])
    assert truncated.status_code == 422 and truncated.json()["error"]["code"] == "not_an_image"
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    as_jpeg = await upload(client, resident, report["id"], gif.getvalue())
    assert as_jpeg.status_code == 422  # only JPEG, PNG and WebP are decoded, whatever the label says
    empty = await upload(client, resident, report["id"], b"")
    assert empty.status_code == 422

    pdf = await upload(client, resident, report["id"], b"%PDF-1.7\n" + jpeg(), "application/pdf")
    assert pdf.status_code == 415 and pdf.json()["error"]["code"] == "unsupported_media_type"
    gif_type = await upload(client, resident, report["id"], gif.getvalue(), "image/gif")
    assert gif_type.status_code == 415
    unlabelled = await client.post(f"/api/v1/reports/{report['id']}/photos", content=jpeg(), headers=resident.headers)
    assert unlabelled.status_code == 415

    too_big = await upload(client, resident, report["id"], jpeg() + b"\0" * photos.MAX_UPLOAD_BYTES)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "photo_too_large"
    assert too_big.json()["error"]["details"] == {"max_bytes": 8 * 1024 * 1024}

    # Decompression bombs: refused from the header, before any pixel is decoded.
    for width, height in ((30000, 30000), (7000, 6000)):
        started = time.monotonic()
        bomb = await upload(client, resident, report["id"], png_declaring(width, height), "image/png")
        assert bomb.status_code == 422, (width, height, bomb.text)
        assert bomb.json()["error"]["code"] == "image_too_large"
        assert time.monotonic() - started < 2

    assert await ReportPhoto.all().count() == 0
    assert photo_files(app) == []
    # The connection is still good after all that.
    assert (await upload(client, resident, report["id"], jpeg())).status_code == 201


async def test_a_report_has_at_most_nine_photos(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    pictures = [jpeg(colour=(20 * n, 10, 255 - 20 * n)) for n in range(10)]
    first = []
    for picture in pictures[:9]:
        r = await upload(client, resident, report["id"], picture)
        assert r.status_code == 201, r.text
        first.append(r.json())
    tenth = await upload(client, resident, report["id"], pictures[9])
    assert tenth.status_code == 409
    assert tenth.json()["error"]["code"] == "too_many_photos"
    assert tenth.json()["error"]["details"] == {"limit": 9}
    assert len(photo_files(app)) == 9  # the refused one was not written either
    # Sending one of the nine again (a retry) answers with the stored photo instead.
    retry = await upload(client, resident, report["id"], pictures[8])
    assert retry.status_code == 200 and retry.json() == first[8]
    assert await ReportPhoto.filter(report__public_id=report["id"]).count() == 9


async def test_photos_are_seen_only_by_who_sees_the_report(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    stranger = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    # The grid worker in scope adds a photo (of the work done, say).
    mine = await upload(client, grid, report["id"], jpeg())
    assert mine.status_code == 201, mine.text
    url = mine.json()["url"]
    for outsider in (other_grid, stranger):
        assert (await upload(client, outsider, report["id"], jpeg(colour=(1, 2, 3)))).status_code == 404
        listed = await client.get(f"/api/v1/reports/{report['id']}/photos", headers=outsider.headers)
        assert listed.status_code == 404 and listed.json()["error"]["code"] == "report_not_found"
        got = await client.get(url, headers=outsider.headers)
        assert got.status_code == 404 and got.json()["error"]["code"] == "report_not_found"
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers=resident.headers)).status_code == 200
    # A photo id is only served under its own report.
    other_report = await submit(client, resident, text="另一个问题：路灯不亮")
    crossed = url.replace(report["id"], other_report["id"])
    assert (await client.get(crossed, headers=resident.headers)).status_code == 404
    assert await ReportPhoto.all().count() == 1


async def test_files_are_owner_only_and_stored_once_per_content(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    first_report = await submit(client, resident)
    second_report = await submit(client, resident, text="小区门口垃圾堆积")
    picture = jpeg((800, 600), exif=b"Exif\x00\x00" + Image.Exif().tobytes())

    a = await upload(client, resident, first_report["id"], picture)
    b = await upload(client, resident, second_report["id"], picture)
    same = await upload(client, resident, first_report["id"], picture)
    assert a.status_code == 201 and b.status_code == 201 and same.status_code == 200
    assert a.json()["sha256"] == b.json()["sha256"] and a.json()["id"] != b.json()["id"]
    assert same.json()["id"] == a.json()["id"]

    root = app.ctx.settings.var_path / "photos"
    files = photo_files(app)
    digest = a.json()["sha256"]
    assert files == [root / digest[:2] / f"{digest}.jpg"]  # one file; no temporary file left
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700
    served = await client.get(a.json()["url"], headers=resident.headers)
    assert files[0].read_bytes() == served.content


async def test_local_storage_builds_paths_from_digests_only(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "photos")
    digest = await store.put(b"jpeg bytes")
    assert await store.exists(digest)
    assert await store.get(digest) == b"jpeg bytes"
    assert await store.put(b"jpeg bytes") == digest
    with pytest.raises(ValueError):
        store.path_for("../../etc/passwd")
    with pytest.raises(PhotoNotStored):
        await store.get("0" * 64)
    with pytest.raises(PhotoNotStored):
        await store.get("../x")


@pytest.mark.parametrize("mode", ["L", "LA", "P", "PA", "I;16", "CMYK", "1"])
def test_unusual_pixel_formats_become_rgb_jpeg(mode: str) -> None:
    source = Image.new("RGB", (40, 30), (120, 60, 30)).convert(mode if mode != "PA" else "P")
    if mode == "PA":
        source.info["transparency"] = 0
    buf = io.BytesIO()
    source.save(buf, "JPEG" if mode == "CMYK" else "PNG")
    cleaned = photos.clean(buf.getvalue())
    with Image.open(io.BytesIO(cleaned.data)) as out:
        assert out.format == "JPEG" and out.mode == "RGB" and out.size == (40, 30)
