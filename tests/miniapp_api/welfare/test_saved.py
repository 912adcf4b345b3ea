"""Saved profiles and consent over HTTP, and the push: a resident's profile is stored sealed and only they
see or erase it; with consent they are screened again in the background and told only of policies that
newly match, once per policy version; withdrawing consent stops it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.welfare import push, versions
from miniapp_api.welfare.models import WelfareProfile
from notify import templates
from notify.models import Notification, Status
from tests.miniapp_api.ebikes.conftest import user

PROFILE = "/api/v1/me/welfare/profile"
CONSENT = "/api/v1/me/welfare/consent"


def family(wage: int) -> dict[str, Any]:
    return {
        "household": {"receiving": []},
        "members": [
            {"relation": "self", "age": 45, "hukou_city": "深圳", "incomes": {"wage": wage}},
            {"relation": "spouse", "age": 43, "hukou_city": "深圳", "incomes": {}},
            {"relation": "child", "age": 10, "hukou_city": "深圳", "incomes": {}},
        ],
    }


async def matches() -> list[Notification]:
    return list(await Notification.filter(template=push.TEMPLATE).order_by("id"))


async def test_a_saved_profile_is_sealed_and_only_its_owner_sees_or_erases_it(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    other = await user(app, Role.RESIDENT)
    staff = await user(app, Role.ADMIN)
    assert (await client.get(PROFILE, headers=resident.headers)).status_code == 404
    bad = await client.put(PROFILE, json={"profile": {"members": [{"age": -3}]}}, headers=resident.headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"]["fields"][0]["field"] == "profile.members[0].age"
    assert not await WelfareProfile.exists()
    saved = await client.put(PROFILE, json={"profile": family(2400)}, headers=resident.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["profile"] == family(2400) and saved.json()["proactive"] is False
    row = await WelfareProfile.get(account_id=resident.account.id)
    assert row.profile_enc and "2400" not in row.profile_enc and "深圳" not in row.profile_enc
    assert (await client.get(PROFILE, headers=resident.headers)).json()["profile"] == family(2400)
    assert (await client.get(PROFILE, headers=other.headers)).status_code == 404
    assert (await client.get(PROFILE, headers=staff.headers)).status_code == 403
    assert (await client.get(PROFILE)).status_code == 401
    assert (await client.put(CONSENT, json={"proactive": "yes"}, headers=resident.headers)).status_code == 422
    assert (await client.delete(PROFILE, headers=other.headers)).status_code == 204
    assert await WelfareProfile.exists()
    assert (await client.delete(PROFILE, headers=resident.headers)).status_code == 204
    assert (await client.get(PROFILE, headers=resident.headers)).status_code == 404
    assert not await WelfareProfile.exists()


async def new_policy(pack_dir: Path, pid: str) -> None:
    """A policy every Shenzhen household matches, added to the pack."""
    text = (pack_dir / "policies" / "dibao_edge.yaml").read_text(encoding="utf-8")
    lines = [f"id: {pid}", "name: 测试惠民补贴" + pid[-1]]
    body = [ln for ln in text.splitlines() if not ln.startswith(("id:", "name:"))]
    raw = "\n".join(lines + body)
    start, end = raw.index("conditions:"), raw.index("documents:")
    only = 'conditions:\n  - id: hukou\n    label: 深圳户籍\n    test: any_member(hukou_city == "深圳")\n'
    raw = raw[:start] + only + raw[end:]
    (pack_dir / "policies" / f"{pid}.yaml").write_text(raw, encoding="utf-8")


async def test_the_push_tells_only_new_matches_once_per_version_and_stops_without_consent(
    app: Sanic, client: httpx.AsyncClient, pack_dir: Path
) -> None:
    resident = await user(app, Role.RESIDENT, openid="o-welfare-push")
    assert (await client.put(PROFILE, json={"profile": family(9000)}, headers=resident.headers)).status_code == 200
    assert (await push.rescreen_due()).screened == 0  # no consent: nothing screened
    consented = await client.put(CONSENT, json={"proactive": True}, headers=resident.headers)
    assert consented.status_code == 200 and consented.json()["proactive"] is True
    assert (await push.rescreen_due()).screened == 1  # the baseline: nothing told
    assert await matches() == []
    assert (await push.rescreen_due()).screened == 0
    # Income falls: dibao newly matches, told once.
    await client.put(PROFILE, json={"profile": family(2400)}, headers=resident.headers)
    done = await push.rescreen_due()
    assert (done.screened, done.told) == (1, 1)
    [told] = await matches()
    assert told.account_id == resident.account.id and told.idempotency_key.endswith(":dibao:0")
    template = templates.get(push.TEMPLATE)
    assert templates.wechat_page(template, {"policy_id": "dibao"}) == "pages/welfare/guide?policy=dibao"
    # Up and down again: the same policy version is never told twice.
    await client.put(PROFILE, json={"profile": family(9000)}, headers=resident.headers)
    await push.rescreen_due()
    await client.put(PROFILE, json={"profile": family(2400)}, headers=resident.headers)
    assert (await push.rescreen_due()).told == 0
    # A new pack version: the policies the person already had are not told again; the new one is.
    await new_policy(pack_dir, "test_aid_a")
    loaded = await versions.load(pack_dir, loaded_by="test")
    assert loaded.version == 1 and "test_aid_a" in loaded.changed
    done = await push.rescreen_due()
    assert (done.screened, done.told) == (1, 1)
    assert [n.idempotency_key.split(":", 2)[2] for n in await matches()] == ["dibao:0", "test_aid_a:1"]
    assert (await push.rescreen_due()).screened == 0
    # Consent withdrawn: no screening, no message, the last screening forgotten (the two told were sent).
    await Notification.filter(template=push.TEMPLATE).update(status=Status.SENT)
    assert (await client.put(CONSENT, json={"proactive": False}, headers=resident.headers)).status_code == 200
    row = await WelfareProfile.get(account_id=resident.account.id)
    assert row.snapshot_enc is None and row.profile_enc is not None
    await new_policy(pack_dir, "test_aid_b")
    assert (await versions.load(pack_dir, loaded_by="test")).version == 2
    assert (await push.rescreen_due()).screened == 0
    assert len(await matches()) == 2
    # The snapshot is sealed too: nothing of the statuses in clear.
    assert (await client.put(CONSENT, json={"proactive": True}, headers=resident.headers)).status_code == 200
    await push.rescreen_due()
    row = await WelfareProfile.get(account_id=resident.account.id)
    assert row.snapshot_enc and "eligible" not in row.snapshot_enc and "dibao" not in row.snapshot_enc
    assert len(await matches()) == 2  # consent again: a new baseline, nothing told
    # Erasing the profile erases the consent and the snapshot.
    assert (await client.delete(PROFILE, headers=resident.headers)).status_code == 204
    assert not await WelfareProfile.exists()


async def test_saves_and_consents_at_the_same_time_never_fail(app: Sanic, client: httpx.AsyncClient) -> None:
    import asyncio

    resident = await user(app, Role.RESIDENT)
    answers = await asyncio.gather(
        *(client.put(PROFILE, json={"profile": family(1000 + i)}, headers=resident.headers) for i in range(4)),
        *(client.put(CONSENT, json={"proactive": True}, headers=resident.headers) for _ in range(4)),
    )
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers if a.status_code != 200]
    assert await WelfareProfile.filter(account_id=resident.account.id).count() == 1
    mine = (await client.get(PROFILE, headers=resident.headers)).json()
    assert mine["proactive"] is True and mine["profile"] in [family(1000 + i) for i in range(4)]


async def test_one_unreadable_profile_does_not_stop_the_others(app: Sanic, client: httpx.AsyncClient) -> None:
    broken = await user(app, Role.RESIDENT, openid="o-welfare-broken")
    fine = await user(app, Role.RESIDENT, openid="o-welfare-fine")
    for who in (broken, fine):
        await client.put(PROFILE, json={"profile": family(9000)}, headers=who.headers)
        await client.put(CONSENT, json={"proactive": True}, headers=who.headers)
    assert (await push.rescreen_due()).screened == 2
    await WelfareProfile.filter(account_id=broken.account.id).update(profile_enc="not a sealed value", due=True)
    await client.put(PROFILE, json={"profile": family(2400)}, headers=fine.headers)
    done = await push.rescreen_due()
    assert (done.screened, done.told, done.failed) == (1, 1, 1)
    assert [n.account_id for n in await matches()] == [fine.account.id]


async def test_consent_before_any_profile_still_makes_the_first_screening_the_baseline(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT, openid="o-welfare-first")
    consented = await client.put(CONSENT, json={"proactive": True}, headers=resident.headers)
    assert consented.status_code == 200 and consented.json()["profile"] is None
    await push.rescreen_due()
    await client.put(PROFILE, json={"profile": family(2400)}, headers=resident.headers)
    assert (await push.rescreen_due()).screened == 1
    assert await matches() == []  # what matches at the first screening was seen in the app, not news
    await client.put(PROFILE, json={"profile": family(9000)}, headers=resident.headers)
    await push.rescreen_due()
    await client.put(PROFILE, json={"profile": family(2400)}, headers=resident.headers)
    await push.rescreen_due()
    assert [n.idempotency_key.rsplit(":", 2)[1] for n in await matches()] == ["dibao"]


async def test_a_disabled_account_is_told_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    from identity.models import Account

    resident = await user(app, Role.RESIDENT, openid="o-welfare-disabled")
    await client.put(PROFILE, json={"profile": family(9000)}, headers=resident.headers)
    await client.put(CONSENT, json={"proactive": True}, headers=resident.headers)
    await push.rescreen_due()
    await client.put(PROFILE, json={"profile": family(2400)}, headers=resident.headers)
    await Account.filter(id=resident.account.id).update(is_active=False)
    assert (await push.rescreen_due()).told == 0
    assert await matches() == []
