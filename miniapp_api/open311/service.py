"""Open311 GeoReport v2 over 明心桥 reports: services are the active report categories, service requests
are the reports, and outside systems file reports with an API key (their keys: ``clients``).

What leaves through it: the category, the state as ``open`` or ``closed``, the department, the deadline
and the point rounded to about 100 m. A report filed through Open311 also shows the description and
address its client sent, with phone and ID numbers, e-mail addresses and number plates redacted, and
its media_url unless that carries any of them (then null: a link cannot be redacted and still work);
police matters and a person's own matters (health, labour) are never published; any other report (a
resident's, who agreed to no publication) shows only its category and its community, never its text,
building or photos. Never the reporter, nor whether a report was anonymous. The reporter fields of a
POST (email, phone, names, device and account ids) are dropped on arrival: nothing of them is stored
or echoed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from tortoise.expressions import Q

from identity.models import Node
from identity.redaction import find, redact
from miniapp_api.buildings.models import Building
from miniapp_api.open311.models import Open311Client, Open311Request
from miniapp_api.open311.schemas import CreatedOut, RequestOut, ServiceDefinition, ServiceOut
from miniapp_api.reports import access, catalogue, similar
from miniapp_api.reports import service as reports
from miniapp_api.reports.models import Category, Department, Report
from miniapp_api.reports.states import State
from server.errors import BadRequest, Forbidden, NotFound

log = logging.getLogger("gmid.open311")

JURISDICTION_ID = "guangming.shenzhen.gov.cn"
CHANNEL = "open311"
WINDOW = dt.timedelta(days=90)  # the spec's default span of GET requests, and the longest one asked for
MAX_RESULTS = 1000  # the spec's cap on one GET requests answer
BEIJING = dt.timezone(dt.timedelta(hours=8))
FIRST_YEAR, LAST_YEAR = 2000, 2100  # the dates requests.json accepts

# Resolved and confirmed reports wait only for the reporter's word or the grid's close: for a
# civic tool the work is done. Rejected (a department sent it back) and returned (the reporter is
# asked for more) reports are still open.
CLOSED_STATES = frozenset({State.RESOLVED, State.CONFIRMED, State.CLOSED, State.MERGED})
OPEN_STATES = frozenset(State) - CLOSED_STATES
STATUSES = ("open", "closed")
# Reports about crime and public order go to the police, and a person's own matters (health, labour)
# are theirs, not the public's: not offered, not listed, not found by id.
NOT_PUBLIC = access.PRIVATE_CATEGORIES | access.PERSONAL_CATEGORIES
# Published points are rounded to about 100 m: a resident's report is often about their own home.
PLACE_DECIMALS = 3
PLACE_METRES = 200.0  # a point given alone is filed under the grid of a building this near
# A report not filed through Open311 (a resident's, a board's) was not written for publication: only
# its category is shown, with this before it, and its community instead of its building.
RESIDENT_PREFIX = "居民反映："
ADDRESS_LINE = "地址："
MEDIA_LINE = "图片："
_URL_RE = re.compile(r"https?://\S+")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def status_of(state: State) -> Literal["open", "closed"]:
    return "closed" if state in CLOSED_STATES else "open"


def check_jurisdiction(jurisdiction_id: str | None) -> None:
    """Ours, or none given (we serve one jurisdiction); any other is 404, as the spec says."""
    if jurisdiction_id and jurisdiction_id.strip() != JURISDICTION_ID:
        raise NotFound(f"jurisdiction_id not found: this server serves {JURISDICTION_ID}.", code="unknown_jurisdiction")


# Services -------------------------------------------------------------------------------------------


def _service_out(category: Category, departments: dict[int, Department]) -> ServiceOut:
    department = departments.get(category.department_id) if category.department_id is not None else None
    return ServiceOut(
        service_code=category.key,
        service_name=category.name,
        description=f"{category.name}类诉求（明心桥），受理后{category.dispatch_minutes}分钟内派单。",
        metadata=False,
        type="realtime",
        keywords="",
        group=department.name if department else None,
    )


async def list_services() -> list[ServiceOut]:
    await catalogue.ensure_defaults()
    departments = {d.id: d for d in await Department.all()}
    categories = await Category.filter(active=True).exclude(key__in=NOT_PUBLIC).order_by("id")
    return [_service_out(c, departments) for c in categories]


async def _active_category(service_code: str) -> Category:
    category = await Category.get_or_none(key=service_code, active=True) if 0 < len(service_code) <= 32 else None
    if category is None or category.key in NOT_PUBLIC:
        raise NotFound("service_code not found.", code="unknown_service")
    return category


async def service_definition(service_code: str) -> ServiceDefinition:
    """Our services ask nothing beyond the description and the place: no attributes."""
    await catalogue.ensure_defaults()
    category = await _active_category(service_code)
    return ServiceDefinition(service_code=category.key, attributes=[])


# Reading requests -----------------------------------------------------------------------------------


def split_list(value: str | None) -> list[str]:
    """A comma-separated parameter, blanks dropped."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _aware(value: dt.datetime) -> dt.datetime:
    # The spec asks for an offset; a date or time without one is taken as Beijing time.
    return value if value.tzinfo is not None else value.replace(tzinfo=BEIJING)


