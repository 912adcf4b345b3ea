"""Pack versions: ``gmid welfare load DIR`` stores a checked pack in the database as a new version; every app
instance serves the highest stored version (the pack shipped in the package while none was loaded).

An instance learns of a new version by reading the highest version number from the database at most once
every ``CHECK_SECONDS`` (one indexed row), and compiles a version once. A policy's version changes when its
content does (the hash of its parsed file); the shipped pack's policies are version 0.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from identity import audit
from miniapp_api.welfare import expr
from miniapp_api.welfare import pack as packs
from miniapp_api.welfare.models import WelfarePack, WelfarePolicyVersion
from miniapp_api.welfare.pack import reading

CHECK_SECONDS = 2.0
MAX_PACK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Served:
    version: int  # 0: the shipped pack
    pack: packs.Pack
    policy_versions: dict[str, int]
    # Per policy, the other versions with the same content as the served one (the shipped pack's version 0
    # after a first load that did not change it): a screening by one of them still holds.
    same: dict[str, frozenset[int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Loaded:
    version: int
    changed: list[str]  # policies new or changed in this version
    removed: list[str]
    unchanged: bool  # the same content as the latest version: nothing stored


_served: Served | None = None
_checked_at = 0.0
_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


def _lock() -> asyncio.Lock:
    """One lock per event loop (a lock is bound to the loop it first waited on)."""
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        for old in [k for k in _locks if k.is_closed()]:
            del _locks[old]
        lock = _locks[loop] = asyncio.Lock()
    return lock


def _shipped() -> Served:
    pack = packs.shipped()
    return Served(0, pack, dict.fromkeys(pack.policies, 0))


def pack_files(directory: Path) -> dict[str, str]:
    """The pack's files (path relative to the pack -> text), as the loader reads them. Raises ``PackError``
    for a link, anything but a regular file or one too large (what ``pack.check`` refuses too)."""
    files: dict[str, str] = {}
    problems: list[str] = []
    for folder in ("parameters", "policies"):
        linked = reading.unsafe_folder(directory / folder, f"{folder}/")
        if linked is not None:
            raise packs.PackError([linked])
    paths = [
        "variables.yaml",
        *(f"parameters/{p.name}" for p in sorted((directory / "parameters").glob("*.yaml"))),
        *(f"policies/{p.name}" for p in sorted((directory / "policies").glob("*.yaml"))),
    ]
    for rel in paths:
        if rel == "variables.yaml" and not os.path.lexists(directory / rel):
            continue
        text, problem = reading.read_text(directory / rel, rel)
        if text is None:
            problems.append(problem or f"{rel}: cannot read")
        else:
            files[rel] = text
    if problems:
        raise packs.PackError(problems)
    return files


def _compile(files: dict[str, str]) -> packs.Pack:
    with tempfile.TemporaryDirectory(prefix="gmid-welfare-") as tmp:
        root = Path(tmp)
        (root / "parameters").mkdir()
        (root / "policies").mkdir()
        for rel, text in files.items():
            (root / rel).write_text(text, encoding="utf-8")
        return packs.load(root)


def _hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _variables_used(policy: packs.Policy, pack: packs.Pack) -> set[str]:
    """The variables a policy's conditions, amount and months read, and those their formulas read in turn."""
    todo = [c.node for c in policy.conditions]
    if policy.amount is not None:
        todo.append(policy.amount.formula)
        if policy.amount.months_formula is not None:
            todo.append(policy.amount.months_formula)
    found: set[str] = set()
    while todo:
        for kind, name, _ in expr.names(todo.pop()):
            if kind == "var" and name not in found:
                found.add(name)
                var = pack.variables.get(name)
                if var is not None and var.formula is not None:
                    todo.append(var.formula)
    return found


def _policy_hashes(files: dict[str, str], pack: packs.Pack) -> dict[str, str]:
    """Each policy's content hash: its parsed file (so comments and layout do not make a new version), the
    dated values of every parameter it uses (a new dibao standard is a new version of dibao) and the
    definitions of the derived variables it reads (a new formula changes its answers too). A policy's
    status depends on the profile, the date and this only, which is what lets the push screen again only
    the policies whose version moved."""
    registry = (yaml.safe_load(files.get("variables.yaml", "")) or {}).get("variables") or {}
    out: dict[str, str] = {}
    for policy in pack.policies.values():
        raw = yaml.safe_load(files[policy.path])
        used = {
            name: [[p.starts[i], p.values[i]] for i in range(len(p.starts))]
            for name in sorted(policy.params)
            if (p := pack.parameters.get(name)) is not None
        }
        derived = {
            name: registry.get(name)
            for name in sorted(_variables_used(policy, pack))
            if (v := pack.variables.get(name)) is not None and v.formula is not None
        }
        content: dict[str, Any] = {"policy": raw}
        if used:
            content["parameters"] = used
        if derived:
            content["variables"] = derived
        out[policy.id] = _hash(content) if len(content) > 1 else _hash(raw)
    return out


def settle() -> None:
    """After a pack is compiled and served: collect once, then move everything alive (the compiled pack
    with its closures) to the permanent generation, so the collector's full passes no longer walk it
    (they were the screening's p99: 24 ms with 500 policies)."""
    gc.unfreeze()  # the pack served before (frozen too) can go now
    gc.collect()
    gc.freeze()


