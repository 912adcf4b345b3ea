"""``gmid seed-demo``'s job matching part: a few verified enterprises with an employer account each, live
postings, and subscribed seekers (resident accounts with a profile), from ``demo.generate``. Idempotent: an
enterprise whose code exists, a seeker whose demo openid exists, is left as it is."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from identity import service as identity_service
from identity.models import Account, Node
from identity.roles import Role
from miniapp_api.jobs import demo, rows, uscc, vocab
from miniapp_api.jobs.enterprises import seal_contact, utcnow
from miniapp_api.jobs.models import EmployerBinding, Enterprise, Posting, SeekerProfile
from miniapp_api.jobs.postings import today
from server import public_ids


def _valid_code(raw: str) -> str | None:
    """The demo code with its organisation-code check digit (GB 11714) fixed, then the USCC check character."""
    org = uscc.org_check_char(raw[8:16])
    if org == "X":
        return None  # X is not a USCC character: take the next enterprise
    first17 = raw[:16] + org
    return first17 + uscc.check_char(first17)


def posting_fields(p: dict[str, Any]) -> dict[str, Any]:
    """A generated posting (demo.py) as Posting's columns, the monthly pay worked out (the bench seeds with it too)."""
    period = p["salary_period"]
    return {
        "title": p["title"],
        "occupation_code": p["occupation"],
        "skills_required": p["skills_required"],
        "skills_preferred": p["skills_preferred"],
        "education_min": p["education"],
        "experience_min_years": p["experience_years"],
        "salary_min": int(p["salary_min"]),
        "salary_max": int(p["salary_max"]),
        "salary_period": period,
        "salary_monthly_min": round(vocab.monthly(p["salary_min"], period)),
        "salary_monthly_max": round(vocab.monthly(p["salary_max"], period)),
        "employment_type": p["employment_type"],
        "shifts": p["shifts"],
        "lat": p["lat"],
        "lon": p["lon"],
        "openings": p["openings"],
    }


def seeker_fields(s: dict[str, Any]) -> dict[str, Any]:
    """A generated seeker (demo.py) as SeekerProfile's columns (visibility and pushes left to the caller)."""
    return {
        "desired_occupations": s["desired_occupations"],
        "skills": s["skills"],
        "education": s["education"],
        "experience_years": s["experience_years"],
        "expected_salary_monthly": s["expected_salary"],
        "home_lat": s["home_lat"],
        "home_lon": s["home_lon"],
        "radius_km": float(s["radius_km"]),
        "employment_types": s["employment_types"],
        "shifts": s["shifts"],
    }


async def seed_jobs(
    *, enterprises: int = 4, postings_per: int = 3, seekers: int = 12, password: str | None = None, seed: int = 17
) -> list[str]:
    """What was made, one line each (passwords shown only for accounts made now)."""
    data = demo.generate(seed, enterprise_count=enterprises * 3, posting_count=enterprises * 30, seeker_count=seekers)
    lines: list[str] = []
    now = utcnow()
    made = 0
    for n, company in enumerate(data["enterprises"]):
        if made >= enterprises:
            break
        code = _valid_code(company["credit_code"])
        if code is None:
            continue
        made += 1
        if await Enterprise.exists(uscc=code):
            lines.append(f"enterprise {company['name']}: exists")
            continue
        node = await Node.get(code=company["node"])
        enterprise = await Enterprise.create(
            public_id=public_ids.new("en_"),
            name=company["name"],
            uscc=code,
            address=f"深圳市光明区演示路{n + 1}号",
            node=node,
            contact_enc=seal_contact("演示联系人", f"1370000{1000 + n:04d}"),
            status="verified",
            registered_by="seed-demo",
            verified_by="seed-demo",
            verified_at=now,
            created_at=now,
            updated_at=now,
        )
        username = f"demo.hr{made}"
        chosen = password or secrets.token_urlsafe(12)
        name, password_hash = await identity_service.prepare_password_account(username=username, password=chosen)
        if not await Account.exists(username=name):
            account = await Account.create(
                public_id=identity_service.new_public_id(),
                role=Role.EMPLOYER,
                node=None,
                username=name,
                password_hash=password_hash,
            )
            await EmployerBinding.create(account=account, enterprise=enterprise, created_by="seed-demo", created_at=now)
            shown = "(from stdin)" if password else chosen
            lines.append(f"employer {name}: {company['name']}, password {shown}")
        mine = [p for p in data["postings"] if p["enterprise"] == company["ref"]][:postings_per]
        for p in mine:
            await Posting.create(
                **posting_fields(p),
                public_id=public_ids.new("jp_"),
                enterprise=enterprise,
                node=node,
                description=f"{p['title']}，{company['name']}招聘（演示数据）。",
                status="live",
                valid_through=today() + dt.timedelta(days=60),
                published_at=now,
                created_at=now,
                updated_at=now,
            )
        lines.append(f"enterprise {company['name']}: verified, {len(mine)} live posting(s)")
    for i, s in enumerate(data["seekers"], start=1):
        openid = f"demo-seeker-{i}"
        if await Account.exists(wechat_openid=openid):
            lines.append(f"seeker {openid}: exists")
            continue
        account = await Account.create(
            public_id=identity_service.new_public_id(), role=Role.RESIDENT, wechat_openid=openid
        )
        await SeekerProfile.create(
            account=account,
            **seeker_fields(s),
            visible=s["opt_in"],
            subscribed=True,
            created_at=now,
            updated_at=now,
        )
        lines.append(f"seeker {openid}: profile (try: gmid token {openid})")
    rows.skills.forget()
    return lines
