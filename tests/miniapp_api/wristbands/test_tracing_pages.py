"""Tracing answers are bounded in cost and paged: a contacts query asks the database a few times
whatever the number of the person's passages, and an answer longer than a page gives a cursor to the
next one (each page a query of its own: audited, spending one lookup)."""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import pytest
from sanic import Sanic

from miniapp_api.wristbands import tracing
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.test_tracing import RANGE, T0, WHY, checkin, entries, error_of, scene, trace

MINUTE = dt.timedelta(minutes=1)


async def test_contacts_ask_a_few_statements_whatever_the_number_of_passages(
    app: Sanic, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    s = await scene(app)
    other_gate = await seed.checkpoint(node="GM010102", name="二号门")
    for n in range(1, 150):  # every 3 minutes for hours, at two gates in turn
        await checkin(other_gate if n % 2 else s.gate, s.band, T0 + n * 3 * MINUTE, stop=False)
    late = await checkin(s.gate, s.contact_band, T0 + 140 * 3 * MINUTE + MINUTE, stop=False)  # near passage 140
    caplog.set_level(logging.DEBUG, logger="tortoise.db_client")
    r = await trace(client, s.health, "contacts", person=s.subject.account.public_id, minutes=2, **RANGE, **WHY)
    assert r.status_code == 200, r.text
    statements = [m for m in caplog.messages if 'FROM "checkin"' in m and m.lstrip().upper().startswith("SELECT")]
    assert len(statements) <= 6, len(statements)
    # Within 2 minutes of a passage at the same gate: the contact's passage at 10 minutes (the subject
    # passed the gate at 12) and the late one, found in the third batch of windows.
    items = r.json()["items"]
    assert [i["account"] for i in items] == [s.contact.account.public_id] * 2
    assert [dt.datetime.fromisoformat(i["at"]) for i in items] == [T0 + 10 * MINUTE, late.at]


async def test_long_answers_come_in_pages(
    app: Sanic, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await scene(app)
    monkeypatch.setattr(tracing, "MAX_ROWS", 3)
    for n in range(1, 6):  # the contact passes five more times, two of them at the same instant
        await checkin(s.gate, s.contact_band, T0 + min(n, 4) * MINUTE, stop=False)
    bodies = {
        "checkpoint": {"checkpoint": s.gate.public_id},
        "band": {"band": s.contact_band.public_id},
        "contacts": {"person": s.subject.account.public_id, "minutes": 15},
    }
    for kind, body in bodies.items():
        whole: list[tuple[str, str]] = []
        cursor: str | None = None
        pages = 0
        while True:
            extra = {"cursor": cursor} if cursor else {}
            r = await trace(client, s.police, kind, **body, **extra, **RANGE, **WHY)
            assert r.status_code == 200, r.text
            answer = r.json()
            assert len(answer["items"]) <= 3
            whole += [(i["account"], i["at"]) for i in answer["items"]]
            pages += 1
            cursor = answer["next_cursor"]
            assert (cursor is not None) == answer["truncated"]
            if cursor is None:
                break
        assert whole == sorted(whole, key=lambda item: item[1])
        assert pages >= 2, kind
        # Nothing twice, nothing skipped.
        assert len(whole) == {"checkpoint": 8, "band": 6, "contacts": 6}[kind], (kind, whole)
    # A cursor that is not one: 422, audited, nothing shown.
    for bad in ("x", "1.2.3", "-1.5", "9" * 40):
        r = await trace(client, s.police, "checkpoint", checkpoint=s.gate.public_id, cursor=bad, **RANGE, **WHY)
        assert r.status_code == 422 and error_of(r)["code"] in ("bad_cursor", "validation_failed"), r.text
    assert (await entries())[-1].details["outcome"] == "invalid_query"
