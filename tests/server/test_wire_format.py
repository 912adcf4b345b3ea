"""One wire format for times: every time in every answer is ISO 8601 in UTC with its numeric offset and
microseconds (``2026-12-05T06:30:00.000000+00:00``), whether pydantic or a hand-built answer wrote it."""

from __future__ import annotations

import re
import types
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Union, get_args, get_origin

import httpx
from pydantic import BaseModel
from sanic import Sanic

from identity.roles import Role
from server.openapi import doc_of
from server.wire import wire_time
from tests.factories import auth, make_staff_with_password

WIRE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")
LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def test_wire_time_is_utc_with_offset_and_microseconds() -> None:
    beijing = timezone(timedelta(hours=8))
    assert wire_time(datetime(2026, 12, 5, 14, 30, tzinfo=beijing)) == "2026-12-05T06:30:00.000000+00:00"
    assert wire_time(datetime(2026, 12, 5, 6, 30, 0, 7, tzinfo=UTC)) == "2026-12-05T06:30:00.000007+00:00"
    assert wire_time(datetime(2026, 12, 5, 6, 30)) == "2026-12-05T06:30:00.000000+00:00"  # naive: UTC


def _datetime_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    """Fields (model.field) holding a time that is not written with server.wire's serializer."""
    if model in seen:
        return []
    seen.add(model)
    wrong: list[str] = []
    for name, field in model.model_fields.items():
        annotations = [field.annotation]
        while annotations:
            current = annotations.pop()
            origin = get_origin(current)
            if origin in (Union, types.UnionType, list, dict, tuple):
                annotations.extend(get_args(current))
            elif isinstance(current, type) and issubclass(current, BaseModel):
                wrong += _datetime_fields(current, seen)
            elif current is datetime:
                serializers = [m for m in field.metadata if getattr(m, "func", None) is wire_time]
                if not serializers:
                    wrong.append(f"{model.__name__}.{name}")
    return wrong


def test_every_time_in_every_answer_schema_is_written_on_the_wire_format(app: Sanic) -> None:
    models: set[type[BaseModel]] = set()
    for route in app.router.routes:
        for response in doc_of(route.handler).responses.values():
            if response.model is not None:
                models.add(response.model)
    assert len(models) > 30
    seen: set[type[BaseModel]] = set()
    wrong = sorted({name for model in models for name in _datetime_fields(model, seen)})
    assert not wrong, f"times written without server.wire.WireTime: {wrong}"


def _times(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if LOOKS_LIKE_A_TIME.match(value) else []
    if isinstance(value, dict):
        return [t for v in value.values() for t in _times(v)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v)]
    return []


async def test_answers_over_http_write_every_time_alike(app: Sanic, client: httpx.AsyncClient) -> None:
    """A sign-in's expiry, a bike, its alarm in an officer's scan view (built by hand), a report."""
    await make_staff_with_password("wire.officer", Role.OFFICER, "Wire-format-pass-42")
    login = await client.post(
        "/api/v1/auth/login", json={"username": "wire.officer", "password": "Wire-format-pass-42"}
    )
    assert login.status_code == 200, login.text
    officer = auth(login.json()["access_token"])
    from tests.miniapp_api.ebikes.conftest import register, user

    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner)
    lost = {"lost_at": "2026-11-25T21:30:00+08:00", "location": "光明大街"}
    alarm = await client.post(f"/api/v1/ebikes/{bike['id']}/alarm", json=lost, headers=owner.headers)
    assert alarm.status_code in (200, 201), alarm.text
    scan = await client.post("/api/v1/scan", json={"payload": bike["credential"]["url"]}, headers=officer)
    assert scan.status_code == 200, scan.text
    report = await client.post(
        "/api/v1/reports",
        json={"category": "environment", "text": "垃圾堆了三天", "node": "GM010101"},
        headers=owner.headers,
    )
    assert report.status_code == 201, report.text
    detail = await client.get(f"/api/v1/reports/{report.json()['id']}", headers=owner.headers)
    answers = [login.json(), bike, alarm.json(), scan.json(), detail.json()]
    times = [t for answer in answers for t in _times(answer)]
    assert len(times) >= 8
    assert [t for t in times if not WIRE.match(t)] == []
    assert scan.json()["view"]["alarm"]["lost_at"] == "2026-11-25T13:30:00.000000+00:00"
