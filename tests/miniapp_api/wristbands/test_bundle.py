"""GET /api/v1/checkins/bundle over real HTTP: signed (checked with joserfc against the published JWKS),
incremental, compacted, only for checkpoint staff and administrators, and naming nobody."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import warnings
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError, SecurityWarning
from joserfc.jwk import KeySet
from sanic import Sanic

from identity.roles import Role
from miniapp_api.wristbands import engine, stoplist
from miniapp_api.wristbands.models import (
    Checkpoint,
    HealthStatus,
    KeyArea,
    QuarantineOrder,
    StopEntry,
    Wristband,
)
from tests.factories import make_account
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.wristbands import seed

URL = "/api/v1/checkins/bundle"


async def gate_staff(app: Sanic) -> User:
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    await seed.checkpoint(staff=[staff.account])
    return staff


async def fetch(client: httpx.AsyncClient, who: User, **params: Any) -> dict[str, Any]:
    """The bundle, verified by joserfc with the keys of /.well-known/jwks.json."""
    r = await client.get(URL, params=params, headers=who.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/jose")
    keys = KeySet.import_key_set((await client.get("/.well-known/jwks.json")).json())
    with warnings.catch_warnings():
        # joserfc 1.8 flags the polymorphic "EdDSA" name (RFC 9864 prefers "Ed25519"); still verified.
        warnings.simplefilter("ignore", SecurityWarning)
        signed = jws.deserialize_compact(r.text, keys, algorithms=["EdDSA"])
        header, body, signature = r.text.split(".")
        forged = f"{header}.{body[:-4]}{'AAAA' if body[-4:] != 'AAAA' else 'BBBB'}.{signature}"
        with pytest.raises(BadSignatureError):
            jws.deserialize_compact(forged, keys, algorithms=["EdDSA"])
    assert signed.protected["typ"] == "gmid-checkin-bundle+jwt"
    assert signed.protected["kid"] in {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    payload: dict[str, Any] = json.loads(signed.payload)
    assert payload["exp"] > payload["iat"] >= int(dt.datetime.now(dt.UTC).timestamp()) - 60
    return payload


def h(payload: dict[str, Any], band: Wristband) -> str:
    return hashlib.sha256(bytes.fromhex(payload["salt"]) + band.ble_id.encode()).hexdigest()[:32]


def of(payload: dict[str, Any], band: Wristband) -> list[list[dict[str, Any]]]:
    return [e["w"] for e in payload["entries"] if e["h"] == h(payload, band)]


async def test_each_stop_appears_and_its_lift_follows_as_an_empty_entry(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = await gate_staff(app)
    people = [await user(app, Role.RESIDENT, phone=f"1391234{i:04d}") for i in range(4)]
    revoked, _ = await seed.band(wearer=people[0].account, revoked=True)  # lost, then a new one bound
    bands = [(await seed.band(wearer=p.account))[0] for p in people]
    red = await seed.status(people[1].account, "red")
    order = await seed.quarantine(
        people[2].account, starts=seed.now() - dt.timedelta(hours=1), ends=seed.now() + dt.timedelta(days=7)
    )
    today = dt.datetime.now(engine.CHINA).date()
    await seed.trip(people[3].account, "420106", today - dt.timedelta(days=2), today - dt.timedelta(days=1))
    await seed.key_area("420100", today - dt.timedelta(days=20), None)
    await stoplist.band_changed(revoked.id)
    for p in people:
        await stoplist.person_changed(p.account.id)

    full = await fetch(client, staff)
    assert full["full"] is True and full["reset"] is False and full["more"] is False
    assert full["until"] == full["head"] == 4
    assert [r["fever_celsius"] for r in full["rules"]] == [37.3]
    assert of(full, revoked) == [[{"r": "band_invalid", "from": int(revoked.revoked_at.timestamp()), "until": None}]]  # type: ignore[union-attr]
    assert of(full, bands[0]) == []  # the wearer's new band is fine
    assert of(full, bands[1]) == [
        [{"r": "health_check_needed", "from": int(red.set_at.timestamp()), "until": int(red.expires_at.timestamp())}]
    ]
    assert of(full, bands[2])[0][0]["until"] == int(order.ends_at.timestamp())
    assert of(full, bands[3])[0][0]["r"] == "health_check_needed"
    assert {tuple(sorted(e)) for e in full["entries"]} == {("h", "n", "w")}

    # Nobody is named: no name, phone, account id, band id or BLE id in clear.
    text = json.dumps(full)
    for p in people:
        assert p.account.public_id not in text
    assert "1391234" not in text
    for band in [*bands, revoked]:
        assert band.public_id not in text
        assert band.ble_id not in text and band.ble_id.lower() not in text
    assert set(full) == {
        "iss", "iat", "exp", "epoch", "salt", "head", "full", "reset", "since", "until", "more", "rules", "entries",
    }  # fmt: skip

    # Lifted: the status turns green, the order is lifted. The increment says so with empty entries.
    await HealthStatus.filter(id=red.id).delete()
    await QuarantineOrder.filter(id=order.id).update(lifted_at=seed.now(), lifted_by="seed")
    await stoplist.person_changed(people[1].account.id)
    await stoplist.person_changed(people[2].account.id)
    await KeyArea.all().update(withdrawn_at=seed.now())  # entered by mistake
    await stoplist.sweep()
    finder = await make_account(Role.RESIDENT)  # the lost band turns up and is bound to someone
    await Wristband.filter(id=revoked.id).update(state="active", account_id=finder.id, revoked_at=None)
    await stoplist.band_changed(revoked.id)
    step = await fetch(client, staff, since=full["until"], epoch=full["epoch"])
    assert step["full"] is False and step["since"] == 4 and step["until"] == 8
    assert [e["n"] for e in step["entries"]] == [5, 6, 7, 8]
    for band in (bands[1], bands[2], bands[3], revoked):
        assert of(step, band) == [[]]
    # The whole list leaves them out.
    again = await fetch(client, staff)
    assert again["entries"] == [] and again["until"] == 8


async def test_paging_and_the_since_it_cannot_answer(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = await gate_staff(app)
    revoked = [(await seed.band(revoked=True))[0] for _ in range(3)]
    for band in revoked:
        await stoplist.band_changed(band.id)
    first = await fetch(client, staff, limit=2)
    assert first["more"] is True and first["until"] == 2 and len(first["entries"]) == 2
    rest = await fetch(client, staff, since=first["until"], epoch=first["epoch"], limit=2)
    assert rest["more"] is False and [e["n"] for e in rest["entries"]] == [3]

    # Another epoch, or a counter above the head: the whole list, flagged.
    for params in ({"since": 1, "epoch": first["epoch"] + 1}, {"since": 99, "epoch": first["epoch"]}):
        answer = await fetch(client, staff, **params)
        assert answer["reset"] is True and answer["full"] is True and len(answer["entries"]) == 3
    # Below what compaction kept.
    await StopEntry.filter(counter=1).update(at=seed.now() - dt.timedelta(days=60))
    await Wristband.filter(id=revoked[0].id).update(state="active", revoked_at=None)
    await stoplist.band_changed(revoked[0].id)  # 4: no longer revoked, but nobody wears it either
    from miniapp_api.wristbands import bundle

    await bundle.compact(retention_days=28)  # 1 was superseded by 4
    answer = await fetch(client, staff, since=0, epoch=first["epoch"])
    assert answer["reset"] is False

    # A new epoch: a new salt, every hash changes.
    await bundle.new_epoch()
    renewed = await fetch(client, staff, since=rest["until"], epoch=first["epoch"])
    assert renewed["reset"] is True and renewed["salt"] != first["salt"] and renewed["epoch"] == first["epoch"] + 1
    assert {e["h"] for e in renewed["entries"]}.isdisjoint({e["h"] for e in first["entries"]})


async def test_etag_answers_304_until_something_changes(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = await gate_staff(app)
    r = await client.get(URL, headers=staff.headers)
    etag = r.headers["etag"]
    again = await client.get(URL, headers={**staff.headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    band, _ = await seed.band(revoked=True)
    await stoplist.band_changed(band.id)
    changed = await client.get(URL, headers={**staff.headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_only_checkpoint_staff_and_administrators_fetch_it(app: Sanic, client: httpx.AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 401
    admin = await user(app, Role.ADMIN)
    assert (await client.get(URL, headers=admin.headers)).status_code == 200
    for role in (Role.RESIDENT, Role.GRID_STAFF, Role.HEALTH_STAFF, Role.POLICE):
        someone = await user(app, role)
        r = await client.get(URL, headers=someone.headers)
        assert r.status_code == 403, role
        assert r.json()["error"]["code"] == "forbidden"
    # Staff of a checkpoint that was closed fetch no more.
    staff = await gate_staff(app)
    assert (await client.get(URL, headers=staff.headers)).status_code == 200
    await Checkpoint.all().update(active=False)
    assert (await client.get(URL, headers=staff.headers)).status_code == 403


async def test_bad_queries_are_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = await gate_staff(app)
    for params in ({"since": "-1"}, {"since": "x"}, {"limit": "0"}, {"limit": "10001"}, {"epoch": "-2"}, {"nope": "1"}):
        r = await client.get(URL, params=params, headers=staff.headers)
        assert r.status_code == 422, (params, r.text)
        assert set(r.json()) == {"error"}
    assert await make_account(Role.RESIDENT)  # nothing was written by the refusals
    assert await StopEntry.all().count() == 0
