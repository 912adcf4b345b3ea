"""``gmid welfare load DIR``: a bad pack is refused with the linter's messages and changes nothing; a good
one becomes a new version every app instance serves, audited; a policy's version moves only when its
content does; loading the same content again stores nothing."""

from __future__ import annotations

from pathlib import Path

import httpx

from identity.audit import AuditEntry
from miniapp_api.welfare import versions
from miniapp_api.welfare.models import WelfarePack, WelfarePolicyVersion
from server.settings import Settings
from tests.support.cli import gmid


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


async def served_version(client: httpx.AsyncClient) -> int:
    versions.forget()  # what another instance sees within CHECK_SECONDS
    answer = await client.get("/api/v1/welfare/policies")
    return int(answer.json()["pack_version"])


async def test_gmid_welfare_load_versions_audits_and_refuses_bad_packs(
    settings: Settings, client: httpx.AsyncClient, pack_dir: Path
) -> None:
    assert await served_version(client) == 0  # the shipped pack
    edit(pack_dir / "policies" / "dibao.yaml", "param.dibao.standard", "param.dibao.no_such_thing")
    code, out, err = await gmid(settings, "welfare", "load", str(pack_dir))
    assert code == 1 and "unknown parameter param.dibao.no_such_thing" in err and "nothing was loaded" in err
    assert not await WelfarePack.exists() and await served_version(client) == 0
    edit(pack_dir / "policies" / "dibao.yaml", "param.dibao.no_such_thing", "param.dibao.standard")
    code, out, err = await gmid(settings, "welfare", "load", str(pack_dir), "--by", "admin-wang")
    assert code == 0, err
    assert "version 1 loaded" in out
    first = await WelfarePack.get(id=1)
    assert first.loaded_by == "admin-wang" and len(first.content_hash) == 64
    assert await served_version(client) == 1
    entry = await AuditEntry.get(action="welfare.pack_loaded")
    assert entry.actor == "admin-wang" and entry.target == "welfare_pack:1"
    # The same content (a comment aside): nothing new.
    edit(pack_dir / "policies" / "childcare.yaml", "id: childcare", "id: childcare  # a comment")
    code, out, _ = await gmid(settings, "welfare", "load", str(pack_dir))
    assert code == 0 and "nothing was loaded" in out
    # One policy changed: only its version moves.
    edit(pack_dir / "policies" / "childcare.yaml", "no_application: false", "no_application: true")
    code, out, err = await gmid(settings, "welfare", "load", str(pack_dir))
    assert code == 0 and "version 2 loaded" in out and "childcare;" in out, (out, err)
    assert await WelfarePolicyVersion.filter(policy_id="childcare").count() == 2
    assert await WelfarePolicyVersion.filter(policy_id="dibao").count() == 1
    assert await served_version(client) == 2
    one = (await client.get("/api/v1/welfare/policies/childcare")).json()
    assert one["version"] == 2 and one["no_application"] is True and one["pack_version"] == 2
    assert (await client.get("/api/v1/welfare/policies/dibao")).json()["version"] == 1


async def test_two_loads_at_once_both_become_versions(
    client: httpx.AsyncClient, pack_dir: Path, tmp_path: Path
) -> None:
    import asyncio
    import shutil

    other = tmp_path / "other"
    shutil.copytree(pack_dir, other)
    edit(other / "policies" / "childcare.yaml", "no_application: false", "no_application: true")
    done = await asyncio.gather(versions.load(pack_dir, loaded_by="a"), versions.load(other, loaded_by="b"))
    assert sorted(d.version for d in done) == [1, 2]
    assert await WelfarePack.all().count() == 2
    assert await served_version(client) == 2
