"""The audit log: hash-chained, append-only in the database, and checked by ``gmid audit verify``."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sanic import Sanic
from tortoise import connections
from tortoise.transactions import in_transaction

from identity import audit
from identity.audit import GENESIS, AuditEntry, AuditHead, chain_hash
from identity.roles import Role
from server.settings import Settings
from tests.factories import auth, make_account, token_for

GMID = Path(sys.executable).with_name("gmid")


def dialect() -> str:
    return str(connections.get("default").capabilities.dialect)


async def sql(statement: str) -> None:
    await connections.get("default").execute_query(statement)


async def drop_append_only_triggers() -> None:
    if dialect() == "postgres":
        await sql("DROP TRIGGER audit_entry_no_change ON audit_entry")
    else:
        await sql("DROP TRIGGER audit_entry_no_update")
        await sql("DROP TRIGGER audit_entry_no_delete")


async def record_n(n: int, **kwargs: str) -> list[AuditEntry]:
    return [
        await audit.record(
            actor=kwargs.get("actor", f"acc_actor{i}"),
            role=kwargs.get("role", "admin"),
            action=kwargs.get("action", "account.read"),
            target=f"acc_target{i}",
            reason=f"reason {i}",
            client_addr="127.0.0.1",
            request_id=f"req-{i}",
            details={"i": i},
        )
        for i in range(1, n + 1)
    ]


async def gmid_audit_verify(settings: Settings) -> tuple[int, str]:
    env = dict(os.environ)
    for name in [k for k in env if k.startswith("GMID_") and not k.startswith("GMID_TEST_")]:
        del env[name]
    env.update(
        GMID_DATABASE_URL=settings.database_url or "",
        GMID_VAR_DIR=settings.var_dir,
        GMID_REDIS_URL=settings.redis_url or "",
    )
    proc = await asyncio.create_subprocess_exec(
        str(GMID),
        "audit",
        "verify",
        env=env,
        cwd=settings.var_path.parent,  # no stray .env file
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


# The chain ---------------------------------------------------------------------------------------


async def test_record_appends_hash_chained_entries(running: object) -> None:
    entries = await record_n(3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS
    assert entries[1].prev_hash == entries[0].hash
    assert entries[2].prev_hash == entries[1].hash
    assert len({e.hash for e in entries}) == 3
    stored = await AuditEntry.get(seq=2)
    assert (stored.actor, stored.action, stored.target, stored.reason) == (
        "acc_actor2",
        "account.read",
        "acc_target2",
        "reason 2",
    )
    assert (stored.client_addr, stored.request_id, stored.details) == ("127.0.0.1", "req-2", {"i": 2})
    assert stored.at.utcoffset() == timedelta(0)
    head = await AuditHead.get(id=1)
    assert (head.seq, head.hash) == (3, entries[2].hash)
    result = await audit.verify()
    assert result.ok and result.checked == 3


async def test_an_entry_reads_back_as_it_was_hashed(running: object) -> None:
    # The append writes its row by hand (one round trip on PostgreSQL): every field must come back
    # exactly as the ORM would have stored it, or the chain would not verify.
    details = {"案件": "粤B12345 被盗", "n": 3, "ratio": 0.25, "ok": True, "none": None, "list": [1, {"k": "v"}]}
    entry = await audit.record(
        actor="acc_police1",
        role="police",
        action="police.ebike_lookup",
        target="bk_1,bk_2",
        reason="盗窃案 侦查",
        client_addr="2001:db8::1",
        request_id="0123456789abcdef0123456789abcdef",
        details=details,
        scope="/GM/GM01/GM0101",
    )
    stored = await AuditEntry.get(seq=entry.seq)
    for name in AuditEntry._meta.fields_db_projection:
        assert getattr(stored, name) == getattr(entry, name), name
    assert stored.details == details and stored.scope == "/GM/GM01/GM0101"
    assert chain_hash(stored.prev_hash, audit._hashed_fields(stored)) == stored.hash
    assert (await AuditHead.get(id=1)).hash == stored.hash
    assert (await audit.verify()).ok


async def test_text_that_masking_lengthens_still_fits_its_column(running: object) -> None:
    # Masking keeps an e-mail's ends and adds stars ("a@b.cn" -> "a***@b.cn"): text cut to its column
    # before masking grew past it, and the append failed after the head was bumped.
    crowded = " ".join(["a@b.cn"] * 200)
    entry = await audit.record(
        actor=crowded, role="police", action="probe", target=crowded, reason=crowded, scope="/GM/" + crowded
    )
    stored = await AuditEntry.get(seq=entry.seq)
    assert (len(stored.actor), len(stored.target), len(stored.reason), len(stored.scope)) == (64, 128, 500, 255)
    assert "a@b.cn" not in stored.reason and stored.reason.startswith("a***@b.cn a***@b.cn")
    # An ID number across the column's end: masked whole, then cut (cut first, its start was kept).
    straddling = await audit.record(
        actor="acc_p", role="police", action="probe", reason="x" * 489 + " 110101199003071234"
    )
    assert (await AuditEntry.get(seq=straddling.seq)).reason == "x" * 489 + " 110*******"
    assert (await audit.verify()).ok


async def test_an_append_in_a_transaction_that_rolls_back_leaves_no_trace(running: object) -> None:
    (first,) = await record_n(1)

    class Undone(Exception):
        pass

    with pytest.raises(Undone):
        async with in_transaction() as conn:
            await audit.record(actor="acc_x", role="admin", action="account.update", using_db=conn)
            raise Undone
    assert await AuditEntry.all().count() == 1
    head = await AuditHead.get(id=1)
    assert (head.seq, head.hash) == (1, first.hash)
    assert (await audit.record(actor="acc_y", role="admin", action="account.read")).seq == 2
    assert (await audit.verify()).ok


async def test_text_a_database_cannot_hold_is_recorded_with_a_replacement(running: object) -> None:
    # A malformed request is just what the log must record: a NUL (PostgreSQL text cannot hold it)
    # or a lone surrogate must not make the append fail.
    entry = await audit.record(
        actor="a1", role="police", action="probe", reason="x\x00y", details={"query": "ab\x00\udc80", "n": [1, "\x00"]}
    )
    stored = await AuditEntry.get(seq=entry.seq)
    assert stored.reason == "x\ufffdy"
    assert stored.details == {"query": "ab\ufffd?", "n": [1, "\ufffd"]}
    assert (await audit.verify()).ok


async def test_empty_log_verifies(running: object) -> None:
    result = await audit.verify()
    assert result.ok and result.checked == 0


async def test_concurrent_records_form_one_chain_without_gaps(running: object) -> None:
    entries = await asyncio.gather(
        *(audit.record(actor=f"acc_c{i}", role="police", action="resident.read", target=f"t{i}") for i in range(50))
    )
    assert sorted(e.seq for e in entries) == list(range(1, 51))
    stored = await AuditEntry.all().order_by("seq")
    assert [e.seq for e in stored] == list(range(1, 51))
    assert {e.actor for e in stored} == {f"acc_c{i}" for i in range(50)}
    prev = GENESIS
    for e in stored:
        assert e.prev_hash == prev, f"fork at {e.seq}"
        prev = e.hash
    result = await audit.verify()
    assert result.ok and result.checked == 50
    assert (await AuditHead.get(id=1)).seq == 50


# Tampering ---------------------------------------------------------------------------------------


async def test_database_refuses_to_change_or_delete_entries(running: object) -> None:
    await record_n(2)
    with pytest.raises(Exception, match="append-only"):
        await sql("UPDATE audit_entry SET reason = 'forged' WHERE seq = 1")
    with pytest.raises(Exception, match="append-only"):
        await sql("DELETE FROM audit_entry WHERE seq = 2")
    assert [e.reason for e in await AuditEntry.all().order_by("seq")] == ["reason 1", "reason 2"]
    assert (await audit.verify()).ok


async def _change_reason() -> None:
    await sql("UPDATE audit_entry SET reason = 'nothing to see' WHERE seq = 3")


async def _change_and_rehash() -> None:
    # A smarter forger recomputes the entry's own hash: the next entry's link still breaks.
    entry = await AuditEntry.get(seq=3)
    entry.reason = "nothing to see"
    new_hash = chain_hash(entry.prev_hash, audit._hashed_fields(entry))
    await sql(f"UPDATE audit_entry SET reason = 'nothing to see', hash = '{new_hash}' WHERE seq = 3")  # noqa: S608 - a hex digest


async def _delete_middle() -> None:
    await sql("DELETE FROM audit_entry WHERE seq = 3")


async def _delete_last() -> None:
    await sql("DELETE FROM audit_entry WHERE seq = 5")


TAMPERING: dict[str, tuple[Callable[[], object], int, str]] = {
    "changed reason": (_change_reason, 3, "contents do not match"),
    "changed and re-hashed": (_change_and_rehash, 4, "prev_hash"),
    "middle entry deleted": (_delete_middle, 3, "missing"),
    "last entry deleted": (_delete_last, 5, "ends before"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
async def test_verify_names_the_first_broken_entry(running: object, settings: Settings, case: str) -> None:
    await record_n(5)
    code, out = await gmid_audit_verify(settings)
    assert code == 0, out
    assert "intact" in out and "5 entries" in out

    tamper, broken_seq, problem = TAMPERING[case]
    await drop_append_only_triggers()
    await tamper()  # type: ignore[misc]

    result = await audit.verify()
    assert not result.ok
    assert result.broken_seq == broken_seq
    assert problem in result.problem

    code, out = await gmid_audit_verify(settings)
    assert code == 1, out
    assert f"entry {broken_seq}" in out, out
    assert "intact" not in out


# The admin API -----------------------------------------------------------------------------------


async def test_admin_lists_audit_entries_with_filters_and_cursor(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = await make_account(Role.ADMIN)
    headers = auth(await token_for(app, admin))
    await record_n(3, actor="acc_alice", action="resident.read")
    await record_n(2, actor="acc_bob", action="account.disable")
    await asyncio.sleep(0.01)
    later = await record_n(2, actor="acc_alice", action="account.disable")

    async def items(**params: object) -> list[dict[str, object]]:
        r = await client.get("/api/v1/admin/audit", params=params, headers=headers)  # type: ignore[arg-type]
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        result: list[dict[str, object]] = r.json()["items"]
        return result

    everything = await items()
    assert [e["seq"] for e in everything] == [1, 2, 3, 4, 5, 6, 7]
    assert everything[0]["reason"] == "reason 1" and everything[0]["hash"]

    assert [e["seq"] for e in await items(actor="acc_alice")] == [1, 2, 3, 6, 7]
    assert [e["seq"] for e in await items(action="account.disable")] == [4, 5, 6, 7]
    assert [e["seq"] for e in await items(actor="acc_alice", action="account.disable")] == [6, 7]
    since = later[0].at.isoformat()
    assert [e["seq"] for e in await items(since=since)] == [6, 7]
    assert [e["seq"] for e in await items(since=since, actor="acc_bob")] == []
    assert await items(actor="acc_nobody") == []

    # Cursor paging: pages of 3 follow next_after until it is null, every entry exactly once.
    seen: list[int] = []
    after: int | None = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 3}
        if after is not None:
            params["after"] = after
        r = await client.get("/api/v1/admin/audit", params=params, headers=headers)  # type: ignore[arg-type]
        page = r.json()
        seen += [e["seq"] for e in page["items"]]
        pages += 1
        after = page["next_after"]
        if after is None:
            break
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert pages == 3

    for since in ("yesterday", "2026-11-01T00:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"):
        r = await client.get("/api/v1/admin/audit", params={"since": since}, headers=headers)
        assert r.status_code == 422, since  # naive, or off the calendar once in UTC
        assert r.json()["error"]["code"] == "validation_failed"
    r = await client.get("/api/v1/admin/audit", params={"since": "2000-01-01T00:00:00+08:00"}, headers=headers)
    assert r.status_code == 200 and len(r.json()["items"]) == 7


async def test_audit_log_is_for_admins_only(app: Sanic, client: httpx.AsyncClient) -> None:
    await record_n(1)
    police = await make_account(Role.POLICE)
    r = await client.get("/api/v1/admin/audit", headers=auth(await token_for(app, police)))
    assert r.status_code == 403
    r = await client.get("/api/v1/admin/audit")
    assert r.status_code == 401


async def test_admin_reading_an_account_is_audited(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = await make_account(Role.ADMIN)
    resident = await make_account(Role.RESIDENT)
    r = await client.get(
        f"/api/v1/accounts/{resident.public_id}",
        headers={**auth(await token_for(app, admin)), "X-Request-ID": "read-0001"},
    )
    assert r.status_code == 200
    entry = await AuditEntry.get(action="account.read")
    assert (entry.actor, entry.role, entry.target, entry.request_id) == (
        admin.public_id,
        "admin",
        resident.public_id,
        "read-0001",
    )
    assert entry.client_addr == "127.0.0.1"
    assert (await audit.verify()).ok
