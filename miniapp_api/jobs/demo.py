"""Seeded demo data for job matching: enterprises, postings and seekers as plain dicts.

``generate(seed, enterprises=, postings=, seekers=)`` is deterministic for a seed (``random.Random(seed)``),
uses the shipped occupation codes and skill slugs, places everyone in the Guangming area (22.70-22.82 N,
113.85-113.98 E), and pays Shenzhen wages: the minimum wage is 2,520 yuan/month from 2025-03-01, typical
factory jobs 4,500-7,000, skilled trades and office work above. Used by the bench (100,000 of each in a
few seconds) and by ``gmid seed-demo``. Names and phones are invented; credit codes carry a valid
GB 32100-2015 check character but belong to no real enterprise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from miniapp_api.jobs.vocab import EDUCATION

MIN_WAGE_MONTH = 2520  # Shenzhen, from 2025-03-01
LAT = (22.70, 22.82)
LON = (113.85, 113.98)
NODES = ("GM0101", "GM0102", "GM0201", "GM0202")


@dataclass(frozen=True)
class Role:
    title: str
    occupation: str  # 2022 大典 code: a shipped detail occupation, or a small group
    required: tuple[str, ...]
    preferred: tuple[str, ...]
    education: str
    salary: tuple[int, int]  # monthly yuan, typical low/high
    shifts: tuple[str, ...]
    weight: int  # how common in Guangming


ROLES: tuple[Role, ...] = (
    Role(
        "电子厂普工",
        "6-25-04-07",
        ("assembly_line",),
        ("electronics_assembly", "shift_work"),
        "junior",
        (4500, 6500),
        ("day", "night", "rotating"),
        18,
    ),
    Role(
        "SMT操作员",
        "6-25-04-07",
        ("smt",),
        ("aoi_inspection", "reflow_soldering", "shift_work"),
        "junior",
        (5000, 7000),
        ("rotating",),
        8,
    ),
    Role(
        "插件焊锡工",
        "6-25-04",
        ("soldering",),
        ("electronics_assembly", "wave_soldering"),
        "junior",
        (4800, 6500),
        ("day",),
        5,
    ),
    Role(
        "品检员",
        "6-31-03-05",
        ("quality_inspection",),
        ("precision_measurement", "pcb_inspection", "excel"),
        "senior",
        (4800, 6800),
        ("day", "rotating"),
        7,
    ),
    Role(
        "CNC操机师傅",
        "6-18-01-07",
        ("cnc_operation",),
        ("blueprint_reading", "precision_measurement"),
        "junior",
        (6000, 9000),
        ("day", "night"),
        6,
    ),
    Role(
        "CNC编程员",
        "6-18-01",
        ("cnc_programming", "cad"),
        ("ug_nx", "cnc_operation"),
        "senior",
        (8000, 13000),
        ("day",),
        2,
    ),
    Role(
        "注塑技术员",
        "6-14-02-00",
        ("injection_moulding",),
        ("mould_making", "team_leading"),
        "senior",
        (6000, 9000),
        ("day", "rotating"),
        4,
    ),
    Role(
        "电焊工", "6-18-02-04", ("welding",), ("argon_arc_welding", "co2_welding"), "junior", (6500, 9500), ("day",), 4
    ),
    Role(
        "模具钳工",
        "6-18-04-01",
        ("mould_making", "fitter"),
        ("edm", "blueprint_reading"),
        "senior",
        (7000, 11000),
        ("day",),
        2,
    ),
    Role(
        "设备维修电工",
        "6-31-01-03",
        ("electrician",),
        ("equipment_maintenance", "plc"),
        "senior",
        (6500, 9500),
        ("day", "rotating"),
        4,
    ),
    Role(
        "自动化工程师",
        "2-02-07",
        ("plc", "automation"),
        ("industrial_robot", "hmi", "cad"),
        "college",
        (9000, 16000),
        ("day",),
        2,
    ),
    Role("叉车司机", "6-30-05-01", ("forklift",), ("warehouse",), "junior", (5500, 7500), ("day", "night"), 4),
    Role("仓管员", "4-02-06-01", ("warehouse",), ("excel", "wms", "erp"), "senior", (5000, 7000), ("day",), 5),
    Role("外卖骑手", "4-10-08-01", ("delivery_riding",), ("electric_bike",), "none", (6000, 10000), ("flexible",), 5),
    Role("快递员", "4-02-07-08", ("courier",), ("electric_bike", "driving_c1"), "junior", (6000, 9000), ("day",), 3),
    Role("货车司机", "4-02-02-02", ("driving_b2",), ("driving_c1",), "junior", (7000, 10000), ("day",), 2),
    Role("厨师", "4-03-02-01", ("cooking",), ("food_safety", "cantonese"), "junior", (5500, 9000), ("day",), 3),
    Role(
        "餐厅服务员", "4-03-02-05", ("waiter",), ("cashier", "cantonese"), "junior", (4200, 5500), ("day", "weekend"), 4
    ),
    Role("保洁员", "4-09-08-01", ("cleaning",), (), "none", (3200, 4200), ("day",), 3),
    Role(
        "保安员",
        "4-07-05-01",
        ("security_guard",),
        ("fire_safety", "cctv_monitoring"),
        "junior",
        (4200, 5500),
        ("rotating", "night"),
        4,
    ),
    Role(
        "养老护理员",
        "4-10-01-05",
        ("elderly_care",),
        ("first_aid", "cantonese", "nursing"),
        "junior",
        (5000, 7000),
        ("rotating",),
        2,
    ),
    Role("育婴员", "4-10-01", ("childcare",), ("housekeeping", "first_aid"), "junior", (6000, 9000), ("day",), 1),
    Role("美发师", "4-10-03-02", ("hairdressing",), ("beauty",), "junior", (5000, 9000), ("day", "weekend"), 1),
    Role(
        "门店销售",
        "4-01-02",
        ("sales",),
        ("cashier", "cantonese", "customer_service"),
        "senior",
        (4500, 8000),
        ("day", "weekend"),
        3,
    ),
    Role(
        "客服专员",
        "4-07-02",
        ("customer_service",),
        ("office_software", "mandarin"),
        "senior",
        (4500, 6500),
        ("day", "rotating"),
        3,
    ),
    Role("收银员", "4-01-02-04", ("cashier",), ("retail_store",), "junior", (4000, 5200), ("day", "weekend"), 2),
    Role(
        "行政文员",
        "3-01-02",
        ("admin", "office_software"),
        ("excel", "reception"),
        "college",
        (4500, 6500),
        ("day",),
        3,
    ),
    Role("会计", "2-06-03", ("accounting", "excel"), ("tax", "erp"), "college", (6000, 10000), ("day",), 2),
    Role(
        "外贸业务员",
        "4-01-03",
        ("foreign_trade", "english"),
        ("import_export", "sales"),
        "college",
        (6000, 12000),
        ("day",),
        1,
    ),
    Role(
        "电商运营",
        "4-01-06",
        ("ecommerce",),
        ("excel", "graphic_design", "live_streaming"),
        "college",
        (6000, 11000),
        ("day",),
        2,
    ),
    Role("软件工程师", "2-02-10", ("java", "sql"), ("python", "web_frontend"), "bachelor", (12000, 22000), ("day",), 1),
    Role(
        "硬件工程师",
        "2-02-09",
        ("electronic_design",),
        ("embedded", "oscilloscope", "english"),
        "bachelor",
        (11000, 20000),
        ("day",),
        1,
    ),
    Role(
        "机械工程师",
        "2-02-07",
        ("mechanical_design", "solidworks"),
        ("cad", "automation"),
        "bachelor",
        (10000, 16000),
        ("day",),
        1,
    ),
)
_ROLE_WEIGHTS = [r.weight for r in ROLES]

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许邓冯韩曹曾彭"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文辉鹏飞婷雪梅志红"
_BRANDS = "华光明凯达信诚鑫宏盛隆泰佳创新源科德精益恒通"
_KINDS = (
    ("电子科技有限公司", "electronics"),
    ("精密五金制品有限公司", "hardware"),
    ("塑胶模具有限公司", "plastics"),
    ("智能装备有限公司", "equipment"),
    ("物流有限公司", "logistics"),
    ("餐饮管理有限公司", "catering"),
    ("物业服务有限公司", "property"),
    ("健康养老服务有限公司", "care"),
)
_KIND_ROLES = {
    "electronics": ("电子厂普工", "SMT操作员", "插件焊锡工", "品检员", "硬件工程师", "仓管员", "行政文员"),
    "hardware": ("CNC操机师傅", "CNC编程员", "电焊工", "模具钳工", "品检员", "机械工程师"),
    "plastics": ("注塑技术员", "模具钳工", "品检员", "电子厂普工", "叉车司机"),
    "equipment": ("自动化工程师", "设备维修电工", "机械工程师", "电焊工", "软件工程师", "会计"),
    "logistics": ("叉车司机", "仓管员", "快递员", "货车司机", "外卖骑手", "客服专员"),
    "catering": ("厨师", "餐厅服务员", "收银员", "保洁员", "门店销售"),
    "property": ("保安员", "保洁员", "客服专员", "设备维修电工"),
    "care": ("养老护理员", "育婴员", "保洁员", "行政文员", "会计"),
}
_ROLE_BY_TITLE = {r.title: r for r in ROLES}

# GB 32100-2015: 18 characters from this alphabet (no I, O, S, V, Z); the last is a weighted check character.
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a 统一社会信用代码."""
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def _credit_code(rng: random.Random) -> str:
    # 9 (工商) 1 (企业), 440311 (Shenzhen Guangming district's division code), 9-character organisation code.
    body = "91440311" + "".join(rng.choice(_CREDIT_ALPHABET) for _ in range(9))
    return body + credit_check_char(body)


