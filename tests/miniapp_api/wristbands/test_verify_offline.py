"""The offline reference checker decides as the server does: for every rule, engine.decide over the
person's facts (the online answer) equals the decision from the verified bundle; ``gmid checkins
verify-offline`` exits 0 pass, 1 stop, 2 for a bundle it cannot trust."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.wristbands import engine, facts, offline, stoplist
from miniapp_api.wristbands.models import BandState, CheckinRuleSet, Wristband
from server.cli import build_parser
from server.settings import Settings
from tests.factories import make_account
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.wristbands import seed
from tests.support.cli import gmid

URL = "/api/v1/checkins/bundle"


async def online(band: Wristband, temperature: float, at: dt.datetime) -> engine.Verdict:
    """What POST /api/v1/checkins decides: engine.decide over the facts read from the database."""
    rules = await facts.rules_at(at)
    valid = band.state == BandState.ACTIVE.value and band.account_id is not None
    windows = await facts.person_windows(band.account_id, rules=rules) if valid and band.account_id else []
    return engine.decide(at=at, temperature=temperature, band_valid=valid, windows=windows, rules=rules)


async def scenario() -> dict[str, Wristband]:
    """One band per rule (and its opposite), the feed brought up to date as the writers would."""
    at = seed.now()
    await CheckinRuleSet.create(
        effective_from=at - dt.timedelta(hours=1),
        fever_celsius=37.0,
        trip_window_days=14,
        stop_statuses=["red"],
        quarantine_stops=True,
        created_at=at,
        created_by="seed",
    )
    await CheckinRuleSet.create(  # later: a lower fever threshold from half an hour on
        effective_from=at + dt.timedelta(minutes=30),
        fever_celsius=36.8,
        trip_window_days=14,
        stop_statuses=["red"],
        quarantine_stops=True,
        created_at=at,
        created_by="seed",
    )
    today = dt.datetime.now(engine.CHINA).date()
    await seed.key_area("420100", today - dt.timedelta(days=20), None)
    bands: dict[str, Wristband] = {}

    async def wearer(name: str) -> Any:
        account = await make_account(Role.RESIDENT)
        bands[name] = (await seed.band(wearer=account))[0]
        return account

    await wearer("nothing")
    await seed.status(await wearer("red"), "red")
    await seed.status(await wearer("yellow"), "yellow")  # the rules in force stop only red
    await seed.quarantine(await wearer("quarantine"), starts=at - dt.timedelta(days=1), ends=at + dt.timedelta(days=5))
    lifted = await seed.quarantine(
        await wearer("lifted"), starts=at - dt.timedelta(days=1), ends=at + dt.timedelta(days=5)
    )
    lifted.lifted_at, lifted.lifted_by = at - dt.timedelta(minutes=5), "seed"
    await lifted.save()
    await seed.trip(await wearer("key_trip"), "420106", today - dt.timedelta(days=4), today - dt.timedelta(days=2))
    await seed.trip(await wearer("other_trip"), "310101", today - dt.timedelta(days=4), today - dt.timedelta(days=2))
    bands["revoked"] = (await seed.band(wearer=await make_account(Role.RESIDENT), revoked=True))[0]
    bands["stock"] = (await seed.band())[0]
    for band in bands.values():
        await band.refresh_from_db()
        await stoplist.band_changed(band.id)
    return bands


async def fetch_bundle(app: Sanic, client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    admin = await user(app, Role.ADMIN)
    r = await client.get(URL, headers=admin.headers)
    assert r.status_code == 200, r.text
    return r.text, (await client.get("/.well-known/jwks.json")).json()


async def test_offline_and_online_agree_for_every_rule(app: Sanic, client: httpx.AsyncClient) -> None:
    bands = await scenario()
    token, jwks = await fetch_bundle(app, client)
    now = seed.now()
    payload = offline.verify(token, jwks, at=now)
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for at in (now, now + dt.timedelta(hours=1)):  # the later rule set too (36.8 °C)
        for name, band in bands.items():
            for temperature in (36.5, 36.9, 37.0, 37.3, 39.0):
                mine = offline.decide(payload, ble_id=band.ble_id.lower(), temperature=temperature, at=at)
                theirs = await online(band, temperature, at)
                assert mine == theirs, (name, temperature, at)
                seen.add((name, tuple(r.value for r in mine.reasons)))
    assert ("nothing", ()) in seen and ("yellow", ()) in seen and ("other_trip", ()) in seen
    assert ("lifted", ()) in seen
    assert ("red", ("health_check_needed",)) in seen and ("quarantine", ("health_check_needed",)) in seen
    assert ("key_trip", ("health_check_needed",)) in seen and ("nothing", ("temperature",)) in seen
    assert ("revoked", ("band_invalid",)) in seen and ("stock", ("band_invalid",)) in seen
    assert ("red", ("temperature", "health_check_needed")) in seen


async def test_the_command_exits_0_pass_1_stop_2_bad_bundle(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    bands = await scenario()
    token, jwks = await fetch_bundle(app, client)
    (tmp_path / "bundle.jws").write_text(token)
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    files = [str(tmp_path / "bundle.jws"), "--jwks", str(tmp_path / "jwks.json")]

    async def check(*args: str, bundle: str | None = None) -> tuple[int, str]:
        """The command's own function in this process (the subprocess calls below prove the exit codes)."""
        parsed = build_parser().parse_args(["checkins", "verify-offline", bundle or files[0], *args, *files[1:]])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = parsed.func(parsed, settings)
        return code, out.getvalue().strip()

    # As an operator runs it: the exit status says pass (0) or stop (1).
    code, out, err = await gmid(
        settings, "checkins", "verify-offline", files[0], bands["nothing"].ble_id, "36.6", *files[1:]
    )
    assert (code, out.strip()) == (0, "pass"), err
    code, out, err = await gmid(
        settings, "checkins", "verify-offline", files[0], bands["red"].ble_id, "36.6", *files[1:]
    )
    assert (code, out.strip()) == (1, "stop: health_check_needed"), err
    assert await check(bands["nothing"].ble_id, "36.6") == (0, "pass")
    assert await check(bands["nothing"].ble_id, "37.1") == (1, "stop: temperature")
    assert await check(bands["revoked"].ble_id, "38") == (1, "stop: band_invalid, temperature")
    # The local QR keys instead of a JWKS file.
    code, out, err = await gmid(settings, "checkins", "verify-offline", files[0], bands["quarantine"].ble_id, "36.5")
    assert (code, out.strip()) == (1, "stop: health_check_needed"), err

    # Expired at the check-in's time, tampered, another kind of signed document, no JWS at all.
    later = (seed.now() + dt.timedelta(days=2)).isoformat()
    code, out = await check(bands["nothing"].ble_id, "36.6", "--at", later)
    assert code == 2 and out.startswith("BAD BUNDLE: expired")
    head, body, sig = token.split(".")
    (tmp_path / "tampered.jws").write_text(f"{head}.{body[:-2]}{'AA' if body[-2:] != 'AA' else 'BB'}.{sig}")
    code, out = await check(bands["red"].ble_id, "36.6", bundle=str(tmp_path / "tampered.jws"))
    assert code == 2 and out.startswith("BAD BUNDLE")
    (tmp_path / "feed.jws").write_text((await client.get("/api/v1/qr/revocations")).text)
    code, out = await check(bands["red"].ble_id, "36.6", bundle=str(tmp_path / "feed.jws"))
    assert code == 2 and "not a check-in bundle" in out
    (tmp_path / "junk.jws").write_text("junk")
    code, out = await check(bands["red"].ble_id, "36.6", bundle=str(tmp_path / "junk.jws"))
    assert code == 2 and out.startswith("BAD BUNDLE")
    code, out = await check("not-a-ble-id", "36.6")
    assert code == 2 and "not-a-ble-id" not in out


async def test_a_new_epoch_changes_the_salt_and_old_bundles_still_decide(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    bands = await scenario()
    token, jwks = await fetch_bundle(app, client)
    code, out, err = await gmid(settings, "checkins", "new-epoch")
    assert (code, out.strip()) == (0, "bundle epoch 2: checkpoint apps fetch the whole list at their next sync"), err
    renewed, _ = await fetch_bundle(app, client)
    old, new = offline.verify(token, jwks, at=seed.now()), offline.verify(renewed, jwks, at=seed.now())
    assert (new["epoch"], new["reset"]) == (2, False) and new["salt"] != old["salt"]
    for payload in (old, new):
        verdict = offline.decide(payload, ble_id=bands["red"].ble_id, temperature=36.5, at=seed.now())
        assert verdict.reasons == (engine.Reason.HEALTH_CHECK_NEEDED,)