@dataclass(frozen=True)
class RequestFilter:
    ids: list[str]
    service_codes: list[str]
    statuses: list[str]
    start: dt.datetime | None = None
    end: dt.datetime | None = None


def _in_years(name: str, value: dt.datetime | None) -> None:
    # 90 days before year 1 or after year 9999 is no datetime (OverflowError, a 500): refused first.
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise BadRequest(f"{name} must be in the years {FIRST_YEAR} to {LAST_YEAR}.", code="bad_date")


def window(start: dt.datetime | None, end: dt.datetime | None, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The span to search: the last 90 days by default, 90 days from a start or up to an end; a
    longer span, or one that ends before it starts, is refused, and so are dates outside the years
    2000 to 2100."""
    _in_years("start_date", start)
    _in_years("end_date", end)
    start = _aware(start) if start else None
    end = _aware(end) if end else None
    if end is None:
        return (now - WINDOW, now) if start is None else (start, start + WINDOW)
    if start is None:
        return end - WINDOW, end
    if end < start:
        raise BadRequest("end_date is before start_date.", code="bad_date_range")
    if end - start > WINDOW:
        raise BadRequest("start_date and end_date may not span more than 90 days.", code="bad_date_range")
    return start, end


async def find_requests(filters: RequestFilter, *, now: dt.datetime | None = None) -> list[Report]:
    """Reports by id (the other filters are then ignored, as the spec says), or those requested in the
    window with the given services and statuses; newest first, at most 1000."""
    if filters.ids:
        ids = [i for i in filters.ids if len(i) <= 16][:MAX_RESULTS]
        found = Report.filter(public_id__in=ids).exclude(category__key__in=NOT_PUBLIC)
        return list(await found.order_by("-created_at", "-id"))
    unknown = sorted(set(filters.statuses) - set(STATUSES))
    if unknown:
        raise BadRequest("status must be open or closed (comma-separated for both).", code="bad_status")
    start, end = window(filters.start, filters.end, now or utcnow())
    query = Report.filter(created_at__gte=start, created_at__lte=end).exclude(category__key__in=NOT_PUBLIC)
    if filters.service_codes:
        query = query.filter(category__key__in=[c for c in filters.service_codes if len(c) <= 32])
    statuses = set(filters.statuses)
    if statuses == {"open"}:
        query = query.filter(state__in=list(OPEN_STATES))
    elif statuses == {"closed"}:
        query = query.filter(state__in=list(CLOSED_STATES))
    return list(await query.order_by("-created_at", "-id").limit(MAX_RESULTS))


async def get_request(service_request_id: str) -> Report:
    report = await Report.get_or_none(public_id=service_request_id) if 0 < len(service_request_id) <= 16 else None
    if report is not None and (await Category.get(id=report.category_id)).key in NOT_PUBLIC:
        report = None
    if report is None:
        raise NotFound("service_request_id not found.", code="unknown_request")
    return report


def published_media_url(url: str) -> str | None:
    """The media_url as filed, or None when it carries a phone or ID number, an e-mail address or a
    number plate anywhere (host, path, query; percent-encoded too): a redacted link would not work."""
    seen, decoded = {url}, url
    for _ in range(3):  # %2540 is %40 is @
        decoded = urllib.parse.unquote_plus(decoded)
        seen.add(decoded)
    return None if any(find(text, plates=True) for text in seen) else url


def _notice(report: Report) -> str:
    return f"明心桥诉求编号 {report.report_no}"


def filed_parts(text: str) -> tuple[str, str | None, str | None]:
    """A report filed through Open311 split back into what the client sent: the description, the
    address_string and the media_url, which ``_text`` keeps as the text's last lines (so the grid
    reads them too)."""
    lines = text.split("\n")
    media = address = None
    if len(lines) > 1 and lines[-1].startswith(MEDIA_LINE) and _URL_RE.fullmatch(lines[-1][len(MEDIA_LINE) :]):
        media = lines.pop()[len(MEDIA_LINE) :]
    if len(lines) > 1 and lines[-1].startswith(ADDRESS_LINE):
        address = lines.pop()[len(ADDRESS_LINE) :].strip() or None
    return "\n".join(lines), address, media


async def describe(rows: list[Report]) -> list[RequestOut]:
    """The Open311 view of reports: nothing of who filed them. A report filed through Open311 shows
    the description, address and media_url its client sent (redacted); any other report (a
    resident's, whose author agreed to no publication) shows only its category and its community."""
    if not rows:
        return []
    categories = {c.id: c for c in await Category.filter(id__in={r.category_id for r in rows})}
    department_ids = {r.department_id for r in rows if r.department_id is not None}
    departments = {d.id: d for d in await Department.filter(id__in=department_ids)} if department_ids else {}
    codes = {r.building_code for r in rows if r.building_code and r.channel == CHANNEL}
    addresses: dict[str, str] = {}
    if codes:
        addresses = dict(await Building.filter(code__in=codes).values_list("code", "address"))
    places = await access.community_places({r.node_path for r in rows if r.channel != CHANNEL})
    merged_ids = {r.merged_into_id for r in rows if r.merged_into_id is not None}
    merged: dict[int, str] = {}
    if merged_ids:
        # Only a published main report is named: a police or personal matter is not, nor its existence.
        merged = dict(
            await Report.filter(id__in=merged_ids)
            .exclude(category__key__in=list(NOT_PUBLIC))
            .values_list("id", "public_id")
        )
    out = []
    for report in rows:
        category = categories[report.category_id]
        department = departments.get(report.department_id) if report.department_id is not None else None
        notes = reports.STATE_NAMES[report.state]
        # The deadline of the current step; a resolved report's (the reporter's feedback) is no promise.
        expected = report.due_at if report.state in OPEN_STATES else None
        if report.state is State.MERGED and report.merged_into_id in merged:
            notes += f"（merged into {merged[report.merged_into_id]}）"
        if report.channel == CHANNEL:
            text, address_string, media_url = filed_parts(report.text)
            description = redact(text)
            building = addresses.get(report.building_code) if report.building_code else None
            filed_address = building or address_string
            address = redact(filed_address) if filed_address else None
            media_url = published_media_url(media_url) if media_url else None
            address_id = report.building_code
        else:
            description = f"{RESIDENT_PREFIX}{category.name}"
            address, address_id, media_url = places.get(report.node_path), None, None
        out.append(
            RequestOut(
                service_request_id=report.public_id,
                status=status_of(report.state),
                status_notes=notes,
                service_name=category.name,
                service_code=category.key,
                description=description,
                agency_responsible=department.name if department else None,
                service_notice=_notice(report),
                requested_datetime=report.created_at,
                updated_datetime=report.updated_at,
                expected_datetime=expected,
                address=address,
                address_id=address_id,
                zipcode=None,
                lat=round(report.lat, PLACE_DECIMALS) if report.lat is not None else None,
                long=round(report.lng, PLACE_DECIMALS) if report.lng is not None else None,
                media_url=media_url,
            )
        )
    return out


async def token_request(token: str) -> str:
    """The service request a token stands for (each is made with its report, so always known)."""
    row = await Open311Request.get_or_none(token=token).prefetch_related("report") if 0 < len(token) <= 32 else None
    if row is None:
        raise NotFound("token not found.", code="unknown_token")
    public_id: str = row.report.public_id
    return public_id


# Filing requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    service_code: str
    description: str = ""
    lat: float | None = None
    lng: float | None = None
    address_string: str | None = None
    address_id: str | None = None
    media_url: str | None = None


async def nearest_building(lat: float, lng: float) -> Building | None:
    """The building nearest the point within PLACE_METRES, or None. Buildings carry no coordinates of
    their own: a building is where the reports filed at it (with a point) were made."""
    found = await (
        Report.filter(similar.near_box(lat, lng, PLACE_METRES), building_code__isnull=False)
        .order_by("-created_at")
        .limit(500)
        .values_list("building_code", "lat", "lng")
    )
    best: tuple[float, str] | None = None
    for code, at_lat, at_lng in found:
        metres = similar.distance_m(lat, lng, at_lat, at_lng)
        if metres <= PLACE_METRES and (best is None or metres < best[0]):
            best = (metres, code)
    return await Building.get_or_none(code=best[1]) if best else None


async def building_at(address_string: str) -> Building | None:
    """The one building whose address is, or ends with, the address given (华夏路1号); None when no
    building or several match."""
    wanted = address_string.strip()
    if len(wanted) < 4:
        return None
    found = await Building.filter(Q(address=wanted) | Q(address__endswith=wanted)).limit(2)
    return found[0] if len(found) == 1 else None


def _in_scope(client: Open311Client, building: Building) -> None:
    if client.node_path and not building.node_path.startswith(client.node_path):
        raise Forbidden("This api_key may not file requests at that place.", code="outside_scope")


async def _place(client: Open311Client, new: NewRequest) -> tuple[str, Building | None]:
    """The grid to file under and the building the report is about, if the client named one: the
    building of address_id; else the grid of the building nearest lat/long (within 200 m) or of the
    one address_string names; else the node the key is bound to. A bound key files under its node only."""
    if new.address_id:
        building = await Building.get_or_none(code=new.address_id) if len(new.address_id) <= 32 else None
        if building is None:
            raise BadRequest("address_id: no building has this code.", code="unknown_address_id")
        _in_scope(client, building)
        return building.grid_code, building
    near = None
    if new.lat is not None and new.lng is not None:
        near = await nearest_building(new.lat, new.lng)
    if near is None and new.address_string:
        near = await building_at(new.address_string)
    if near is not None:
        # Only placed near it: the report is not said to be about that building.
        _in_scope(client, near)
        return near.grid_code, None
    if client.node_path:
        node = await Node.get_or_none(path=client.node_path)
        if node is not None:
            return node.code, None
    raise BadRequest(
        f"This request cannot be placed: no known building lies within {PLACE_METRES:.0f} m of lat/long, and no "
        "building has the address_string given. Give address_id (a building code), or a point nearer a building.",
        code="location_unplaceable",
    )


def _text(new: NewRequest, category: Category) -> str:
    # The address and the picture stay in the text for the grid to read; filed_parts takes them back out.
    lines = [new.description.strip() or f"（{category.name}，未填写描述）"]
    if new.address_string and new.address_string.strip():
        lines.append(f"{ADDRESS_LINE}{new.address_string.strip()}")
    if new.media_url:
        lines.append(f"{MEDIA_LINE}{new.media_url.strip()}")
    return "\n".join(lines)


async def file_request(*, client: Open311Client, new: NewRequest) -> tuple[Report, CreatedOut]:
    """File a report for an outside system, with no reporter: the history names the client."""
    await catalogue.ensure_defaults()
    category = await _active_category(new.service_code)
    node_code, building = await _place(client, new)
    report = await reports.submit(
        reporter=None,
        principal=None,
        category_key=category.key,
        text=_text(new, category),
        node_code=node_code,
        channel=CHANNEL,
        building_code=building.code if building else None,
        lat=new.lat,
        lng=new.lng,
        source=f"open311:{client.name}",
    )
    now = utcnow()
    token = secrets.token_urlsafe(16)
    await Open311Request.create(client_id=client.id, report_id=report.id, token=token, created_at=now)
    await Open311Client.filter(id=client.id).update(last_used_at=now)
    log.info("open311 request filed id=%s client=%s", report.public_id, client.public_id)
    notice = f"已收到，{_notice(report)}；将在{category.dispatch_minutes}分钟内派单。"
    return report, CreatedOut(service_request_id=report.public_id, token=token, service_notice=notice, account_id=None)
