"""The skills taxonomy as staff edit it: anyone reads the merged taxonomy (for the skill picker, with a search);
employment staff of the district node and district administrators change a skill's name, synonyms and related
skills, or retire it. Each change is checked with ``Taxonomy.check`` on the merged result (a synonym claimed by
two skills, an unknown related id: 422, nothing stored), audited, and read by every instance through
``rows.skills.current()``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from tortoise.transactions import in_transaction

from identity.roles import Role
from miniapp_api.jobs import rows
from miniapp_api.jobs.enterprise_routes import who
from miniapp_api.jobs.enterprises import Who, audit_change, utcnow
from miniapp_api.jobs.models import SkillEntry
from miniapp_api.jobs.schemas import Line
from miniapp_api.jobs.taxonomy import SLUG, Skill, Taxonomy, fold
from server.auth import Principal, public, require_principal, requires
from server.errors import Forbidden, NotFound, ValidationFailed
from server.validation import StrictModel, errors, json_body, query_args, responds

bp = Blueprint("jobs_skills", url_prefix="/api/v1")

EDITORS = (Role.EMPLOYMENT_STAFF, Role.ADMIN)
SlugText = Annotated[str, StringConstraints(pattern=SLUG.pattern)]
_edit_lock = asyncio.Lock()  # one edit at a time per instance: two edits each clean alone may collide together


class TaxonomySkillIn(StrictModel):
    name: Line(40) = Field(description="The skill's Chinese name.")  # type: ignore[valid-type]
    synonyms: list[Line(40)] = Field(default_factory=list, max_length=30)  # type: ignore[valid-type]
    related: list[SlugText] = Field(default_factory=list, max_length=30, description="Ids of related skills.")


class TaxonomySkillOut(BaseModel):
    id: str
    name: str
    synonyms: list[str]
    related: list[str] = Field(description="Related skill ids, both directions.")
    retired: bool


class TaxonomySkillList(BaseModel):
    items: list[TaxonomySkillOut]


class TaxonomySkillQuery(StrictModel):
    q: Line(40) | None = Field(default=None, description="Part of a name, synonym or id.")  # type: ignore[valid-type]
    limit: int = Field(default=500, ge=1, le=2000)


def skill_out(taxonomy: Taxonomy, skill: Skill) -> TaxonomySkillOut:
    return TaxonomySkillOut(
        id=skill.slug,
        name=skill.name,
        synonyms=list(skill.synonyms),
        related=sorted(taxonomy.related(skill.slug)),
        retired=skill.retired,
    )


def check_editor(viewer: Principal) -> None:
    """The taxonomy is the whole district's: only staff of the district node edit it."""
    path = viewer.node_path
    if path is None or "/" in path.strip("/"):
        raise Forbidden("Only the district's employment service or administrators edit the skills taxonomy.")


async def _overrides() -> list[dict[str, Any]]:
    return [
        {"slug": e.slug, "name": e.name, "synonyms": e.synonyms, "related": e.related, "retired": e.retired}
        for e in await SkillEntry.all().order_by("id")
    ]


async def _change(slug: str, fields: dict[str, Any], who: Who, action: str, scope: str) -> Skill:
    async with _edit_lock:
        overrides = await _overrides()
        before = Taxonomy.load(overrides)
        if fields.get("retired") and slug not in before.skills:
            raise NotFound("There is no such skill.", code="skill_not_found")
        entry = {"slug": slug, **fields}
        after = Taxonomy.load([*overrides, entry])
        new = sorted(set(after.check()) - set(before.check()))
        if new:
            raise ValidationFailed(
                "The taxonomy would not be consistent: " + "; ".join(new),
                code="taxonomy_conflict",
                details={"problems": new},
            )
        skill = after.skills[slug]
        values = {
            "name": skill.name,
            "synonyms": list(skill.synonyms),
            "related": list(skill.related),
            "retired": skill.retired,
            "updated_by": who.actor,
            "updated_at": utcnow(),
        }
        async with in_transaction() as conn:
            row = await SkillEntry.filter(slug=slug).using_db(conn).select_for_update().first()
            if row is None:
                await SkillEntry.create(slug=slug, using_db=conn, **values)
            else:
                await SkillEntry.filter(id=row.id).using_db(conn).update(**values)
            await audit_change(who, action, slug, scope, conn, name=skill.name, synonyms=len(skill.synonyms))
        rows.skills.forget()
        return skill


@bp.get("/jobs/skills", name="jobs.skill.list")
@public
@query_args(TaxonomySkillQuery)
@responds(200, TaxonomySkillList, "Skills in use, by id")
@errors(422)
async def list_skills(request: Request, query: TaxonomySkillQuery) -> HTTPResponse:
    """The skills taxonomy as staff have edited it (retired skills left out), for the skill picker; `q` keeps
    those whose id, name or a synonym contains it (full-width and case folded)."""
    taxonomy = await rows.skills.current()
    needle = fold(query.q) if query.q else ""
    found = []
    for skill in sorted(taxonomy.skills.values(), key=lambda s: s.slug):
        if skill.retired:
            continue
        if needle and not any(needle in fold(t) for t in (skill.slug, skill.name, *skill.synonyms)):
            continue
        found.append(skill_out(taxonomy, skill))
        if len(found) >= query.limit:
            break
    return json(TaxonomySkillList(items=found).model_dump(mode="json"))


@bp.put("/jobs/skills/<slug:str>", name="jobs.skill.put")
@requires(*EDITORS)
@json_body(TaxonomySkillIn)
@responds(200, TaxonomySkillOut, "The skill as stored (a new id adds a skill)")
@errors(403, 422)
async def put_skill(request: Request, slug: str, body: TaxonomySkillIn) -> HTTPResponse:
    """Set a skill's name, synonyms and related ids (district employment staff and administrators; audited).
    Refused with 422 `taxonomy_conflict` when the merged taxonomy would not pass its check: a synonym another
    skill claims, an unknown or its own related id. A retired skill put again comes back."""
    viewer = require_principal(request)
    check_editor(viewer)
    if not SLUG.match(slug):
        raise ValidationFailed.field("id", "a lower-case ASCII slug, 2-63 characters", "bad_slug")
    skill = await _change(
        slug,
        {"name": body.name, "synonyms": body.synonyms, "related": body.related, "retired": False},
        who(request),
        "job.skill.put",
        viewer.node_path or "",
    )
    return json(skill_out(await rows.skills.current(), skill).model_dump(mode="json"))


@bp.delete("/jobs/skills/<slug:str>", name="jobs.skill.retire")
@requires(*EDITORS)
@responds(200, TaxonomySkillOut, "The skill, retired")
@errors(403, 404)
async def retire_skill(request: Request, slug: str) -> HTTPResponse:
    """Retire a skill: it no longer matches typed text nor counts as related; stored skills keep its id and
    name. Audited."""
    viewer = require_principal(request)
    check_editor(viewer)
    if not SLUG.match(slug):
        raise NotFound("There is no such skill.", code="skill_not_found")
    skill = await _change(slug, {"retired": True}, who(request), "job.skill.retire", viewer.node_path or "")
    return json(skill_out(await rows.skills.current(), skill).model_dump(mode="json"))
