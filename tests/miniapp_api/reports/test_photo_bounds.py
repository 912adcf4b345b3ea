"""The work one photo upload may cost is bounded: hostile pictures are refused from their header,
decoding runs in a small bounded pool (503 with Retry-After when it is full), and each account has
an upload budget (429 with Retry-After). Normal photos still go through."""

from __future__ import annotations

import asyncio
import io
import threading
from typing import Any

import httpx
import pytest
from PIL import Image
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports import photos
from miniapp_api.reports.photo_models import ReportPhoto
from miniapp_api.reports.photo_routes import pool_of
from server.settings import Settings
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.reports.test_closed_loop import submit
from tests.miniapp_api.reports.test_photos import jpeg, photo_files, png_declaring, upload
from tests.server.test_errors import assert_error
from tests.support.notify_fixtures import app_with_channels


@pytest.fixture
def app(notify_settings: Settings, request: pytest.FixtureRequest) -> Sanic:
    changes: dict[str, Any] = getattr(request, "param", {})
    return app_with_channels(notify_settings.replace(**changes))


def _encoded(size: tuple[int, int], kind: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 90, 90)).save(buf, kind)
    return buf.getvalue()


async def test_hostile_pictures_are_refused_from_their_header(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    hostile: list[tuple[bytes, str, str]] = [
        # The outside test's picture: 1 x 40,000,000 is within the pixel count, and costs seconds.
        (png_declaring(1, 40_000_000), "image/png", "image_too_large"),
        (png_declaring(40_000_000, 1), "image/png", "image_too_large"),
        (png_declaring(8001, 4000), "image/png", "image_too_large"),  # a side too long
        (png_declaring(8000, 5001), "image/png", "image_too_large"),  # too many pixels
        (png_declaring(100, 2001), "image/png", "image_too_narrow"),  # longer than 20:1
        (png_declaring(4001, 200), "image/png", "image_too_narrow"),
        # Real, decodable files of the same shapes, small on the wire.
        (_encoded((1, 60_000), "JPEG"), "image/jpeg", "image_too_large"),
        (_encoded((3, 7_000), "PNG"), "image/png", "image_too_narrow"),
        (_encoded((16_000, 4), "WEBP"), "image/webp", "image_too_large"),
    ]
    for data, media, code in hostile:
        r = await upload(client, resident, report["id"], data, media)
        assert_error(r, 422, code)
    assert await ReportPhoto.all().count() == 0
    assert photo_files(app) == []
    # Pictures of ordinary shapes, up to the bounds, still go through.
    for data, media in ((jpeg((4000, 3000)), "image/jpeg"), (_encoded((2000, 100), "PNG"), "image/png")):
        r = await upload(client, resident, report["id"], data, media)
        assert r.status_code == 201, r.text
    assert max(r.json()["width"], r.json()["height"]) <= photos.MAX_SIDE


def test_declared_sizes_at_the_bounds() -> None:
    photos.check_declared_size(photos.MAX_DECLARED_SIDE, photos.MAX_PIXELS // photos.MAX_DECLARED_SIDE)
    photos.check_declared_size(photos.MAX_ASPECT * 100, 100)
    for width, height in ((0, 10), (10, 0), (photos.MAX_DECLARED_SIDE + 1, 1000), (photos.MAX_ASPECT * 100 + 1, 100)):
        with pytest.raises(photos.NotAnImage):
            photos.check_declared_size(width, height)


@pytest.mark.parametrize("app", [{"photo_upload_limits": "3/hour,5/day"}], indirect=True)
async def test_each_account_has_an_upload_budget(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    for n in range(3):
        r = await upload(client, resident, report["id"], jpeg(colour=(n * 40, 10, 10)))
        assert r.status_code == 201, r.text
    refused = await upload(client, resident, report["id"], jpeg(colour=(250, 250, 10)))
    error = assert_error(refused, 429, "photo_upload_limit")
    assert error["details"]["limit"] == "3/hour"
    assert int(refused.headers["retry-after"]) > 3000
    assert await ReportPhoto.all().count() == 3
    # Another account's budget is its own.
    other = await user(app, Role.RESIDENT)
    own = await submit(client, other)
    assert (await upload(client, other, own["id"], jpeg())).status_code == 201


@pytest.mark.parametrize("app", [{"photo_decode_workers": 1, "photo_decode_queue": 0}], indirect=True)
async def test_a_full_decoding_pool_answers_503_with_retry_after(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    pool = pool_of(app)
    release = threading.Event()
    # Another upload is being decoded: the pool's one thread is taken.
    task = asyncio.ensure_future(pool.run(release.wait, 30))
    await asyncio.sleep(0)  # the task starts and takes its place in the pool
    assert pool.pending == 1
    try:
        refused = await upload(client, resident, report["id"], jpeg())
        error = assert_error(refused, 503, "photo_busy")
        assert refused.headers["retry-after"] == "5" and error["details"]["retry_after"] == 5
        assert await ReportPhoto.all().count() == 0
    finally:
        release.set()
        await task
    assert (await upload(client, resident, report["id"], jpeg())).status_code == 201
