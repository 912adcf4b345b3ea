"""``Idempotency-Key`` on the photo upload, whose body is streamed: the picture itself is part of what
the key stands for. Another picture with the same key is refused (422 ``idempotency_key_reused``), the
same picture with the same key gets the first answer again, and a retried upload never adds a copy."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports import photos
from miniapp_api.reports.photo_models import ReportPhoto
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.reports.test_closed_loop import REPORT, submit
from tests.miniapp_api.reports.test_photos import jpeg, photo_files, png_declaring
from tests.server.test_idempotency import previous_fingerprint, rewrite_as_previous_version

NOT_AN_IMAGE = "这不是图片，只是文字".encode() * 50


async def upload(
    client: httpx.AsyncClient, who: User, report_id: str, data: bytes, key: str, media: str = "image/jpeg"
) -> httpx.Response:
    headers = {**who.headers, "Content-Type": media, "Idempotency-Key": key}
    return await client.post(f"/api/v1/reports/{report_id}/photos", content=data, headers=headers)


def error_code(r: httpx.Response) -> str:
    code: str = r.json()["error"]["code"]
    return code


async def stored(report_id: str) -> int:
    return await ReportPhoto.filter(report__public_id=report_id).count()


async def test_a_refused_picture_does_not_answer_for_another_one_with_the_same_key(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)

    first = await upload(client, resident, report["id"], NOT_AN_IMAGE, "ph-1")
    assert first.status_code == 422 and error_code(first) == "not_an_image"

    # A real picture with the same key is another request: refused as such, not answered with the
    # old refusal, and nothing is stored.
    other = await upload(client, resident, report["id"], jpeg(), "ph-1")
    assert other.status_code == 422, other.text
    assert error_code(other) == "idempotency_key_reused"
    assert "idempotent-replayed" not in other.headers
    assert await stored(report["id"]) == 0

    # The same bytes with the same key replay the first answer.
    again = await upload(client, resident, report["id"], NOT_AN_IMAGE, "ph-1")
    assert again.status_code == 422 and error_code(again) == "not_an_image"
    assert again.headers["idempotent-replayed"] == "true"

    # With a new key the picture is looked at, and stored.
    fresh = await upload(client, resident, report["id"], jpeg(), "ph-2")
    assert fresh.status_code == 201, fresh.text
    assert await stored(report["id"]) == 1


@pytest.mark.parametrize(
    ("data", "media", "status", "code"),
    [
        (png_declaring(30000, 30000), "image/png", 422, "image_too_large"),
        (png_declaring(4000, 100), "image/png", 422, "image_too_narrow"),
        (b"%PDF-1.7\n" + jpeg(), "application/pdf", 415, "unsupported_media_type"),
        (b"", "image/jpeg", 422, "not_an_image"),
    ],
    ids=["too-large", "too-narrow", "pdf", "empty"],
)
async def test_no_refusal_is_replayed_for_another_body(
    app: Sanic, client: httpx.AsyncClient, data: bytes, media: str, status: int, code: str
) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    first = await upload(client, resident, report["id"], data, "ph-refused", media)
    assert (first.status_code, error_code(first)) == (status, code), first.text
    other = await upload(client, resident, report["id"], jpeg(), "ph-refused")
    assert (other.status_code, error_code(other)) == (422, "idempotency_key_reused"), other.text
    assert await stored(report["id"]) == 0


async def test_the_media_type_is_part_of_the_request(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    picture = jpeg()
    unlabelled = await upload(client, resident, report["id"], picture, "ph-type", "text/plain")
    assert unlabelled.status_code == 415
    # The same bytes, now labelled: not the old 415 replayed.
    labelled = await upload(client, resident, report["id"], picture, "ph-type", "image/jpeg")
    assert (labelled.status_code, error_code(labelled)) == (422, "idempotency_key_reused"), labelled.text
    assert await stored(report["id"]) == 0
    # A charset parameter or the spelling of the type changes nothing.
    same = await upload(client, resident, report["id"], picture, "ph-type", "Text/Plain; charset=utf-8")
    assert same.status_code == 415 and same.headers["idempotent-replayed"] == "true"


async def test_a_full_report_does_not_refuse_another_report_or_picture_with_the_key(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    for n in range(9):
        assert (
            await upload(client, resident, report["id"], jpeg(colour=(20 * n, 9, 9)), f"fill-{n}")
        ).status_code == 201
    tenth = await upload(client, resident, report["id"], jpeg(colour=(1, 200, 1)), "ph-full")
    assert (tenth.status_code, error_code(tenth)) == (409, "too_many_photos")
    other = await upload(client, resident, report["id"], jpeg(colour=(1, 1, 200)), "ph-full")
    assert (other.status_code, error_code(other)) == (422, "idempotency_key_reused")
    # The same key on another report's upload is another request too.
    second = await submit(client, resident)
    there = await upload(client, resident, second["id"], jpeg(colour=(1, 200, 1)), "ph-full")
    assert (there.status_code, error_code(there)) == (422, "idempotency_key_reused")
    assert await stored(report["id"]) == 9 and await stored(second["id"]) == 0


async def test_a_retried_upload_gets_the_first_answer_and_adds_no_copy(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    picture = jpeg((640, 480))

    first = await upload(client, resident, report["id"], picture, "flaky-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    # The answer was lost on the way; the app sends the same bytes with the same key.
    retry = await upload(client, resident, report["id"], picture, "flaky-1")
    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"] == first.json()["url"]
    assert await stored(report["id"]) == 1
    assert len(photo_files(app)) == 1

    # Another picture with that key is refused, and does not touch the stored one.
    other = await upload(client, resident, report["id"], jpeg((640, 480), colour=(9, 9, 200)), "flaky-1")
    assert (other.status_code, error_code(other)) == (422, "idempotency_key_reused")
    listed = await client.get(f"/api/v1/reports/{report['id']}/photos", headers=resident.headers)
    assert [p["id"] for p in listed.json()["items"]] == [first.json()["id"]]


async def test_retries_at_once_store_the_photo_once(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    picture = jpeg((1200, 900))
    answers = await asyncio.gather(*(upload(client, resident, report["id"], picture, "race-ph") for _ in range(3)))
    fresh = [r for r in answers if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1, [(r.status_code, r.text) for r in answers]
    for r in answers:
        if r is fresh[0]:
            continue
        if r.status_code == 201:
            assert r.headers["idempotent-replayed"] == "true" and r.json() == fresh[0].json()
        else:
            assert (r.status_code, error_code(r)) == (409, "idempotency_in_progress"), r.text
    assert await stored(report["id"]) == 1
    late = await upload(client, resident, report["id"], picture, "race-ph")
    assert late.status_code == 201 and late.json() == fresh[0].json()


async def test_a_refusal_before_the_body_is_read_is_not_kept(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    too_big = await upload(client, resident, report["id"], jpeg() + b"\0" * photos.MAX_UPLOAD_BYTES, "ph-big")
    assert (too_big.status_code, error_code(too_big)) == (413, "photo_too_large")
    # Nothing was kept for the key: the picture that fits is looked at and stored.
    ok = await upload(client, resident, report["id"], jpeg(), "ph-big")
    assert ok.status_code == 201, ok.text
    assert "idempotent-replayed" not in ok.headers


async def test_a_key_used_on_another_route_is_refused_on_the_upload_and_back(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    headers = {**resident.headers, "Idempotency-Key": "shared-1"}
    made = await client.post("/api/v1/reports", json=REPORT, headers=headers)
    assert made.status_code == 201, made.text
    report_id = made.json()["id"]
    on_upload = await upload(client, resident, report_id, jpeg(), "shared-1")
    assert (on_upload.status_code, error_code(on_upload)) == (422, "idempotency_key_reused"), on_upload.text
    assert await stored(report_id) == 0

    stored_first = await upload(client, resident, report_id, jpeg(), "shared-2")
    assert stored_first.status_code == 201
    headers = {**resident.headers, "Idempotency-Key": "shared-2"}
    on_json = await client.post("/api/v1/reports", json=REPORT, headers=headers)
    assert (on_json.status_code, error_code(on_json)) == (422, "idempotency_key_reused"), on_json.text


async def test_keys_of_other_accounts_never_answer(app: Sanic, client: httpx.AsyncClient) -> None:
    alice = await user(app, Role.RESIDENT)
    bob = await user(app, Role.RESIDENT)
    hers = await submit(client, alice)
    his = await submit(client, bob)

    refused = await upload(client, alice, hers["id"], NOT_AN_IMAGE, "same-key")
    assert error_code(refused) == "not_an_image"
    # Bob sends Alice's very request (her report, her bytes, her key): his own answer, never hers.
    peek = await upload(client, bob, hers["id"], NOT_AN_IMAGE, "same-key")
    assert (peek.status_code, error_code(peek)) == (404, "report_not_found"), peek.text
    assert "idempotent-replayed" not in peek.headers
    # Alice's key does not bind Bob's uploads either.
    mine = await upload(client, bob, his["id"], jpeg(), "alice-key")
    assert mine.status_code == 201, mine.text
    hers_too = await upload(client, alice, hers["id"], jpeg(), "alice-key")
    assert hers_too.status_code == 201, hers_too.text
    assert "idempotent-replayed" not in hers_too.headers
    assert hers_too.json()["id"] != mine.json()["id"]


async def test_a_refusal_kept_by_the_previous_version_does_not_answer_for_a_picture(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    before = {k async for k in app.ctx.redis.scan_iter(match="idem:*")}
    refused = await upload(client, resident, report["id"], NOT_AN_IMAGE, "upgrade-ph")
    assert error_code(refused) == "not_an_image"
    # The previous version kept it under the route alone: its streamed body was never in the fingerprint.
    path = f"/api/v1/reports/{report['id']}/photos"
    await rewrite_as_previous_version(app, before, previous_fingerprint("POST", path, b""))
    ok = await upload(client, resident, report["id"], jpeg(), "upgrade-ph")
    assert ok.status_code == 201, ok.text
    assert "idempotent-replayed" not in ok.headers
    assert await stored(report["id"]) == 1
    # From then on the key stands for that picture.
    again = await upload(client, resident, report["id"], jpeg(), "upgrade-ph")
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"


def test_the_upload_is_the_only_streamed_route(app: Sanic) -> None:
    # A streamed route's Idempotency-Key is only honoured once its handler has read the body and
    # called server.idempotency.claim_body (until then nothing is kept, so nothing is replayed for
    # another body). A new streamed route must do the same, with tests like the ones above.
    streamed = sorted(route.name for route in app.router.routes if getattr(route.extra, "stream", False))
    assert streamed == [f"{app.name}.report_photos.upload"]
