"""Similar open reports: those of the same category from the last 7 days at the same building or within
about 100 m, offered before one files the same thing again; each as its public view, its distance
reckoned from its point rounded as Open311 publishes it. Also the distance and box helpers other
features place reports with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from math import asin, cos, radians, sin, sqrt

from tortoise.expressions import Q

from identity import hierarchy
from identity.roles import CIVIC_STAFF_ROLES, Role
from identity.scope import is_district_level
from miniapp_api.reports import states
from miniapp_api.reports.access import (
    PERSONAL_CATEGORIES,
    PRIVATE_CATEGORIES,
    closed_categories,
    community_places,
)
from miniapp_api.reports.models import Category, Report
from miniapp_api.reports.service import utcnow
from server.auth import Principal
from server.errors import ValidationFailed

SIMILAR_DAYS = 7
SIMILAR_METRES = 100.0


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine), in metres."""
    dlat, dlng = radians(lat2 - lat1), radians(lng2 - lng1)
    a = sin(dlat / 2) ** 2 + cos(radians(lat1)) * cos(radians(lat2)) * sin(dlng / 2) ** 2
    return 2 * 6_371_000 * asin(sqrt(a))


def near_box(lat: float, lng: float, metres: float = SIMILAR_METRES) -> Q:
    """Points within a box of about ``metres`` around (lat, lng): an indexable first cut before distance_m.
    A degree of longitude shrinks with the latitude; 1.2 covers Shenzhen's (1/cos 22.7° = 1.08)."""
    box = metres / 111_000
    lng_box = box * max(1.2, 1 / max(cos(radians(lat)), 0.01))
    return Q(lat__gte=lat - box, lat__lte=lat + box, lng__gte=lng - lng_box, lng__lte=lng + lng_box)


@dataclass(frozen=True)
class Similar:
    """One suggestion: nothing of who filed it or what they wrote, no exact position."""

    report: Report
    distance_m: float | None  # rough: from the report's point rounded to about 100 m, to 10 m
    building: str | None  # the building, only for staff in scope who asked about that building
    place: str | None  # the community's name


# A suggested report's point is known to the caller only as rounded as Open311 publishes it (3
# decimals, about 100 m): the distance, and whether it is "within 100 m" at all, are reckoned from that
# rounded point, so no series of queries from chosen points can find where someone stood.
SIMILAR_DECIMALS = 3


def rough_point(lat: float, lng: float) -> tuple[float, float]:
    return round(lat, SIMILAR_DECIMALS), round(lng, SIMILAR_DECIMALS)


async def similar(
    *,
    principal: Principal,
    category_key: str,
    node_code: str | None,
    building_code: str | None,
    lat: float | None,
    lng: float | None,
    limit: int = 10,
) -> list[Similar]:
    """Open reports of the same category from the last 7 days at the same building or within about
    100 m (nearest first), so one can follow a report instead of filing the same thing again; with
    neither, the newest of the node named. Staff see those under their own node only, and at the very
    building they name. A resident sees any but police matters and personal ones (health, labour), and a
    building named by a resident counts as its grid: building codes are sequential and printed on
    stickers, so an answer by the building would tell anyone which building has an open report. Each
    answer is the public view: no text, no reporter, no exact position, and for a resident no building."""
    category = await Category.get_or_none(key=category_key)
    if category is None:
        raise ValidationFailed.field("category", "no such category", "unknown_category")
    since = utcnow() - dt.timedelta(days=SIMILAR_DAYS)
    query = Report.filter(category_id=category.id, state__in=list(states.OPEN_STATES), created_at__gte=since)
    staff = principal.role in CIVIC_STAFF_ROLES
    if category.key in closed_categories(principal):
        return []
    if staff:
        if principal.node_path is None:
            return []
        if not is_district_level(principal):
            query = query.filter(node_path__startswith=principal.node_path)
    elif principal.role is Role.RESIDENT:
        if category.key in PRIVATE_CATEGORIES or category.key in PERSONAL_CATEGORIES:
            return []
    else:
        return []
    code = building_code.strip().upper() if building_code else None
    found: list[tuple[Report, float | None, bool]] = []
    if code and staff:
        found += [(r, None, True) for r in await query.filter(building_code=code).order_by("-created_at").limit(limit)]
    if lat is not None and lng is not None:
        # The box first (wide enough for a rounded point within 100 m), then the distance.
        near = await query.filter(near_box(lat, lng, SIMILAR_METRES + 100)).limit(200)
        seen = {r.id for r, _, _ in found}
        for report in near:
            if report.id in seen or report.lat is None or report.lng is None:
                continue
            metres = distance_m(lat, lng, *rough_point(report.lat, report.lng))
            if metres <= SIMILAR_METRES:
                found.append((report, float(round(metres, -1)), False))
    if code and not staff:
        grid = await _grid_of_building(code)
        if grid is not None:
            seen = {r.id for r, _, _ in found}
            rows = await query.filter(node_path__startswith=grid).order_by("-created_at").limit(limit)
            found += [(r, None, False) for r in rows if r.id not in seen]
    if not found and node_code and not code and lat is None:
        node = await hierarchy.get_by_code(node_code)
        if node is not None:
            rows = await query.filter(node_path__startswith=node.path).order_by("-created_at").limit(limit)
            found = [(r, None, False) for r in rows]
    found.sort(key=lambda item: (item[1] is None, item[1] or 0.0))
    found = found[:limit]
    places = await community_places({r.node_path for r, _, _ in found})
    return [
        Similar(r, metres, r.building_code if by_building else None, places.get(r.node_path))
        for r, metres, by_building in found
    ]


async def _grid_of_building(code: str) -> str | None:
    """The path of a building's grid, None for an unknown building."""
    from miniapp_api.buildings.service import get_by_code  # reports work without the buildings package

    building = await get_by_code(code=code)
    return building.node_path if building is not None else None
