"""The welfare calculator's services: screening a profile for the API, the policies as the API shows them,
and residents' saved profiles with their consent to proactive screening."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import F

from identity.roles import Role
from miniapp_api.welfare import engine, profiles, versions
from miniapp_api.welfare.models import WelfareProfile
from miniapp_api.welfare.pack import PERIODS, Pack, Policy
from server.errors import NotFound, PayloadTooLarge, ValidationFailed

CHINA = ZoneInfo("Asia/Shanghai")
MAX_MEMBERS = profiles.MAX_MEMBERS
MAX_PROFILE_BYTES = 32 * 1024
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
# Who may save a profile, and whose saved profile the push screens (an account turned staff or disabled: neither).
RESIDENT_ROLES = (Role.RESIDENT, Role.PARTY_MEMBER)
PROFILE_FIELD = "welfare.profile"
SNAPSHOT_FIELD = "welfare.snapshot"


def today() -> dt.date:
    return dt.datetime.now(CHINA).date()


def check_date(day: dt.date | None) -> dt.date:
    if day is None:
        return today()
    if not EARLIEST <= day <= LATEST:
        raise ValidationFailed.field("date", f"a date from {EARLIEST} to {LATEST}", "date_out_of_range")
    return day


def check_profile(profile: Any, pack: Pack, on: dt.date, *, where: str = "profile") -> dict[str, Any]:
    """422 with each field's path and a Chinese message, or the profile. 413 beyond MAX_PROFILE_BYTES.
    ``on``: the screening day (a member born after it, or an age that contradicts the birth date, is refused)."""
    size = len(json.dumps(profile, ensure_ascii=False, default=str).encode())
    if size > MAX_PROFILE_BYTES:
        raise PayloadTooLarge(
            f"A profile is at most {MAX_PROFILE_BYTES // 1024} KB.",
            code="profile_too_large",
            details={"max_bytes": MAX_PROFILE_BYTES},
        )
    errors: dict[str, str] = {}
    if isinstance(profile, dict) and isinstance(profile.get("members"), list) and len(profile["members"]) > MAX_MEMBERS:
        errors["members"] = f"最多填写 {MAX_MEMBERS} 位家庭成员"
    else:
        errors = profiles.check(profile, pack) or profiles.check_on(profile, on)
    if errors:
        fields = [{"field": f"{where}.{k}", "message": v, "type": "profile_field"} for k, v in errors.items()]
        raise ValidationFailed(
            "The profile has fields that cannot be used; see details.fields.",
            code="validation_failed",
            details={"fields": fields},
        )
    return profile


def _condition(c: engine.ConditionResult) -> dict[str, Any]:
    out: dict[str, Any] = {"id": c.id, "label": c.label, "status": c.status}
    if c.status == "fail":
        out.update(value=_plain(c.value), limit=_plain(c.limit), op=c.op, gap=c.gap)
    if c.missing:
        out["missing"] = list(c.missing)
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, frozenset | set | tuple):
        return sorted(str(x) for x in v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def result_out(r: engine.PolicyResult, served: versions.Served) -> dict[str, Any]:
    out: dict[str, Any] = {
        "policy_id": r.policy_id,
        "policy_version": served.policy_versions.get(r.policy_id, 0),
        "name": r.name,
        "status": r.status,
        "explanation": r.explanation,
    }
    if r.status == "eligible":
        out["amount"] = (
            None
            if r.amount is None
            else {
                "yuan": r.amount,
                "period": r.period,
                "period_name": PERIODS.get(r.period or "", ""),
                "months": r.months,
                "how": r.how,
            }
        )
        out["conflicts"] = list(r.conflicts)
    if r.status in ("not_eligible", "near_miss"):
        out["failing"] = [_condition(c) for c in r.failing]
    if r.missing:
        out["missing"] = [{"fact": m, "question": served.pack.question(m)} for m in r.missing]
    if r.trace is not None:
        out["trace"] = [{k: _plain(v) for k, v in step.items()} for step in r.trace]
    return out


async def screen(*, profile: Any, day: dt.date | None) -> dict[str, Any]:
    served = await versions.current()
    on = check_date(day)
    check_profile(profile, served.pack, on)
    found = engine.screen(profile, on, pack=served.pack)
    return {
        "date": on.isoformat(),
        "pack_version": served.version,
        "results": [result_out(r, served) for r in found.results],
        "questions": [{"fact": q.fact, "text": q.text, "settles": q.settles} for q in found.questions],
    }


def _policy_or_404(served: versions.Served, policy_id: str) -> Policy:
    policy = served.pack.policies.get(policy_id)
    if policy is None:
        raise NotFound("No such welfare policy.", code="welfare_policy_not_found")
    return policy


async def trace(*, policy_id: str, profile: Any, day: dt.date | None) -> dict[str, Any]:
    served = await versions.current()
    policy = _policy_or_404(served, policy_id)
    on = check_date(day)
    check_profile(profile, served.pack, on)
    result = engine.evaluate(profile, policy, on, pack=served.pack, trace=True)
    return {"date": on.isoformat(), "pack_version": served.version, **result_out(result, served)}


def policy_out(policy: Policy, served: versions.Served, on: dt.date, *, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": policy.id,
        "version": served.policy_versions.get(policy.id, 0),
        "name": policy.name,
        "issuer": policy.issuer,
        "target": policy.target,
        "summary": policy.summary,
        "in_force": policy.in_force(on),
        "effective_from": policy.effective_from.isoformat(),
        "effective_until": policy.effective_until.isoformat() if policy.effective_until else None,
        "no_application": policy.no_application,
        "channel": policy.channel,
    }
    if not full:
        return out
    pack = served.pack
    params = []
    for name in sorted(policy.params):
        value, since, source = pack.parameters[name].at(on)
        param = pack.parameters[name]
        params.append(
            {
                "name": name,
                "label": param.label,
                "unit": param.unit,
                "value": value,
                "since": since.isoformat() if since else None,
                "source": {"title": source.title, "url": source.url} if source else None,
            }
        )
    out.update(
        legal_basis=dict(policy.legal_basis),
        sources=[{"title": s.title, "url": s.url} for s in policy.sources],
        documents=list(policy.documents),
        conditions=[{"id": c.id, "label": c.label} for c in policy.conditions],
        not_with=list(policy.not_with),
        amount=(
            {
                "formula": policy.amount.formula and _render(policy),
                "period": policy.amount.period,
                "period_name": PERIODS[policy.amount.period],
                "months": policy.amount.months_text,
                "note": policy.amount.note,
            }
            if policy.amount
            else None
        ),
        parameters=params,
        date=on.isoformat(),
    )
    return out


def _render(policy: Policy) -> str:
    from miniapp_api.welfare import expr

    assert policy.amount is not None
    return expr.render(policy.amount.formula)


async def list_policies() -> dict[str, Any]:
    served = await versions.current()
    on = today()
    items = [policy_out(p, served, on, full=False) for p in sorted(served.pack.policies.values(), key=lambda p: p.id)]
    return {"pack_version": served.version, "date": on.isoformat(), "items": items}


async def get_policy(*, policy_id: str) -> dict[str, Any]:
    served = await versions.current()
    return {"pack_version": served.version, **policy_out(_policy_or_404(served, policy_id), served, today(), full=True)}


# Saved profiles and consent -----------------------------------------------------------------------------------


def seal(value: Any, field: str) -> str:
    from identity.pii import current_vault

    return current_vault().encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")), field=field)


def unseal(token: str, field: str) -> Any:
    from identity.pii import current_vault

    return json.loads(current_vault().decrypt(token, field=field))


def saved_out(row: WelfareProfile) -> dict[str, Any]:
    return {
        "profile": unseal(row.profile_enc, PROFILE_FIELD) if row.profile_enc else None,
        "proactive": row.proactive,
        "consent_at": row.consent_at,
        "updated_at": row.updated_at,
    }


async def save_profile(*, account_id: int, profile: Any) -> WelfareProfile:
    served = await versions.current()
    check_profile(profile, served.pack, today())
    now = dt.datetime.now(dt.UTC)
    row, created = await WelfareProfile.get_or_create(
        account_id=account_id, defaults={"profile_enc": seal(profile, PROFILE_FIELD), "updated_at": now}
    )
    if not created:
        await WelfareProfile.filter(id=row.id).update(
            profile_enc=seal(profile, PROFILE_FIELD), updated_at=now, revision=F("revision") + 1, due=True
        )
    else:
        await WelfareProfile.filter(id=row.id).update(due=True)
    return await WelfareProfile.get(id=row.id)


async def get_saved(*, account_id: int) -> WelfareProfile:
    row = await WelfareProfile.get_or_none(account_id=account_id)
    if row is None:
        raise NotFound("You have not saved a welfare profile.", code="welfare_profile_not_found")
    return row


async def _unsent_matches_dropped(account_id: int) -> None:
    """Messages of new matches not yet sent (waiting, failed, or dead and retryable by an admin) are
    dropped: once consent is withdrawn or the profile erased, nothing more goes out. One being sent at
    this very moment (claimed by a dispatcher) cannot be called back."""
    from miniapp_api.welfare.push import TEMPLATE
    from notify.models import Notification, Status

    await Notification.filter(
        template=TEMPLATE, account_id=account_id, status__in=[Status.PENDING, Status.FAILED, Status.DEAD]
    ).delete()


async def erase(*, account_id: int) -> None:
    """The profile, the consent and the last screening go (nothing of them is kept), and so do the
    messages of matches not yet sent."""
    await WelfareProfile.filter(account_id=account_id).delete()
    await _unsent_matches_dropped(account_id)


async def set_consent(*, account_id: int, proactive: bool) -> WelfareProfile:
    now = dt.datetime.now(dt.UTC)
    row, _ = await WelfareProfile.get_or_create(account_id=account_id, defaults={"updated_at": now})
    if row.proactive != proactive:
        await WelfareProfile.filter(id=row.id).update(
            proactive=proactive,
            consent_at=now if proactive else None,
            updated_at=now,
            revision=F("revision") + 1,
            due=proactive,
            # withdrawn: the last screening is forgotten too (it was kept only for the push)
            **({} if proactive else {"snapshot_enc": None, "screened_pack": -1}),
        )
    if not proactive:
        await _unsent_matches_dropped(account_id)
    return await WelfareProfile.get(id=row.id)
