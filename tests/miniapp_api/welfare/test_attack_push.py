"""The push as an attacker (or bad luck) would try it: a policy withdrawn and brought back with the content the
resident was already told of, and accounts that are no longer residents' (staff, disabled) keeping a saved
profile with consent."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from identity.models import Account
from identity.roles import Role
from miniapp_api.welfare import pack, push, versions
from miniapp_api.welfare.models import WelfareProfile
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.welfare.test_saved import CONSENT, PROFILE, family, matches


async def told_keys() -> list[str]:
    return [n.idempotency_key.split(":", 2)[2] for n in await matches()]


async def test_a_policy_withdrawn_and_brought_back_unchanged_is_not_told_again(
    app: Sanic, client: httpx.AsyncClient, pack_dir: Path
) -> None:
    resident = await user(app, Role.RESIDENT, openid="o-welfare-back")
    await client.put(PROFILE, json={"profile": family(9000)}, headers=resident.headers)
    await client.put(CONSENT, json={"proactive": True}, headers=resident.headers)
    await push.rescreen_due()
    await client.put(PROFILE, json={"profile": family(2400)}, headers=resident.headers)
    assert (await push.rescreen_due()).told == 1
    assert await told_keys() == ["dibao:0"]  # told with the shipped pack
    from notify.models import Notification, Status

    await Notification.filter(template=push.TEMPLATE).update(status=Status.SENT)  # (one waiting would be dropped)
    # Withdrawn (with the policy that names it) ...
    for name in ("dibao.yaml", "dibao_edge.yaml"):
        (pack_dir / "policies" / name).unlink()
    assert (await versions.load(pack_dir, loaded_by="test")).version == 1
    assert (await push.rescreen_due()).told == 0
    # ... and brought back word for word: the same policy as the one told, not news.
    for name in ("dibao.yaml", "dibao_edge.yaml"):
        shutil.copy(pack.SHIPPED / "policies" / name, pack_dir / "policies" / name)
    loaded = await versions.load(pack_dir, loaded_by="test")
    assert loaded.version == 2 and "dibao" in loaded.changed
    done = await push.rescreen_due()
    assert (done.screened, done.told) == (1, 0)
    # Out of it and back into it under the reloaded version: still the content already told.
    await client.put(PROFILE, json={"profile": family(9000)}, headers=resident.headers)
    await push.rescreen_due()
    await client.put(PROFILE, json={"profile": family(2400)}, headers=resident.headers)
    assert (await push.rescreen_due()).told == 0
    assert await told_keys() == ["dibao:0"]


@pytest.mark.parametrize("change", ["staff", "disabled"])
async def test_an_account_no_longer_a_resident_s_is_neither_screened_nor_told(
    app: Sanic, client: httpx.AsyncClient, change: str
) -> None:
    resident = await user(app, Role.RESIDENT, openid=f"o-welfare-{change}")
    neighbour = await user(app, Role.RESIDENT, openid=f"o-welfare-{change}-n")
    for who in (resident, neighbour):
        await client.put(PROFILE, json={"profile": family(9000)}, headers=who.headers)
        await client.put(CONSENT, json={"proactive": True}, headers=who.headers)
    assert (await push.rescreen_due()).screened == 2
    before = (await WelfareProfile.get(account_id=resident.account.id)).snapshot_enc
    for who in (resident, neighbour):
        await client.put(PROFILE, json={"profile": family(2400)}, headers=who.headers)
    if change == "staff":
        await Account.filter(id=resident.account.id).update(role=Role.GRID_STAFF)
    else:
        await Account.filter(id=resident.account.id).update(is_active=False)
    done = await push.rescreen_due()
    assert (done.screened, done.told) == (1, 1)  # the neighbour only
    assert [n.account_id for n in await matches()] == [neighbour.account.id]
    row = await WelfareProfile.get(account_id=resident.account.id)
    assert row.snapshot_enc == before  # nothing of the profile was read or marked as told
    assert (await push.rescreen_dated()).screened == 0
    # A resident again: the match waiting since the change is told then, once.
    await Account.filter(id=resident.account.id).update(role=Role.RESIDENT, is_active=True)
    assert (await push.rescreen_due()).told == 1
    assert sorted(n.account_id for n in await matches()) == sorted([neighbour.account.id, resident.account.id])


async def test_two_passes_at_once_tell_each_new_match_once(app: Sanic, client: httpx.AsyncClient) -> None:
    """Two instances running the job together (a lease lost mid-pass): the rows are locked and checked again, so
    nobody is told twice and nobody is told of someone else's match."""
    import asyncio

    people = [await user(app, Role.RESIDENT, openid=f"o-welfare-race-{i}") for i in range(6)]
    for who in people:
        await client.put(PROFILE, json={"profile": family(9000)}, headers=who.headers)
        await client.put(CONSENT, json={"proactive": True}, headers=who.headers)
    await push.rescreen_due()
    for who in people[::2]:  # half of them fall under the dibao line
        await client.put(PROFILE, json={"profile": family(2400)}, headers=who.headers)
    for who in people[1::2]:
        await client.put(PROFILE, json={"profile": family(8000)}, headers=who.headers)
    done = await asyncio.gather(push.rescreen_due(limit=2), push.rescreen_due(limit=2), push.rescreen_dated())
    assert sum(d.told for d in done) == 3
    assert sorted(n.account_id for n in await matches()) == sorted(w.account.id for w in people[::2])
    assert await told_keys() == ["dibao:0"] * 3


async def test_a_match_not_yet_sent_is_dropped_when_its_policy_is_withdrawn(
    app: Sanic, client: httpx.AsyncClient, pack_dir: Path
) -> None:
    """Told of dibao, the message still waiting (the resident's phone unreachable, a channel down), then dibao is
    withdrawn from the pack: the message never goes out to send them to a guide of a policy no longer served.
    Another resident's message of a policy still served stays."""
    from notify.models import Notification, Status

    resident = await user(app, Role.RESIDENT, openid="o-welfare-gone")
    await client.put(PROFILE, json={"profile": family(9000)}, headers=resident.headers)
    await client.put(CONSENT, json={"proactive": True}, headers=resident.headers)
    await push.rescreen_due()
    await client.put(PROFILE, json={"profile": family(2400)}, headers=resident.headers)
    assert (await push.rescreen_due()).told == 1
    from tests.miniapp_api.welfare.test_saved import new_policy

    await new_policy(pack_dir, "test_aid_a")
    for name in ("dibao.yaml", "dibao_edge.yaml"):
        (pack_dir / "policies" / name).unlink()
    assert (await versions.load(pack_dir, loaded_by="test")).version == 1
    assert (await push.rescreen_due()).told == 1  # test_aid_a, newly served
    waiting = Notification.filter(template=push.TEMPLATE, status__in=[Status.PENDING, Status.FAILED])
    assert [n.idempotency_key.split(":", 2)[2] for n in await waiting.order_by("id")] == ["test_aid_a:1"]
