"""The reports bench's people: residents, party members and staff at every level, and their sign-in."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from _load import Figures, error_code
from _reports_seed import (
    grid_weights,
)

from identity import hierarchy, tokens
from identity import service as identity_service
from identity.models import Account, Node
from identity.passwords import hash_password_async
from identity.roles import NodeLevel, Role
from miniapp_api.reports import catalogue
from miniapp_api.reports.models import Report
from server import db
from server.app import load_access_token_secret
from server.settings import Settings

STAFF_PASSWORD = "bench-Reports-2026!"  # noqa: S105 - the bench's own throwaway staff accounts


@dataclass
class Place:
    code: str
    path: str
    street: str  # the street's path, for its officer


@dataclass
class People:
    grids: list[Place]
    feed_staff: list[tuple[str, str, str]]  # (level, node path, username)
    grid_usernames: dict[str, str]  # grid path -> username
    officer_usernames: dict[str, str]  # street path -> username
    resident_tokens: list[str]
    party_tokens: list[tuple[str, str]]  # (token, grid path)
    buildings: dict[str, tuple[str, ...]]


async def prepare(settings: Settings, residents: int, party_members: int) -> People:
    """The hierarchy, the categories, the staff (with a password), the day's residents and party members."""
    await db.open_db(settings)
    try:
        if await Report.exists():
            raise RuntimeError("the bench database already holds reports")
        if not await Node.exists(code="GM"):
            await hierarchy.load_file(hierarchy.demo_file())
        await catalogue.ensure_defaults()
        nodes = {n.path: n for n in await Node.all()}
        grids = sorted(
            (
                Place(n.code, n.path, "/".join(n.path.split("/")[:3]) + "/")
                for n in nodes.values()
                if n.level is NodeLevel.GRID
            ),
            key=lambda p: p.code,
        )
        if not grids:
            raise RuntimeError("the hierarchy has no grid nodes")
        # The feed's staff: the busiest grid's worker and the community, street and district above it.
        busiest = max(zip(grid_weights([g.path for g in grids]), grids, strict=True), key=lambda pair: pair[0])[1]
        parts = [p for p in busiest.path.split("/") if p]
        password_hash = await hash_password_async(STAFF_PASSWORD)  # once: every bench staff member shares it
        staff: list[Account] = []
        grid_usernames = {g.path: f"bench.grid.{g.code.lower()}" for g in grids}
        for grid in grids:
            staff.append(_staff(grid_usernames[grid.path], Role.GRID_STAFF, nodes[grid.path], password_hash))
        officer_usernames: dict[str, str] = {}
        for path, node in nodes.items():
            if node.level is NodeLevel.STREET:
                officer_usernames[path] = f"bench.officer.{node.code.lower()}"
                staff.append(_staff(officer_usernames[path], Role.OFFICER, node, password_hash))
        feed_staff = [("grid", busiest.path, grid_usernames[busiest.path])]
        for level, depth in (("community", 3), ("street", 2), ("district", 1)):
            path = "/" + "/".join(parts[:depth]) + "/"
            username = f"bench.{level}.{parts[depth - 1].lower()}"
            feed_staff.append((level, path, username))
            staff.append(_staff(username, Role.GRID_STAFF, nodes[path], password_hash))
        await Account.bulk_create(staff, batch_size=500)
        await Account.bulk_create(
            [
                Account(public_id=identity_service.new_public_id(), role=Role.RESIDENT, wechat_openid=f"oGMDAY{r:020d}")
                for r in range(residents)
            ],
            batch_size=1000,
        )
        rng = random.Random(7)
        party_grids = [rng.choice(grids) for _ in range(party_members)]
        await Account.bulk_create(
            [
                Account(
                    public_id=identity_service.new_public_id(),
                    role=Role.PARTY_MEMBER,
                    node_id=nodes[g.path].id,
                    wechat_openid=f"oGMPARTY{p:018d}",
                )
                for p, g in enumerate(party_grids)
            ],
            batch_size=1000,
        )
        resident_ids = (
            await Account.filter(wechat_openid__startswith="oGMDAY").order_by("id").values_list("public_id", flat=True)
        )
        party_ids = (
            await Account.filter(wechat_openid__startswith="oGMPARTY")
            .order_by("id")
            .values_list("public_id", flat=True)
        )
        buildings: dict[str, list[str]] = {}
        for path, code in await _building_codes():
            buildings.setdefault(path, []).append(code)
    finally:
        await db.close_db()
    secret = load_access_token_secret(settings)

    def token(public_id: str, role: Role, node_path: str | None) -> str:
        # Residents and party members sign in with WeChat, which benches do not have: tokens made here.
        value, _ = tokens.issue_access_token(
            secret=secret, account_id=public_id, role=role, node_path=node_path, ttl=6 * 3600
        )
        return value

    return People(
        grids=grids,
        feed_staff=feed_staff,
        grid_usernames=grid_usernames,
        officer_usernames=officer_usernames,
        resident_tokens=[token(str(pid), Role.RESIDENT, None) for pid in resident_ids],
        party_tokens=[
            (token(str(pid), Role.PARTY_MEMBER, g.path), g.path) for pid, g in zip(party_ids, party_grids, strict=True)
        ],
        buildings={path: tuple(codes) for path, codes in buildings.items()},
    )


def _staff(username: str, role: Role, node: Node, password_hash: str) -> Account:
    return Account(
        public_id=identity_service.new_public_id(),
        role=role,
        node_id=node.id,
        username=username,
        password_hash=password_hash,
    )


async def _building_codes() -> list[tuple[str, str]]:
    from miniapp_api.buildings.models import Building

    rows = await Building.all().order_by("code").values_list("node_path", "code")
    return [(str(path), str(code)) for path, code in rows]


async def sign_in(base_url: str, usernames: Sequence[str], concurrency: int) -> tuple[dict[str, str], Figures]:
    """Staff sign in over HTTP, as the grid app does: username -> access token."""
    figures = Figures("POST /auth/login")
    signed: dict[str, str] = {}
    todo = iter(usernames)

    async def task(client: httpx.AsyncClient) -> None:
        for username in todo:
            started = time.perf_counter_ns()
            answer = await client.post("/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD})
            figures.latencies_ns.append(time.perf_counter_ns() - started)
            if answer.status_code != 200:
                figures.failures[error_code(answer)] += 1
                continue
            signed[username] = str(answer.json()["access_token"])

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, trust_env=False) as client:
        await asyncio.gather(*(task(client) for _ in range(min(concurrency, 8))))
    figures.seconds = time.perf_counter() - started
    missing = [u for u in usernames if u not in signed]
    if missing:
        raise RuntimeError(f"{len(missing)} staff could not sign in: {figures.failures.most_common(3)}")
    return signed, figures
