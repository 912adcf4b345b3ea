"""Retiring a key without refusing its stickers: `gmid keys retire` refuses while active codes signed by
the key remain, and `gmid qr reissue --kid KID` reissues them in batches, resumably, never twice; the
new stickers print with `gmid qr sheet --reissued-since`. Real `gmid` processes throughout."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import httpx
import jwt
import pytest

from qr import codec, service
from qr import keys as qr_keys
from qr.models import Credential, RevocationEntry
from server.settings import Settings
from tests.qr.held_stderr import HeldGmid
from tests.qr.test_routes import wait_for
from tests.qr.test_sheets import decoded, page_images, urls
from tests.support.cli import gmid

GRID = "/GM/GM01/GM0101/GM010101/"
COUNT = 45
BATCH = 5


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


async def issue_with_old_key() -> list[Credential]:
    """Buildings signed by the active key; every ninth as a code printed before full kids (its header
    names the key by 8 characters), which must be found and reissued too."""
    ring = service.keyring()
    legacy_ring = dataclasses.replace(ring, active_kid=ring.active_kid[:8])
    issued = []
    for n in range(COUNT):
        credential = await service.issue(kind="building", subject_id=f"bld-{n}", node_path=GRID, label=f"{n}栋")
        if n % 9 == 0:
            claims = codec.verify(credential.token, ring).claims
            credential.token = codec.sign(claims, legacy_ring)
            await credential.save(update_fields=["token"])
        issued.append(credential)
    return issued


async def test_retire_refuses_while_codes_remain_and_reissue_resumes_after_an_interruption(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    issued = await issue_with_old_key()
    old_kid = service.keyring().active_kid
    assert {kid_of(c.token) for c in issued} == {old_kid, old_kid[:8]}
    new_kid = qr_keys.rotate(settings.keys_path)
    assert new_kid != old_kid

    # Reissuing the active key's codes makes no sense: refused in one line.
    code, out, err = await gmid(settings, "qr", "reissue", "--kid", new_kid)
    assert (code, out) == (2, "")
    assert re.fullmatch(r"gmid: \S+ is the active key: rotate first.*\n", err), err

    # Retiring the old key now would refuse every sticker it signed: refused, one clear line, nothing changed.
    for kid in (old_kid, old_kid[:8]):
        code, out, err = await gmid(settings, "keys", "retire", kid)
        assert (code, out) == (2, ""), err
        [line] = err.splitlines()
        assert line.startswith(f"gmid: {COUNT} active codes are still signed by {old_kid}"), line
        assert f"gmid qr reissue --kid {old_kid}" in line and "--force" in line
    assert qr_keys.load(settings.keys_path).keys[old_kid].status == qr_keys.VERIFYING

    # A reissue run, interrupted once it has committed its first batch (it then waits on its progress bar).
    held = await HeldGmid(settings, "qr", "reissue", "--kid", old_kid, "--batch-size", str(BATCH)).start()
    deadline = asyncio.get_running_loop().time() + 60
    while await service.signed_by(old_kid).count() > COUNT - BATCH:
        assert held.running(), "the reissue ended before it was interrupted"
        assert asyncio.get_running_loop().time() < deadline, "the first batch never committed"
        await asyncio.sleep(0.05)
    code, out, err = await held.interrupt_and_finish()
    assert code == 130, (code, out, err)
    assert err.rstrip().endswith("gmid: interrupted"), err
    done = COUNT - await service.signed_by(old_kid).count()
    assert BATCH <= done < COUNT  # whole batches only, and not all of them
    rows = await Credential.filter(id__in=[c.id for c in issued]).order_by("id")
    assert sorted(c.serial for c in rows) == [1] * (COUNT - done) + [2] * done

    # Run again: it carries on with the rest, reissuing none twice; a third run finds nothing to do.
    code, out, err = await gmid(settings, "qr", "reissue", "--kid", old_kid, "--batch-size", str(BATCH))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{COUNT - done} codes signed by {old_kid} reissued with {new_kid}"), out
    assert f"{COUNT - done}/{COUNT - done} codes reissued" in err  # the progress bar
    hint = re.fullmatch(r"new stickers: gmid qr sheet --kind building --reissued-since (\S+) --out FILE\.pdf", lines[1])
    assert hint is not None, out
    code, out, _ = await gmid(settings, "qr", "reissue", "--kid", old_kid, "--quiet")
    assert code == 0 and out.startswith(f"0 codes signed by {old_kid} reissued"), out

    rows = await Credential.filter(id__in=[c.id for c in issued]).order_by("id")
    assert [c.serial for c in rows] == [2] * COUNT
    assert {kid_of(c.token) for c in rows} == {new_kid}
    assert await RevocationEntry.filter(reason=service.rekey_reason(old_kid)).count() == COUNT
    # The old stickers answer `superseded`; the new codes are valid, once the running server has taken up
    # the rotated keyring (it re-reads the file at most every 2 s: the commands above may take less).
    for old, new in ((issued[0], rows[0]), (issued[1], rows[1])):
        response = await client.post("/api/v1/scan", json={"payload": old.token})
        assert (response.status_code, response.json()["error"]["code"]) == (410, "superseded")

        async def valid(token: str = new.token) -> bool:
            return (await client.post("/api/v1/scan", json={"payload": token})).status_code == 200

        await wait_for(valid)

    # Nothing signed by the key remains: it retires without --force.
    code, out, err = await gmid(settings, "keys", "retire", old_kid)
    assert code == 0, err
    assert old_kid in out and "refused from now on" not in out

    # The sheet the hint names prints exactly the reissued codes (a code issued since is not among them).
    fresh = await service.issue(kind="building", subject_id="bld-new", node_path=GRID)
    pdf = settings.keys_path.parent / "reissued.pdf"
    code, out, err = await gmid(
        settings, "qr", "sheet", "--kind", "building", "--reissued-since", hint.group(1), "--out", str(pdf), "--quiet"
    )
    assert code == 0, err
    assert out.startswith(f"{COUNT} stickers on 3 A4 pages"), out
    printed = [text for page in page_images(pdf.read_bytes()) for text in decoded(page)]
    assert set(printed) == urls(rows, settings.public_base_url)
    assert urls([fresh], settings.public_base_url).isdisjoint(printed)


async def test_retire_force_refuses_the_remaining_codes_and_says_how_many(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    credential = await service.issue(kind="building", subject_id="bld-1")
    old_kid = service.keyring().active_kid
    qr_keys.rotate(settings.keys_path)
    code, out, err = await gmid(settings, "keys", "retire", old_kid, "--force")
    assert code == 0, err
    assert out == (
        f"QR signing key {old_kid} is retired: the 1 active codes it signed are refused from now on "
        f"(reissue them: gmid qr reissue --kid {old_kid})\n"
    )
    deadline = asyncio.get_running_loop().time() + 15  # the app re-reads the keyring every 2 s
    while (response := await client.post("/api/v1/scan", json={"payload": credential.token})).status_code == 200:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)
    assert response.json()["error"]["code"] == "retired_key"


@pytest.mark.parametrize("args", [("--batch-size", "0"), ("--kid", "nosuchk1")])
async def test_reissue_refusals_are_one_line(settings: Settings, running: object, args: tuple[str, ...]) -> None:
    full = ("--kid", service.keyring().active_kid, *args) if args[0] != "--kid" else args
    code, out, err = await gmid(settings, "qr", "reissue", *full)
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith("gmid: ")


@pytest.mark.parametrize(
    "argv",
    [
        ["keys", "retire", "-Ab3xYz9"],
        ["keys", "retire", "--force", "-Ab3xYz9"],
        ["keys", "retire", "-Ab3xYz9", "--force"],
        ["qr", "reissue", "--kid", "-Ab3xYz9"],
        ["qr", "reissue", "--kid", "-Ab3xYz9", "--quiet"],
    ],
)
def test_a_kid_starting_with_a_dash_is_read_as_the_kid(argv: list[str]) -> None:
    """Kids are base64url: about one in 64 starts with "-", which argparse would take for an option."""
    from server import cli

    args = cli.build_parser().parse_args(cli._kid_not_an_option(argv))
    assert args.kid == "-Ab3xYz9"
    assert getattr(args, "force", False) == ("--force" in argv)
