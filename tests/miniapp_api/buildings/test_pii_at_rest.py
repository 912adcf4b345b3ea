"""The landlord's name and phone are stored only as vault ciphertext (and a blind index of the phone)."""

from __future__ import annotations

from pathlib import Path

import httpx

from identity.pii import current_vault
from miniapp_api.buildings import service
from server.settings import Settings
from tests.identity.test_profile_pii import raw_database_dump
from tests.miniapp_api.buildings.conftest import NAME, PHONE, building, cli_import, row, write_csv


async def test_landlord_is_encrypted_in_the_database(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "b.csv", [row(1), row(2, landlord_name="司马光", landlord_phone="+86 137-0000-2222")])
    code, out, err = await cli_import(settings, path, "--quiet")
    assert code == 0, out + err

    dump = await raw_database_dump(settings)
    assert b"GM0101010001" in dump  # the dump does see the rows
    for secret in (NAME, PHONE, "司马光", "13700002222", "0000-2222"):
        assert secret.encode("utf-8") not in dump, f"plaintext {secret[:2]}… found in the database"

    stored = await building("GM0101010002")
    vault = current_vault()
    assert stored.landlord_name_enc is not None and stored.landlord_phone_enc is not None
    assert vault.decrypt(stored.landlord_name_enc, field=service.LANDLORD_NAME_FIELD) == "司马光"
    assert vault.decrypt(stored.landlord_phone_enc, field=service.LANDLORD_PHONE_FIELD) == "13700002222"
    assert stored.landlord_phone_bidx == vault.blind_index("13700002222", field=service.LANDLORD_PHONE_FIELD)
    # Ciphertext is bound to its field: a landlord's phone cannot be passed off as an account's.
    assert (await building("GM0101010001")).landlord_phone_enc != stored.landlord_phone_enc
