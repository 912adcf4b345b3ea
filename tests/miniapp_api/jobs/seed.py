"""Helpers for job tests: callers, valid request bodies, and a verified enterprise with its employer,
all made through the HTTP API (the way a user would)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from tests.factories import auth, load_demo_hierarchy
from tests.miniapp_api.ebikes.conftest import User, user

ENTERPRISES = "/api/v1/jobs/enterprises"
OWN = "/api/v1/employer/postings"
PUBLIC = "/api/v1/jobs/postings"
PASSWORD = "Employer-pass-2026!"

# Real, published codes (each passes both check characters here):
# 91440300708461136T 腾讯科技（深圳）有限公司 (Tencent, Shenzhen), 914403001922038216 华为技术有限公司,
# 91110000802100433B 北京百度网讯科技有限公司, 91330100799655058B 阿里巴巴（中国）有限公司.
REAL_CODES = ("91440300708461136T", "914403001922038216", "91110000802100433B", "91330100799655058B")
_codes = itertools.cycle(REAL_CODES)
_n = itertools.count(1)


def beijing_today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def enterprise_body(code: str | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "光明精密制造有限公司",
        "uscc": code or next(_codes),
        "address": "深圳市光明区光明街道华夏路1号",
        "node": "GM0101",
        "contact": {"name": "李四", "phone": "13912340001"},
    }
    body.update(changes)
    return body


def posting_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "电焊工",
        "description": "负责钢结构焊接。\n持证优先。",
        "occupation_code": "6-18-02",
        "skills_required": ["电焊"],
        "skills_preferred": ["氩弧焊"],
        "education_min": "junior",
        "experience_min_years": 1,
        "salary_min": 6000,
        "salary_max": 8000,
        "salary_period": "month",
        "employment_type": "full_time",
        "shifts": ["day"],
        "hours": "8:00-17:30",
        "lat": 22.75,
        "lon": 113.93,
        "openings": 3,
        "valid_through": (beijing_today() + dt.timedelta(days=30)).isoformat(),
    }
    body.update(changes)
    return body


@dataclass
class Firm:
    id: str
    uscc: str
    employer: dict[str, str]  # the employer's auth headers
    staff: User  # employment staff of the firm's street


async def staff(app: Sanic, node: str = "GM01") -> User:
    await load_demo_hierarchy()
    return await user(app, Role.EMPLOYMENT_STAFF, node=node)


async def firm(app: Sanic, client: httpx.AsyncClient, *, code: str, node: str = "GM0101", verify: bool = True) -> Firm:
    """An enterprise registered by its street's employment staff, verified, with one employer account
    signed in through /api/v1/auth/login."""
    street = "GM" + node[2:4]
    officer = await staff(app, street)
    made = await client.post(ENTERPRISES, json=enterprise_body(code, node=node), headers=officer.headers)
    assert made.status_code == 201, made.text
    enterprise_id = made.json()["id"]
    done = await client.post(f"{ENTERPRISES}/{enterprise_id}/verify", headers=officer.headers)
    assert done.status_code == 200, done.text
    username = f"hr{next(_n)}.{code[-6:].lower()}"
    account = await client.post(
        f"{ENTERPRISES}/{enterprise_id}/employers",
        json={"username": username, "password": PASSWORD},
        headers=officer.headers,
    )
    assert account.status_code == 201, account.text
    login = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    if not verify:
        await client.post(f"{ENTERPRISES}/{enterprise_id}/suspend", json={"reason": "核查中"}, headers=officer.headers)
    return Firm(enterprise_id, code, auth(login.json()["access_token"]), officer)


async def live_posting(client: httpx.AsyncClient, employer: dict[str, str], **changes: Any) -> str:
    made = await client.post(OWN, json=posting_body(**changes), headers=employer)
    assert made.status_code == 201, made.text
    posting_id: str = made.json()["id"]
    published = await client.post(f"{OWN}/{posting_id}/publish", headers=employer)
    assert published.status_code == 200, published.text
    return posting_id