def _point(rng: random.Random) -> tuple[float, float]:
    return round(rng.uniform(*LAT), 6), round(rng.uniform(*LON), 6)


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _skill(slug: str, names: dict[str, str]) -> dict[str, str | None]:
    return {"id": slug, "text": names.get(slug, slug)}


def _names() -> dict[str, str]:
    from miniapp_api.jobs.taxonomy import Taxonomy

    taxonomy = Taxonomy.load()
    return {slug: skill.name for slug, skill in taxonomy.skills.items()}


def _salary(rng: random.Random, role: Role) -> tuple[int, int]:
    low, high = role.salary
    lo = max(MIN_WAGE_MONTH, int(rng.uniform(low * 0.9, low * 1.1)) // 100 * 100)
    hi = max(lo + 500, int(rng.uniform(high * 0.9, high * 1.1)) // 100 * 100)
    return lo, hi


def enterprises(rng: random.Random, count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        suffix, kind = rng.choice(_KINDS)
        lat, lon = _point(rng)
        brand = "".join(rng.sample(_BRANDS, 2))
        out.append(
            {
                "ref": f"E{i:06d}",
                "name": f"深圳市{brand}{suffix}",
                "credit_code": _credit_code(rng),
                "kind": kind,
                "node": rng.choice(NODES),
                "lat": lat,
                "lon": lon,
                "verified": rng.random() < 0.9,
            }
        )
    return out


def postings(
    rng: random.Random, count: int, companies: list[dict[str, Any]], today: date, names: dict[str, str]
) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        company = companies[rng.randrange(len(companies))]
        role = _ROLE_BY_TITLE[rng.choice(_KIND_ROLES[company["kind"]])]
        low, high = _salary(rng, role)
        hourly = role.title in ("外卖骑手", "保洁员", "餐厅服务员") and rng.random() < 0.2
        out.append(
            {
                "ref": f"P{i:07d}",
                "enterprise": company["ref"],
                "title": role.title,
                "occupation": role.occupation,
                "skills_required": [_skill(s, names) for s in role.required],
                "skills_preferred": [_skill(s, names) for s in role.preferred if rng.random() < 0.6],
                "education": role.education,
                "experience_years": rng.choice((0, 0, 0, 1, 1, 2, 3, 5)),
                # Hourly posts quote the hour; the matcher compares monthly (hour x 8 x 21.75).
                "salary_min": round(low / 174, 0) if hourly else low,
                "salary_max": round(high / 174, 0) if hourly else high,
                "salary_period": "hour" if hourly else "month",
                "lat": round(company["lat"] + rng.uniform(-0.002, 0.002), 6),
                "lon": round(company["lon"] + rng.uniform(-0.002, 0.002), 6),
                "shifts": sorted(set(rng.sample(role.shifts, k=rng.randint(1, len(role.shifts))))),
                "employment_type": "part_time" if hourly else rng.choice(("full_time",) * 9 + ("temporary",)),
                "openings": rng.choice((1, 1, 2, 3, 5, 10, 20)),
                "valid_through": (today + timedelta(days=rng.randint(7, 90))).isoformat(),
                "node": company["node"],
            }
        )
    return out


def seekers(rng: random.Random, count: int, names: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        role = rng.choices(ROLES, weights=_ROLE_WEIGHTS)[0]
        second = rng.choices(ROLES, weights=_ROLE_WEIGHTS)[0]
        held = [s for s in role.required if rng.random() < 0.85]
        held += [s for s in role.preferred if rng.random() < 0.4]
        held += [s for s in second.required if rng.random() < 0.25]
        skills = [_skill(s, names) for s in dict.fromkeys(held)]
        if rng.random() < 0.1:  # free text that maps to nothing stays, with id None
            skills.append({"id": None, "text": rng.choice(("吃苦耐劳", "能加班", "会开摩托车", "手脚麻利"))})
        level = EDUCATION.index(role.education) + rng.choice((-1, 0, 0, 0, 1))
        low, high = _salary(rng, role)
        lat, lon = _point(rng)
        out.append(
            {
                "ref": f"S{i:07d}",
                "name": _person(rng),
                "phone": "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9)),
                "desired_occupations": sorted(
                    {role.occupation, second.occupation} if rng.random() < 0.3 else {role.occupation}
                ),
                "skills": skills,
                "education": EDUCATION[min(max(level, 0), len(EDUCATION) - 1)],
                "experience_years": rng.choice((0, 0, 1, 2, 3, 4, 5, 8, 10)),
                "expected_salary": int(rng.uniform(low, (low + high) / 2)) // 100 * 100,
                "salary_period": "month",
                # The home is stored rounded to 3 decimals (about 100 m), never the exact address.
                "home_lat": round(lat, 3),
                "home_lon": round(lon, 3),
                "radius_km": rng.choice((2, 3, 5, 5, 8, 10, 15)),
                "shifts": sorted(set(rng.sample(role.shifts, k=rng.randint(1, len(role.shifts))))),
                "employment_types": ["full_time"] if rng.random() < 0.8 else ["full_time", "part_time"],
                "available": rng.random() < 0.9,
                "opt_in": rng.random() < 0.7,
                "node": rng.choice(NODES),
            }
        )
    return out


def generate(
    seed: int = 17,
    *,
    enterprise_count: int = 50,
    posting_count: int = 200,
    seeker_count: int = 200,
    today: date | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Enterprises, postings and seekers, the same for the same seed (and ``today``)."""
    rng = random.Random(seed)
    names = _names()
    day = today or date(2026, 1, 5)
    companies = enterprises(rng, max(1, enterprise_count))
    return {
        "enterprises": companies,
        "postings": postings(rng, posting_count, companies, day, names),
        "seekers": seekers(rng, seeker_count, names),
    }
