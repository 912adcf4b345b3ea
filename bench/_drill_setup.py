"""The drill's settings and seed: residents and their bikes, the demo staff."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from _drill_load import GRID
from _harness import Workspace

from identity import tokens
from identity.models import Account, Node
from identity.roles import NodeLevel, Role
from identity.validators import make_id_number
from notify.templates import TEMPLATES
from server import db
from server.app import load_access_token_secret
from server.settings import Settings
from tests.support.sms_fake import SmsFake
from tests.support.wechat_fake import WeChatFake

MP_TOKEN = "drillmptoken"  # noqa: S105 - a loopback fake's push token
SMS_TOKEN = "drillsmstoken"  # noqa: S105 - the same for the SMS fake's status callback

# Setting up -------------------------------------------------------------------------------------------------


def make_settings(
    work: Workspace, database_url: str, redis_url: str, public: str, wechat: WeChatFake, sms: SmsFake
) -> Settings:
    keys = sorted(TEMPLATES)
    return Settings(
        var_dir=str(work.var_dir),
        database_url=database_url + "?maxsize=10",
        redis_url=redis_url,
        public_base_url=public,
        log_level="WARNING",
        wechat_appid=wechat.appid,
        wechat_secret=wechat.secret,
        wechat_api_base_url=wechat.base_url,
        wechat_timeout=2,
        sms_secret_id=sms.secret_id,
        sms_secret_key=sms.secret_key,
        sms_sdk_app_id=sms.sdk_app_id,
        sms_sign_name=sms.sign_name,
        sms_endpoint=sms.base_url.rstrip("/"),
        sms_timeout=2,
        smtp_timeout=2,
        notify_lease_seconds=15,
        # Per-recipient limits are not under test: the drill's few residents get many messages.
        notify_recipient_limits="sms=100000/hour,email=100000/hour,wechat=100000/hour",
        notify_backoff_cap=5,  # a row that failed while Redis restarted is retried within the run
        notify_wechat_templates=",".join(f"{k}=TPL_{k.replace('.', '_').upper()}" for k in keys),
        notify_sms_templates=",".join(f"{k}={1001 + i}" for i, k in enumerate(keys)),
        police_lookup_rate="1000000/hour",
        # WeChat pushes each subscribe message's send result here: a row in doubt after the worker's
        # death waits for it instead of going twice (notify/channels/wechat.py).
        wechat_mp_token=MP_TOKEN,
        sms_callback_token=SMS_TOKEN,  # Tencent posts each SMS's delivery report, as WeChat its send result
    )


async def seed(settings: Settings, residents: int) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, str], str]:
    """Residents with a WeChat openid (tokens made here: no WeChat sign-in), and tokens for the demo staff."""
    secret = load_access_token_secret(settings)

    def token(public_id: str, role: Role, node_path: str | None) -> str:
        return tokens.issue_access_token(
            secret=secret, account_id=public_id, role=role, node_path=node_path, ttl=6 * 3600
        )[0]

    from identity import service as identity_service

    await db.open_db(settings)
    try:
        people = []
        for i in range(residents):
            account = await Account.create(
                public_id=identity_service.new_public_id(), role=Role.RESIDENT, wechat_openid=f"odrill{i:06d}"
            )
            people.append(
                (
                    token(account.public_id, Role.RESIDENT, None),
                    make_id_number("440311", dt.date(1980, 1, 1) + dt.timedelta(days=i), f"{i % 1000:03d}"),
                )
            )
        staff, scopes = {}, {}
        for account in await Account.filter(
            username__in=["grid.worker", "police", "admin", "street.admin"]
        ).prefetch_related("node"):
            path = account.node.path if account.node else None
            staff[str(account.username)] = token(account.public_id, account.role, path)
            scopes[str(account.username)] = str(path)
        other = await Node.filter(level=NodeLevel.GRID).exclude(code=GRID).order_by("code").first()
        if other is None:
            raise RuntimeError("the hierarchy has one grid only")
        return people, staff, scopes, str(other.code)
    finally:
        await db.close_db()


async def register_bikes(base: str, people: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    bikes = []
    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as http:
        for i, (token, id_number) in enumerate(people):
            frame = f"DRL2026{i:06d}"
            body = {
                "owner": {"name": "演练居民", "id_number": id_number, "phone": f"139{i:08d}"},
                "brand": "雅迪", "model": "DE2", "colour": "白色", "frame_no": frame,
                "motor_no": f"M{i:08d}", "node": GRID,
            }  # fmt: skip
            answer = await http.post("/api/v1/ebikes", json=body, headers={"Authorization": f"Bearer {token}"})
            if answer.status_code != 201:
                raise RuntimeError(f"registering a bike: {answer.status_code} {answer.text[:300]}")
            got = answer.json()
            bikes.append((str(got["id"]), str(got["credential"]["url"]), token, frame))
    return bikes


async def register_sensors(base: str, staff_token: str, residents: list[str], count: int) -> tuple[str, str, list[str]]:
    """A gateway and ``count`` gas detectors in the grid, registered by its staff through the API, each
    detector bound to a resident's household with the code from its box. (gateway serial, its secret,
    the detectors' serials)."""
    staff = {"Authorization": f"Bearer {staff_token}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as http:

        async def register(body: dict[str, object]) -> dict[str, Any]:
            answer = await http.post("/api/v1/devices", json={**body, "node": GRID}, headers=staff)
            if answer.status_code != 201:
                raise RuntimeError(f"registering a device: {answer.status_code} {answer.text[:300]}")
            return dict(answer.json())

        gateway = await register({"serial": "DRILLGW0001", "type": "gateway", "place": "弱电间"})
        sensors = []
        for i in range(count):
            got = await register(
                {"serial": f"DRILLGAS{i:04d}", "type": "gas", "place": "厨房", "gateway": "DRILLGW0001"}
            )
            owner = {"Authorization": f"Bearer {residents[i % len(residents)]}"}
            bound = await http.post(
                "/api/v1/devices/bind", json={"serial": got["serial"], "code": got["binding_code"]}, headers=owner
            )
            if bound.status_code != 201:
                raise RuntimeError(f"binding a device: {bound.status_code} {bound.text[:300]}")
            sensors.append(str(got["serial"]))
    return "DRILLGW0001", str(gateway["secret"]), sensors


async def seed_checkpoints(settings: Settings, bands: int) -> tuple[list[str], list[str], list[str]]:
    """Wristbands with their wearers' facts and checkpoints with a gate account each, as the check-in bench
    seeds them (checkins_bench.seed): (checkpoint ids, gate tokens, BLE ids)."""
    import checkins_bench

    seeded = await checkins_bench.seed(settings, bands)
    return seeded.checkpoints, seeded.tokens, seeded.ble_ids