async def current() -> Served:
    """The pack this instance serves now (checks the database at most every CHECK_SECONDS)."""
    global _served, _checked_at
    now = time.monotonic()
    if _served is not None and now - _checked_at < CHECK_SECONDS:
        return _served
    async with _lock():
        if _served is not None and time.monotonic() - _checked_at < CHECK_SECONDS:
            return _served
        latest = await WelfarePack.all().order_by("-id").first().values_list("id", flat=True)
        version = int(latest) if latest is not None else 0  # type: ignore[call-overload]
        if _served is None or _served.version != version:
            _served = await _load_version(version)
            settle()
        _checked_at = time.monotonic()
        return _served


async def _load_version(version: int) -> Served:
    if version == 0:
        return _shipped()
    row = await WelfarePack.get(id=version)
    files = json.loads(row.files)
    pack = await asyncio.to_thread(_compile, files)
    served = {k: int(v) for k, v in json.loads(row.policy_versions).items()}
    stored = await WelfarePolicyVersion.filter(policy_id__in=list(served)).values_list(
        "policy_id", "version", "content_hash"
    )
    hashes = {(str(pid), int(v)): str(h) for pid, v, h in stored}
    shipped = _shipped_hashes()
    same: dict[str, frozenset[int]] = {}
    for pid, current_version in served.items():
        digest = hashes.get((pid, current_version))
        others = {v for (p, v), h in hashes.items() if p == pid and h == digest and v != current_version}
        if digest is not None and shipped.get(pid) == digest:
            others.add(0)
        if others:
            same[pid] = frozenset(others)
    return Served(version, pack, served, same)


_shipped_digests: dict[str, str] | None = None


def _shipped_hashes() -> dict[str, str]:
    global _shipped_digests
    if _shipped_digests is None:
        _shipped_digests = _policy_hashes(pack_files(packs.SHIPPED), packs.shipped())
    return _shipped_digests


def forget() -> None:
    """Check the database on the next ``current()`` (after a load in this process)."""
    global _checked_at
    _checked_at = 0.0


async def load(directory: Path | str, *, loaded_by: str) -> Loaded:
    """Check the pack in ``directory`` and store it as a new version, audited. Raises ``PackError`` with
    the linter's problems (nothing changes)."""
    root = Path(directory)
    problems = packs.check(root)
    if problems:
        raise packs.PackError(problems)
    files = pack_files(root)
    if sum(len(t.encode()) for t in files.values()) > MAX_PACK_BYTES:
        raise packs.PackError([f"the pack is larger than {MAX_PACK_BYTES // 1024 // 1024} MB"])
    # The texts just read are checked again and compiled: what is stored is exactly what was checked, even
    # if a file changed in the folder meanwhile (every instance compiles the stored texts).
    pack = _compile(files)
    content_hash = _hash({rel: yaml.safe_load(text) for rel, text in files.items()})  # layout and comments aside
    hashes = _policy_hashes(files, pack)
    for attempt in range(5):
        try:
            loaded = await _store(files, content_hash, hashes, loaded_by)
        except IntegrityError:  # another load took the same version number: count again
            if attempt == 4:
                raise
            continue
        forget()
        return loaded
    raise AssertionError("unreachable")


async def _store(files: dict[str, str], content_hash: str, hashes: dict[str, str], loaded_by: str) -> Loaded:
    now = dt.datetime.now(dt.UTC)
    async with in_transaction() as conn:
        latest = await WelfarePack.all().using_db(conn).order_by("-id").first()
        if latest is not None and latest.content_hash == content_hash:
            return Loaded(latest.id, [], [], True)
        version = (latest.id if latest else 0) + 1
        before = json.loads(latest.policy_versions) if latest else {}
        versions: dict[str, int] = {}
        changed: list[str] = []
        for pid, digest in sorted(hashes.items()):
            last = await WelfarePolicyVersion.filter(policy_id=pid).using_db(conn).order_by("-version").first()
            if last is not None and last.content_hash == digest:
                versions[pid] = last.version
                if pid not in before:
                    changed.append(pid)  # back in the pack
                continue
            versions[pid] = (last.version if last else 0) + 1
            changed.append(pid)
            await WelfarePolicyVersion.create(
                policy_id=pid,
                version=versions[pid],
                content_hash=digest,
                pack_version=version,
                created_at=now,
                using_db=conn,
            )
        removed = sorted(set(before) - set(versions))
        await WelfarePack.create(
            id=version,
            content_hash=content_hash,
            files=json.dumps(files, ensure_ascii=False),
            policy_versions=json.dumps(versions, sort_keys=True),
            loaded_by=loaded_by[:64],
            loaded_at=now,
            using_db=conn,
        )
        await audit.record(
            actor=loaded_by[:64],
            role="admin",
            action="welfare.pack_loaded",
            target=f"welfare_pack:{version}",
            details={"version": version, "hash": content_hash[:16], "changed": changed[:50], "removed": removed[:50]},
            using_db=conn,
        )
    return Loaded(version, changed, removed, False)
