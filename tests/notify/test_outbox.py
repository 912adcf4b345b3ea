"""``enqueue``: the row joins the caller's transaction, keeps personal data encrypted, refuses bad input."""

from __future__ import annotations

import logging

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from identity import service as identity_service
from identity.models import Account
from identity.roles import Role
from notify import outbox, templates
from notify.channels.console import ConsoleChannel
from notify.dispatcher import Dispatcher, Policy
from notify.models import Notification, Status
from tests.factories import make_account
from tests.support.wechat_fake import WeChatFake

STOLEN = {"bike": "雅迪 白色", "lost_at": "2026-11-25T02:30:00Z", "location": "光明大街", "alarm_id": "al1"}


class Boom(Exception):
    pass


async def test_an_enqueue_in_a_rolled_back_transaction_sends_nothing(
    dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    with pytest.raises(Boom):
        async with in_transaction() as conn:
            await outbox.enqueue(
                template="ebike.stolen", data=STOLEN, idempotency_key="k1", openid="o_owner", using_db=conn
            )
            raise Boom()
    assert await Notification.all().count() == 0
    assert await dispatcher.run_once() == 0
    assert wechat.sent_messages() == []
    # The same key after the rollback is a new, real notification.
    async with in_transaction() as conn:
        await outbox.enqueue(
            template="ebike.stolen", data=STOLEN, idempotency_key="k1", openid="o_owner", using_db=conn
        )
    await dispatcher.run_once()
    assert len(wechat.sent_messages()) == 1


async def test_a_repeated_key_inside_a_transaction_does_not_break_it(running: object) -> None:
    async with in_transaction() as conn:
        first = await outbox.enqueue(
            template="ebike.stolen", data=STOLEN, idempotency_key="k1", openid="o_a", using_db=conn
        )
        again = await outbox.enqueue(
            template="ebike.stolen", data=STOLEN, idempotency_key="k1", openid="o_a", using_db=conn
        )
        await Account.filter(id=-1).using_db(conn).count()  # the transaction is still usable
    assert first.public_id == again.public_id
    assert await Notification.all().count() == 1


async def test_many_at_once_keep_the_keys_and_the_transaction(dispatcher: Dispatcher, wechat: WeChatFake) -> None:
    """enqueue_many (a background pass telling thousands): keys already in the outbox are left as they are
    (counted out, the transaction still usable), a rollback writes none, and each is sent once."""
    await outbox.enqueue(template="ebike.stolen", data=STOLEN, idempotency_key="m1", openid="o_1")
    with pytest.raises(Boom):
        async with in_transaction() as conn:
            rows = [outbox.message(template="ebike.stolen", data=STOLEN, idempotency_key="m9", openid="o_9")]
            assert await outbox.enqueue_many(rows, using_db=conn) == 1
            raise Boom()
    assert not await Notification.filter(idempotency_key="m9").exists()

    def three() -> list[Notification]:
        return [
            outbox.message(template="ebike.stolen", data=STOLEN, idempotency_key=f"m{i}", openid=f"o_{i}")
            for i in range(1, 4)
        ]

    async with in_transaction() as conn:
        assert await outbox.enqueue_many(three(), using_db=conn) == 2  # m1 was there already
        assert await outbox.enqueue_many(three(), using_db=conn) == 0
        await Account.filter(id=-1).using_db(conn).count()
    assert await outbox.enqueue_many([]) == 0
    assert await Notification.all().count() == 3
    await dispatcher.run_once()
    assert sorted(m["touser"] for m in wechat.sent_messages()) == ["o_1", "o_2", "o_3"]
    with pytest.raises(ValueError):
        outbox.message(template="ebike.stolen", data=STOLEN, idempotency_key="m5")  # no address at all


async def test_personal_data_is_stored_encrypted(running: object) -> None:
    account = await make_account(Role.RESIDENT)
    await identity_service.update_profile(account=account, name="张三", phone="13912345678", id_number=None)
    await outbox.enqueue(
        template="ebike.stolen",
        data={**STOLEN, "location": "凤凰路88号"},
        idempotency_key="k1",
        account=account,
        email="zhangsan@example.cn",
    )
    row = await Notification.get(idempotency_key="k1")
    assert row.openid == account.wechat_openid
    assert row.channels == "wechat,sms,email"
    conn = connections.get("default")
    _, rows = await conn.execute_query("SELECT * FROM notify_notification")
    dump = repr([dict(r) for r in rows])
    for secret in ("13912345678", "zhangsan@example.cn", "凤凰路88号", "雅迪"):
        assert secret not in dump


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"template": "no.such"}, "unknown notification template"),
        ({"data": {"bike": "x"}}, "needs"),
        ({"channels": ["fax"]}, "channels"),
        ({"channels": ["sms", "sms"]}, "channels"),
        ({"openid": None, "channels": ["wechat"]}, "no address"),
        ({"phone": "12345"}, "mobile"),
        ({"email": "not-an-address"}, "email"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 201}, "idempotency_key"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(
    running: object, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"template": "ebike.stolen", "data": STOLEN, "idempotency_key": "k1", "openid": "o_a"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        await outbox.enqueue(**args)  # type: ignore[arg-type]
    assert await Notification.all().count() == 0


async def test_without_any_channel_configured_the_console_sends_without_personal_data(
    running: object, caplog: pytest.LogCaptureFixture
) -> None:
    app_redis = running.app.ctx.redis  # type: ignore[attr-defined]
    console_only = Dispatcher(channels={}, redis=app_redis, policy=Policy(), console=ConsoleChannel())
    row = await outbox.enqueue(
        template="ebike.stolen", data=STOLEN, idempotency_key="k1", phone="13912345678", email="a@example.cn"
    )
    with caplog.at_level(logging.INFO, logger="gmid"):
        await console_only.run_once()
    row = await Notification.get(id=row.id)
    assert (row.status, row.channel) == (Status.SENT, "console")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "电动车被盗报警" in logged and row.public_id in logged
    for secret in ("13912345678", "a@example.cn", "光明大街", "雅迪"):
        assert secret not in logged


def test_every_template_renders_within_wechat_limits() -> None:
    samples = {
        "bike": "爱玛 深空灰 超长的型号名称超过二十个字符的情况测试一下",
        "lost_at": "2026-11-25T02:30:00Z",
        "seen_at": "2026-11-25T03:00:00+00:00",
        "location": "光明区凤凰街道东坑社区某某路某某号大院门口",
        "place": "新湖街道",
        "alarm_id": "al1",
        "direction": "转入",
        "at": "2026-11-25T03:00:00Z",
        "bike_id": "b1",
        "report_no": "MXQ2026112500001",
        "state": "已受理",
        "report_id": "r1",
        "deadline": "2026-11-25T04:00:00Z",
        "node": "光明街道",
        "device": "燃气报警器",
        "what": "燃气浓度超标",
        "level": "高",
        "officer": "警员A",
        "count": "61",
        "building": "GM0101010001",
        "result": "已通过",
        "request_id": "br_1",
        "reason": "需健康核查",
        "policy": "深圳市最低生活保障（低保）超长政策名称测试",
        "policy_id": "dibao",
        "posting": "数控机床操作工（长白班，包吃住，五险一金）",
        "enterprise": "深圳市光明区某某精密制造科技有限公司",
        "step": "邀请面试",
        "application_id": "ja_1",
        "candidate": "jc_0123456789abcdef",
        "title": "电焊工（氩弧焊方向）超长职位名称测试一下二十个字",
        "salary": "6000-8000元/月",
        "distance": "3公里内",
        "posting_id": "jp_1",
    }
    for key, template in templates.TEMPLATES.items():
        data = templates.check_data(key, {k: v for k, v in samples.items()})
        fields = templates.wechat_data(template, data)
        for name, item in fields.items():
            kind = name.rstrip("0123456789")
            limit = 20 if template.wechat.kind == "template" else {"thing": 20, "phrase": 5}.get(kind, 32)
            assert 0 < len(item["value"]) <= limit, (key, name, item)
        subject, body = templates.email(template, data)
        assert subject and "光明e证" in body
        assert all(len(p) <= 35 for p in templates.sms_params(template, data))
    assert templates.display_time("2026-11-25T16:30:00Z") == "2026-11-26 00:30"


async def test_staff_with_only_the_mini_program_openid_get_staff_alerts_on_wechat(
    dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    # Accounts carry the mini-program's openid; a staff alert sent as an official-account template
    # message could never reach them and went dead. Staff alerts are subscribe messages.
    admin = await make_account(Role.ADMIN)
    admin.wechat_openid = "o_admin"
    await admin.save(update_fields=["wechat_openid"])
    assert outbox.reachable(admin, "police.lookup_limit") and outbox.reachable(admin, "report.overdue")
    assert not outbox.reachable(admin, "sensor.alarm")  # an official-account message: no openid for it
    row = await outbox.enqueue(
        template="report.overdue",
        data={
            "report_no": "R1",
            "state": "待派单",
            "deadline": "2026-11-25T02:30:00Z",
            "node": "凤凰社区",
            "report_id": "r1",
        },
        idempotency_key="sla:1",
        account=admin,
    )
    assert row.channels == "wechat"
    await dispatcher.run_once()
    [message] = wechat.sent_messages("subscribe")
    assert message["touser"] == "o_admin"
    assert (await Notification.get(id=row.id)).status is Status.SENT
