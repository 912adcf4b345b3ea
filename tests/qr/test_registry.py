"""The credential registry as feature packages call it: issue, reissue, revoke, resolve, the feed.

The app runs (``running``) so the keyring is loaded and the database is open, as in production.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from tortoise.transactions import in_transaction

from qr import codec, service
from qr.models import Credential, CredentialStatus, RevocationEntry, RevocationHead

pytestmark = pytest.mark.usefixtures("running")

CROCKFORD_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{13}$")


async def refusal(payload: str) -> codec.VerifyError:
    with pytest.raises(codec.VerifyError) as caught:
        await service.resolve(payload=payload)
    return caught.value


async def test_issue_gives_an_opaque_id_serial_one_and_a_token_that_resolves() -> None:
    first = await service.issue(kind="building", subject_id="bld-1", node_path="/GM/GM01/", label="A栋")
    second = await service.issue(kind="building", subject_id="bld-2")

    for credential in (first, second):
        assert CROCKFORD_ID.match(credential.public_id), credential.public_id
        assert credential.serial == 1
        assert credential.status is CredentialStatus.ACTIVE
    assert first.public_id != second.public_id

    resolved = await service.resolve(payload=first.token)
    assert resolved.credential.public_id == first.public_id
    assert resolved.claims.serial == 1
    assert resolved.claims.public_id_text == first.public_id
    assert resolved.kind.name == "building"
    # The token carries no personal data and no database id.
    assert "bld-1" not in first.token and "A栋" not in first.token


async def test_issue_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(service.UnknownKind):
        await service.issue(kind="spaceship", subject_id="x")
    assert await Credential.all().count() == 0


async def test_reissue_supersedes_the_old_code_and_feeds_min_serial_2() -> None:
    original = await service.issue(kind="ebike", subject_id="bike-1")
    old_token = original.token

    renewed = await service.reissue(public_id=original.public_id, reason="lost_sticker")
    assert renewed.serial == 2
    assert renewed.public_id == original.public_id
    assert renewed.token != old_token

    error = await refusal(old_token)
    assert error.code == "superseded"
    assert error.credential is not None and error.credential.public_id == original.public_id
    assert (await service.resolve(payload=renewed.token)).claims.serial == 2

    entries = await RevocationEntry.filter(public_id=original.public_id)
    assert len(entries) == 1
    assert entries[0].min_serial == 2
    assert entries[0].revoked is False
    assert entries[0].kind == "ebike"
    assert entries[0].reason == "lost_sticker"


async def test_revoke_refuses_every_serial_and_feeds_revoked_true() -> None:
    credential = await service.issue(kind="building", subject_id="bld-9")
    serial1 = credential.token
    serial2 = (await service.reissue(public_id=credential.public_id)).token

    revoked = await service.revoke(public_id=credential.public_id, reason="demolished")
    assert revoked.status is CredentialStatus.REVOKED
    assert revoked.revoked_at is not None

    # Old, current, and even a correctly signed future serial: all refused as revoked.
    raw_id = codec.decode_public_id(credential.public_id)
    assert raw_id is not None
    serial3 = codec.sign(codec.Claims(2, raw_id, 3, int(revoked.issued_at.timestamp())), service.keyring())
    for token in (serial1, serial2, serial3):
        error = await refusal(token)
        assert error.code == "revoked"

    last = await RevocationEntry.filter(public_id=credential.public_id).order_by("-counter").first()
    assert last is not None
    assert last.revoked is True
    assert last.reason == "demolished"

    # Revoking twice changes nothing and adds no feed entry; a revoked code cannot be reissued.
    before = await RevocationEntry.all().count()
    await service.revoke(public_id=credential.public_id, reason="again")
    assert await RevocationEntry.all().count() == before
    with pytest.raises(codec.VerifyError) as caught:
        await service.reissue(public_id=credential.public_id)
    assert caught.value.code == "revoked"


async def test_unknown_public_ids_are_not_found() -> None:
    with pytest.raises(codec.VerifyError) as caught:
        await service.revoke(public_id="0000000000000", reason="x")
    assert caught.value.code == "not_found"
    with pytest.raises(codec.VerifyError) as caught:
        await service.reissue(public_id="0000000000000")
    assert caught.value.code == "not_found"


async def test_issue_inside_a_rolled_back_transaction_leaves_nothing() -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with in_transaction() as conn:
            credential = await service.issue(kind="building", subject_id="bld-rollback", using_db=conn)
            assert await Credential.filter(public_id=credential.public_id).using_db(conn).exists()
            raise Boom

    assert await Credential.filter(subject_id="bld-rollback").count() == 0
    error = await refusal(credential.token)
    assert error.code == "not_found"


async def test_revocations_in_a_rolled_back_transaction_leave_no_feed_entry() -> None:
    credential = await service.issue(kind="building", subject_id="bld-keep")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with in_transaction() as conn:
            await service.revoke(public_id=credential.public_id, reason="mistake", using_db=conn)
            raise Boom

    assert await RevocationEntry.all().count() == 0
    assert (await service.resolve(payload=credential.token)).credential.status is CredentialStatus.ACTIVE


async def test_concurrent_revocations_get_counters_without_gaps() -> None:
    credentials = [await service.issue(kind="ebike", subject_id=f"bike-{i}") for i in range(20)]

    await asyncio.gather(*(service.revoke(public_id=c.public_id, reason="bulk") for c in credentials))

    counters = sorted(await RevocationEntry.all().values_list("counter", flat=True))
    assert counters == list(range(1, 21))
    entries = await RevocationEntry.all()
    assert {e.public_id for e in entries} == {c.public_id for c in credentials}
    head = await RevocationHead.get(id=1)
    assert head.counter == 20


async def test_concurrent_reissues_of_one_credential_never_share_a_serial() -> None:
    credential = await service.issue(kind="building", subject_id="bld-race")

    renewed = await asyncio.gather(*(service.reissue(public_id=credential.public_id) for _ in range(6)))

    assert sorted(c.serial for c in renewed) == [2, 3, 4, 5, 6, 7]
    assert len({c.token for c in renewed}) == 6
    current = await Credential.get(public_id=credential.public_id)
    assert current.serial == 7
    min_serials = (
        await RevocationEntry.filter(public_id=credential.public_id)
        .order_by("counter")
        .values_list("min_serial", flat=True)
    )
    assert list(min_serials) == [2, 3, 4, 5, 6, 7]
    # Only the last one scans.
    for c in renewed:
        if c.serial == 7:
            assert (await service.resolve(payload=c.token)).claims.serial == 7
        else:
            assert (await refusal(c.token)).code == "superseded"


async def test_serials_use_the_whole_32_bit_range_and_stop_there() -> None:
    """The token holds an unsigned 32-bit serial: the database must store all of it (PostgreSQL's
    int4 would not), and reissue refuses to wrap around."""
    credential = await service.issue(kind="ebike", subject_id="bike-max")
    await Credential.filter(id=credential.id).update(serial=codec.MAX_SERIAL - 1)
    last = await service.reissue(public_id=credential.public_id)
    assert last.serial == codec.MAX_SERIAL
    assert (await service.resolve(payload=last.token)).claims.serial == codec.MAX_SERIAL
    feed = await RevocationEntry.filter(public_id=credential.public_id).order_by("-counter").first()
    assert feed is not None and feed.min_serial == codec.MAX_SERIAL
    with pytest.raises(codec.VerifyError) as refused:
        await service.reissue(public_id=credential.public_id)
    assert refused.value.code == "serial_exhausted"
    revoked = await service.revoke(public_id=credential.public_id, reason="lost")
    assert revoked.status is CredentialStatus.REVOKED
    feed = await RevocationEntry.filter(public_id=credential.public_id).order_by("-counter").first()
    assert feed is not None and feed.min_serial == codec.MAX_SERIAL + 1
