"""The default categories and departments, and routing: which department a category goes to.

The seven categories are those of the public citizen-message data the classifier learns from
(../shared/data/civic-messages), plus the district's own: fire safety, public order, rental housing.
``ensure_defaults`` is idempotent and safe with several app instances starting at once.
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

from miniapp_api.reports.models import Category, Department, RoutingRule

DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("zjj", "光明区住房和建设局"),
    ("rsj", "光明区人力资源局"),
    ("jyj", "光明区教育局"),
    ("swj", "光明区商务局"),
    ("wjj", "光明区卫生健康局"),
    ("hbj", "深圳市生态环境局光明管理局"),
    ("jtj", "光明区交通运输局"),
    ("xf", "光明区消防救援大队"),
    ("ga", "深圳市公安局光明分局"),
    ("jd", "街道办事处（党群服务中心）"),
)

# key, name, department code
CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("urban_construction", "城乡建设", "zjj"),
    ("labour_social_security", "劳动和社会保障", "rsj"),
    ("education_culture_sports", "教育文体", "jyj"),
    ("commerce_tourism", "商贸旅游", "swj"),
    ("health_family_planning", "卫生计生", "wjj"),
    ("environment", "环境保护", "hbj"),
    ("transport", "交通运输", "jtj"),
    ("fire_safety", "消防安全", "xf"),
    ("public_order", "社会治安", "ga"),
    ("rental_housing", "出租屋管理", "jd"),
    ("other", "其他", "jd"),
)


async def ensure_defaults(using_db: BaseDBAsyncClient | None = None) -> None:
    if await Category.exists(using_db=using_db):
        return
    await Department.bulk_create(
        [Department(code=code, name=name) for code, name in DEPARTMENTS], ignore_conflicts=True, using_db=using_db
    )
    departments = {d.code: d.id for d in await Department.all().using_db(using_db)}
    await Category.bulk_create(
        [Category(key=key, name=name, department_id=departments[dept]) for key, name, dept in CATEGORIES],
        ignore_conflicts=True,
        using_db=using_db,
    )


async def suggest_department(category: Category, node_path: str) -> Department | None:
    """The rule for the deepest part of the hierarchy containing the place, else the category's own."""
    rules = await RoutingRule.filter(category_id=category.id).prefetch_related("department")
    matching = [r for r in rules if node_path.startswith(r.node_path)]
    if matching:
        best = max(matching, key=lambda r: len(r.node_path))
        return best.department
    if category.department_id is None:
        return None
    return await Department.get_or_none(id=category.department_id)
