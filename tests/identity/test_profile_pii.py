"""Personal data on the wire and at rest: profiles are validated, answered masked, stored only as
ciphertext (checked in the raw database), found through the blind index, and reads of other
people's accounts are audited or refused without telling whether the account exists."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Sanic
from tortoise import connections

from identity import service
from identity.audit import AuditEntry
from identity.models import Account
from identity.roles import Role
from identity.validators import id_number_check_digit
from server.settings import Settings
from tests.factories import auth, id_number, make_account, make_staff_with_password, token_for

NAME = "王小明"
ADDRESS = "深圳市光明区光明街道碧眼社区华夏路12号"
PHONE_INPUT = "+86 139 1234 5678"
PHONE = "13912345678"
CIPHERTEXT_RE = re.compile(r"^v1\.[a-z0-9]{1,16}\.[A-Za-z0-9_-]+$")


def masked_id(value: str) -> str:
    return value[:3] + "*" * 11 + value[-4:]


def with_check_digit(first17: str) -> str:
    return first17 + id_number_check_digit(first17)


def wrong_check_digit(value: str) -> str:
    return value[:17] + ("0" if value[17] != "0" else "1")


async def resident_token(app: Sanic) -> tuple[Account, str]:
    account = await make_account(Role.RESIDENT)
    return account, await token_for(app, account)


async def put_profile(client: httpx.AsyncClient, token: str, **fields: str) -> httpx.Response:
    return await client.put("/api/v1/me/profile", json=fields, headers=auth(token))


async def stored(account: Account) -> Account:
    return await Account.get(id=account.id)


# Saving and showing a profile -------------------------------------------------------------------------


async def test_profile_is_saved_and_answered_masked(client: httpx.AsyncClient, app: Sanic) -> None:
    account, token = await resident_token(app)
    idn = id_number(1)
    r = await put_profile(client, token, name=NAME, phone=PHONE_INPUT, id_number=idn, address=ADDRESS)
    assert r.status_code == 200, r.text
    expected = {"name": "王**", "phone": "139****5678", "id_number": masked_id(idn), "address": "深圳市光明区****"}
    assert r.json()["profile"] == expected
    assert r.json()["account"]["id"] == account.public_id
    for secret in (NAME, PHONE, idn):
        assert secret not in r.text

    me = await client.get("/api/v1/me", headers=auth(token))
    assert me.status_code == 200
    assert me.json()["profile"] == expected
    for secret in (NAME, PHONE, idn):
        assert secret not in me.text


async def test_profile_fields_can_be_saved_one_at_a_time(client: httpx.AsyncClient, app: Sanic) -> None:
    _, token = await resident_token(app)
    assert (await put_profile(client, token, phone="139-1234-5678")).status_code == 200
    r = await put_profile(client, token, name=NAME)
    assert r.status_code == 200
    assert r.json()["profile"] == {"name": "王**", "phone": "139****5678", "id_number": None, "address": None}


BAD_INPUT = [
    pytest.param("id_number", wrong_check_digit(id_number(3)), id="id-check-digit"),
    pytest.param("id_number", with_check_digit("440311" + "19880230" + "123"), id="id-february-30"),
    pytest.param("id_number", with_check_digit("440311" + "21990101" + "123"), id="id-born-in-future"),
    pytest.param("phone", "0755 8888 6666", id="phone-landline"),
    pytest.param("phone", "010 1234 5678", id="phone-landline-11-digits"),
    pytest.param("phone", "+852 9123 4567", id="phone-hong-kong"),
    pytest.param("phone", "+1 415 555 0100", id="phone-abroad"),
]


@pytest.mark.parametrize(("field", "value"), BAD_INPUT)
async def test_bad_profile_input_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, app: Sanic, field: str, value: str
) -> None:
    account, token = await resident_token(app)
    good = {"name": NAME, "phone": PHONE_INPUT, "id_number": id_number(4)}
    r = await put_profile(client, token, **{**good, field: value})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    # The code every route gives this mistake (tests/server/test_error_codes.py).
    assert error["code"] == {"id_number": "invalid_id_number", "phone": "invalid_phone"}[field]
    assert [f["field"] for f in error["details"]["fields"]] == [field]
    assert value not in r.text  # errors never echo what was submitted

    row = await stored(account)
    assert row.name_enc is None
    assert row.phone_enc is None and row.phone_bidx is None
    assert row.id_number_enc is None and row.id_number_bidx is None


async def test_an_id_number_belongs_to_one_account(client: httpx.AsyncClient, app: Sanic) -> None:
    _, first_token = await resident_token(app)
    second, second_token = await resident_token(app)
    idn = id_number(5)
    assert (await put_profile(client, first_token, id_number=idn)).status_code == 200

    r = await put_profile(client, second_token, name=NAME, id_number=idn.lower())
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "identity_mismatch"  # the answer of any mismatch: no oracle
    assert idn not in r.text
    row = await stored(second)
    assert row.id_number_enc is None and row.id_number_bidx is None
    assert row.name_enc is None


# At rest ---------------------------------------------------------------------------------------------


async def raw_database_dump(settings: Settings) -> bytes:
    """Everything the database holds, as an attacker with a copy of it would see it."""
    url = settings.effective_database_url
    if url.startswith(("postgres://", "postgresql://")):
        conn = connections.get("default")
        _, tables = await conn.execute_query(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        assert tables, "no tables found in schema public"
        parts: list[str] = []
        for table in tables:
            name = str(table["table_name"]).replace('"', '""')
            _, rows = await conn.execute_query(f'SELECT row_to_json(t)::text AS row FROM "{name}" t')  # noqa: S608
            parts += [str(row["row"]) for row in rows]
        return "\n".join(parts).encode("utf-8")
    assert url.startswith("sqlite://"), url
    return await asyncio.to_thread(sqlite_file_bytes, Path(url[len("sqlite://") :].split("?", 1)[0]))


def sqlite_file_bytes(path: Path) -> bytes:
    """The database file plus its write-ahead log (committed rows may still sit only there)."""
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return data


async def test_database_holds_only_ciphertext(client: httpx.AsyncClient, app: Sanic, settings: Settings) -> None:
    account, token = await resident_token(app)
    idn = id_number(6)
    r = await put_profile(client, token, name=NAME, phone=PHONE_INPUT, id_number=idn, address=ADDRESS)
    assert r.status_code == 200, r.text

    dump = await raw_database_dump(settings)
    assert account.public_id.encode() in dump  # the dump does see the row
    for secret in (idn, PHONE, NAME, ADDRESS, "华夏路"):
        assert secret.encode("utf-8") not in dump, f"plaintext {secret[:2]}… found in the database"

    row = await stored(account)
    for ciphertext in (row.name_enc, row.phone_enc, row.id_number_enc, row.address_enc):
        assert ciphertext is not None and CIPHERTEXT_RE.match(ciphertext)
        assert ciphertext.encode("ascii") in dump

    # The blind index finds the account from the plaintext, however it is written.
    by_phone = await service.find_by_phone(phone="139 1234 5678")
    by_id = await service.find_by_id_number(id_number=idn.lower())
    assert by_phone is not None and by_phone.public_id == account.public_id
    assert by_id is not None and by_id.public_id == account.public_id
    assert await service.find_by_phone(phone="13912345679") is None
    assert await service.find_by_id_number(id_number=id_number(7)) is None


# Who may read whom ------------------------------------------------------------------------------------


async def test_admin_reading_an_account_is_audited(client: httpx.AsyncClient, app: Sanic) -> None:
    resident, resident_tok = await resident_token(app)
    idn = id_number(8)
    assert (await put_profile(client, resident_tok, name=NAME, phone=PHONE, id_number=idn)).status_code == 200
    admin = await make_staff_with_password("district.reader", Role.ADMIN, "Correct-horse-9")
    admin_tok = await token_for(app, admin)
    before = await AuditEntry.filter(action="account.read").count()

    r = await client.get(f"/api/v1/accounts/{resident.public_id}", headers=auth(admin_tok))
    assert r.status_code == 200, r.text
    assert r.json()["profile"] == {
        "name": "王**",
        "phone": "139****5678",
        "id_number": masked_id(idn),
        "address": None,
    }

    entries = await AuditEntry.filter(action="account.read").order_by("seq")
    assert len(entries) == before + 1
    entry = entries[-1]
    assert entry.actor == admin.public_id
    assert entry.role == "admin"
    assert entry.target == resident.public_id
    assert entry.request_id == r.headers["x-request-id"]
    logged: dict[str, Any] = {"details": entry.details, "target": entry.target, "reason": entry.reason}
    for secret in (NAME, PHONE, idn):
        assert secret not in str(logged)


async def test_resident_cannot_tell_other_accounts_exist(client: httpx.AsyncClient, app: Sanic) -> None:
    _, token = await resident_token(app)
    other, other_token = await resident_token(app)
    assert (await put_profile(client, other_token, name=NAME)).status_code == 200

    theirs = await client.get(f"/api/v1/accounts/{other.public_id}", headers=auth(token))
    missing = await client.get("/api/v1/accounts/acc_doesNotExist0000", headers=auth(token))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    assert theirs.json()["error"]["code"] == "account_not_found"
    assert not await AuditEntry.filter(action="account.read").exists()
