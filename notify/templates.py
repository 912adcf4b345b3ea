"""The message template registry: what each event says on each channel, in Chinese.

A template key (``ebike.stolen``) maps to a WeChat message (subscribe message of the mini-program, or
template message of the official account) with its field names and page, an SMS template's
parameters, and an email subject and body. WeChat and SMS template *ids* belong to each deployment's
accounts: they come from ``GMID_NOTIFY_WECHAT_TEMPLATES`` / ``GMID_NOTIFY_SMS_TEMPLATES``; a channel
without an id for a key does not carry that key (the next channel does).

Values are formatted with ``str.format`` over the notification's data (all strings); ``{x:time}``
turns an ISO 8601 instant into Beijing time (``2026-11-25 21:30``). WeChat's per-field limits (thing
20 characters, phrase 5 ...) are applied by cutting the value, never by failing the message.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class TemplateError(ValueError):
    """Unknown template key or data that does not fit it (a programming error in the caller)."""


@dataclass(frozen=True)
class WeChatSpec:
    kind: Literal["subscribe", "template"]
    fields: tuple[tuple[str, str], ...]  # (WeChat data key, value format)
    page: str = ""  # mini-program page (subscribe) or pagepath (template), a format


@dataclass(frozen=True)
class Template:
    key: str
    title: str  # short, for the console and logs: no data
    required: tuple[str, ...]
    wechat: WeChatSpec
    sms_params: tuple[str, ...]
    sms_text: str  # what the approved SMS template says, {1}.. = sms_params (documentation and email)
    email_subject: str
    email_body: str
    extra: Mapping[str, Any] = field(default_factory=dict)


# WeChat value limits by field kind (key "thing1" -> kind "thing").
_LIMITS = {
    "thing": 20,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "character_string": 32,
    "phone_number": 17,
    "car_number": 8,
    "name": 10,
    "phrase": 5,
    "amount": 11,
}
_KEY_KIND = re.compile(r"^([a-z_]+?)\d+$")
# Official-account template fields are at most 20 characters since 2023-05.
_TEMPLATE_FIELD_LIMIT = 20


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "time":
            return display_time(str(value))
        return super().format_field(value, format_spec)


_FORMATTER = _Formatter()


def display_time(value: str) -> str:
    """ISO 8601 -> ``YYYY-MM-DD HH:MM`` in Beijing time; anything else unchanged."""
    try:
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


_MAIL_FOOTER = (
    "\n\n——\n光明e证 · 深圳市光明区\n请在微信中打开“光明e证”小程序查看详情。本邮件由系统自动发送，请勿回复。\n"
)

TEMPLATES: dict[str, Template] = {}


def register(template: Template) -> Template:
    TEMPLATES[template.key] = template
    return template


register(
    Template(
        key="ebike.stolen",
        title="电动车被盗报警",
        required=("bike", "lost_at", "location", "alarm_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{bike}"), ("time2", "{lost_at:time}"), ("thing3", "{location}"), ("phrase4", "已报警")),
            "pages/ebike/alarm?id={alarm_id}",
        ),
        sms_params=("{bike}", "{lost_at:time}", "{location}"),
        sms_text="电动车{1}于{2}在{3}附近报失被盗，请留意。",
        email_subject="电动车被盗报警：{bike}",
        email_body="电动车 {bike} 于 {lost_at:time} 在 {location} 附近报失被盗。\n报警编号：{alarm_id}",
    )
)
register(
    Template(
        key="ebike.sighted",
        title="被盗电动车被发现",
        required=("bike", "seen_at", "place", "alarm_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{bike}"), ("time2", "{seen_at:time}"), ("thing3", "{place}"), ("phrase4", "已发现")),
            "pages/ebike/alarm?id={alarm_id}",
        ),
        sms_params=("{bike}", "{seen_at:time}", "{place}"),
        sms_text="您报失的电动车{1}于{2}在{3}被执法人员扫码发现，请留意后续通知。",
        email_subject="被盗电动车被发现：{bike}",
        email_body="报失的电动车 {bike} 于 {seen_at:time} 在 {place} 被执法人员扫码发现。\n报警编号：{alarm_id}",
    )
)
register(
    Template(
        key="ebike.found",
        title="电动车报警已撤销",
        required=("bike", "at", "alarm_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{bike}"), ("time2", "{at:time}"), ("phrase3", "已找回")),
            "pages/ebike/alarm?id={alarm_id}",
        ),
        sms_params=("{bike}", "{at:time}"),
        sms_text="电动车{1}的被盗报警已于{2}由车主撤销（已找回）。",
        email_subject="电动车报警已撤销：{bike}",
        email_body="电动车 {bike} 的被盗报警已于 {at:time} 由车主撤销（已找回）。\n报警编号：{alarm_id}",
    )
)
register(
    Template(
        key="ebike.transferred",
        title="电动车过户",
        required=("bike", "direction", "at", "bike_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{bike}"), ("phrase2", "{direction}"), ("time3", "{at:time}")),
            "pages/ebike/detail?id={bike_id}",
        ),
        sms_params=("{bike}", "{direction}", "{at:time}"),
        sms_text="电动车{1}已办理过户（{2}），时间{3}。旧电子身份码已作废。",
        email_subject="电动车过户：{bike}",
        email_body="电动车 {bike} 已办理过户（{direction}），时间 {at:time}。旧电子身份码已作废。",
    )
)
register(
    Template(
        key="report.updated",
        title="诉求办理进展",
        required=("report_no", "state", "at", "report_id"),
        wechat=WeChatSpec(
            "subscribe",
            (
                ("character_string1", "{report_no}"),
                ("phrase2", "{state}"),
                ("time3", "{at:time}"),
                ("thing4", "{note}"),
            ),
            "pages/report/detail?id={report_id}",
        ),
        sms_params=("{report_no}", "{state}"),
        sms_text="您的诉求{1}有新进展：{2}。请在小程序查看。",
        email_subject="诉求 {report_no} 办理进展：{state}",
        email_body="您的诉求 {report_no} 于 {at:time} 更新为：{state}。\n{note}",
        extra={"defaults": {"note": "请在小程序查看详情"}},
    )
)
register(
    Template(
        key="report.overdue",
        title="诉求超时督办",
        required=("report_no", "state", "deadline", "node", "report_id"),
        # Staff work in the mini-program: their accounts carry its openid, not an official account's.
        wechat=WeChatSpec(
            "subscribe",
            (
                ("character_string1", "{report_no}"),
                ("thing2", "{state}"),
                ("time3", "{deadline:time}"),
                ("thing4", "{node}"),
            ),
            "pages/grid/report?id={report_id}",
        ),
        sms_params=("{report_no}", "{state}", "{deadline:time}"),
        sms_text="诉求{1}（{2}）已超过办理时限{3}，请尽快督办。",
        email_subject="超时督办：诉求 {report_no}",
        email_body="诉求 {report_no} 处于“{state}”，已超过办理时限 {deadline:time}，已升级至 {node}。",
    )
)
register(
    Template(
        key="sensor.alarm",
        title="燃气烟感报警",
        required=("device", "place", "level", "at"),
        wechat=WeChatSpec(
            "template",
            (("thing1", "{device}"), ("thing2", "{place}"), ("thing3", "{level}"), ("time4", "{at:time}")),
            "pages/device/alarm",
        ),
        sms_params=("{device}", "{place}", "{level}"),
        sms_text="{1}在{2}发出{3}报警，请立即处置。",
        email_subject="设备报警：{device}（{level}）",
        email_body="{device} 于 {at:time} 在 {place} 发出报警，级别：{level}。请立即处置。",
    )
)
register(
    Template(
        key="device.alarm",
        title="家中设备报警",
        required=("device", "what", "level", "at", "alarm_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{device}"), ("thing2", "{what}"), ("phrase3", "{level}"), ("time4", "{at:time}")),
            "pages/device/alarm?id={alarm_id}",
        ),
        sms_params=("{device}", "{what}", "{level}"),
        sms_text="您家中的{1}发出{2}报警（{3}），请立即查看并处置，必要时开窗通风、远离火源并拨打119。",
        email_subject="设备报警：{device}（{level}）",
        email_body="您家中的 {device} 于 {at:time} 发出“{what}”报警，级别：{level}。请立即查看并处置。",
    )
)
register(
    Template(
        key="device.alarm_cleared",
        title="设备报警已解除",
        required=("device", "what", "level", "at", "alarm_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{device}"), ("thing2", "{what}"), ("phrase3", "已解除"), ("time4", "{at:time}")),
            "pages/device/alarm?id={alarm_id}",
        ),
        sms_params=("{device}", "{what}"),
        sms_text="您家中的{1}的{2}报警已解除。",
        email_subject="设备报警已解除：{device}",
        email_body="您家中的 {device} 的“{what}”报警已于 {at:time} 解除。",
    )
)
register(
    Template(
        key="device.alarm_escalated",
        title="设备报警无人确认",
        required=("device", "what", "level", "at", "node", "alarm_id"),
        # Staff, in the mini-program: an alarm nobody acknowledged in time, escalated to them.
        wechat=WeChatSpec(
            "subscribe",
            (
                ("thing1", "{device}"),
                ("thing2", "{what}"),
                ("phrase3", "{level}"),
                ("time4", "{at:time}"),
                ("thing5", "{node}"),
            ),
            "pages/grid/device-alarm?id={alarm_id}",
        ),
        sms_params=("{node}", "{device}", "{what}"),
        sms_text="{1}辖区{2}的{3}报警无人确认，请立即处置。",
        email_subject="设备报警无人确认：{device}（{level}）",
        email_body="{node} 辖区的 {device} 于 {at:time} 发出“{what}”报警（{level}），至今无人确认，请立即处置。",
    )
)
register(
    Template(
        key="device.alarm_group",
        title="设备报警汇总",
        required=("building", "count", "level", "at"),
        # Further alarms about one building within a window after the first message: one message.
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{building}"), ("number2", "{count}"), ("phrase3", "{level}"), ("time4", "{at:time}")),
            "pages/device/alarms",
        ),
        sms_params=("{building}", "{count}", "{level}"),
        sms_text="{1}又有{2}条设备报警，最高级别{3}，请在小程序查看并处置。",
        email_subject="设备报警汇总：{building}（{count} 条）",
        email_body="截至 {at:time}，{building} 又有 {count} 条设备报警，最高级别：{level}。请在小程序查看并处置。",
    )
)
register(
    Template(
        key="device.binding",
        title="设备绑定申请结果",
        required=("device", "result", "at", "request_id"),
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{device}"), ("phrase2", "{result}"), ("time3", "{at:time}")),
            "pages/device/binding?id={request_id}",
        ),
        sms_params=("{device}", "{result}"),
        sms_text="您申请绑定的{1}审核{2}，详情请在小程序中查看。",
        email_subject="设备绑定申请{result}：{device}",
        email_body="您于光明e证申请绑定的 {device} 已于 {at:time} 审核{result}。详情请在小程序中查看。",
    )
)
register(
    Template(
        key="checkpoint.fever",
        title="体温异常提醒",
        required=("place", "at"),
        wechat=WeChatSpec("template", (("thing1", "{place}"), ("time2", "{at:time}")), "pages/grid/checkpoint"),
        sms_params=("{place}", "{at:time}"),
        sms_text="{1}卡口于{2}出现体温异常，请及时处置。",
        email_subject="体温异常提醒：{place}",
        email_body="{place} 卡口于 {at:time} 出现体温异常，请及时处置。",
    )
)
register(
    Template(
        key="checkin.stop",
        title="卡口拦截提醒",
        required=("place", "at", "reason"),
        # Grid and health staff: the place, the time and the reason category; never who, nor health details.
        wechat=WeChatSpec(
            "subscribe", (("thing1", "{place}"), ("time2", "{at:time}"), ("thing3", "{reason}")), "pages/grid/checkins"
        ),
        sms_params=("{place}", "{at:time}", "{reason}"),
        sms_text="{1}卡口于{2}拦截一人（{3}），请及时到场处置。",
        email_subject="卡口拦截提醒：{place}",
        email_body="{place} 卡口于 {at:time} 拦截一人，原因类别：{reason}。请及时到场处置，详情请在小程序查看。",
    )
)
register(
    Template(
        key="checkin.stop_person",
        title="卡口通行提示",
        required=("place", "at"),
        # The wearer: what to do next, no diagnosis.
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{place}"), ("time2", "{at:time}"), ("thing3", "请联系社区健康服务中心")),
            "pages/health/index",
        ),
        sms_params=("{place}", "{at:time}"),
        sms_text="您于{2}在{1}卡口未能通行。请前往或致电所在社区健康服务中心，按工作人员指引办理。",
        email_subject="光明e证：卡口通行提示",
        email_body=("您于 {at:time} 在 {place} 卡口未能通行。请前往或致电所在社区健康服务中心，按工作人员指引办理。"),
    )
)
register(
    Template(
        key="police.lookup_limit",
        title="查询超限提醒",
        required=("officer", "count", "at"),
        wechat=WeChatSpec(  # administrators, in the mini-program like the other staff
            "subscribe", (("thing1", "{officer}"), ("number2", "{count}"), ("time3", "{at:time}")), "pages/admin/audit"
        ),
        sms_params=("{officer}", "{count}"),
        # One budget for police and health staff (owner lookups, person searches, traces): the text names
        # the account, not a rank.
        sms_text="工作人员{1}一小时内个人信息查询达{2}次，已被拒绝，请核查。",
        email_subject="个人信息查询超限：{officer}",
        email_body=(
            "工作人员 {officer} 于 {at:time} 前一小时内的个人信息查询（车主、人员、轨迹）达 {count} 次，"
            "超出的查询已被拒绝，请在审计日志中核查。"
        ),
    )
)
register(
    Template(
        key="identity.id_number_changed",
        title="身份证号码更正通知",
        required=("at",),
        wechat=WeChatSpec(
            "subscribe", (("thing1", "您的身份证号码已由工作人员更正"), ("time2", "{at:time}")), "pages/me/profile"
        ),
        sms_params=("{at:time}",),
        sms_text="您在光明e证登记的身份证号码已于{1}由工作人员更正。如非本人办理，请尽快联系社区工作站。",
        email_subject="光明e证：身份证号码更正通知",
        email_body="您在光明e证登记的身份证号码已于 {at:time} 由工作人员更正。如非本人办理，请尽快联系社区工作站。",
    )
)
register(
    Template(
        key="welfare.match",
        title="惠民政策提醒",
        required=("policy", "policy_id", "at"),
        # The policy's name only: never the amount, incomes or anything else of the household.
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{policy}"), ("thing2", "您可能符合条件，点击查看申请指引"), ("time3", "{at:time}")),
            "pages/welfare/guide?policy={policy_id}",
        ),
        sms_params=("{policy}",),
        sms_text="根据您在光明e证保存的家庭情况，您可能符合「{1}」，请在小程序查看申请指引。",
        email_subject="光明e证：您可能符合「{policy}」",
        email_body="根据您保存的家庭情况，您可能符合「{policy}」。请在光明e证小程序查看申请条件、所需材料和申请渠道。",
    )
)
register(
    Template(
        key="job.seeker_update",
        title="求职进展",
        required=("posting", "enterprise", "step", "at", "application_id"),
        # The seeker: the posting and the enterprise (public), the step; nothing of the employer's notes.
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{posting}"), ("thing2", "{enterprise}"), ("phrase3", "{step}"), ("time4", "{at:time}")),
            "pages/jobs/application?id={application_id}",
        ),
        sms_params=("{enterprise}", "{posting}", "{step}"),
        sms_text="{1}的“{2}”岗位：{3}。请在光明e证小程序查看。",
        email_subject="求职进展：{posting}（{step}）",
        email_body="{enterprise} 的“{posting}”岗位于 {at:time} 更新：{step}。请在光明e证小程序查看详情。",
    )
)
register(
    Template(
        key="job.employer_update",
        title="岗位应聘动态",
        required=("posting", "candidate", "step", "at", "posting_id"),
        # The employer: a masked name only once the seeker applied or accepted, otherwise the candidate id.
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{posting}"), ("thing2", "{candidate}"), ("phrase3", "{step}"), ("time4", "{at:time}")),
            "pages/employer/applications?posting={posting_id}",
        ),
        sms_params=("{posting}", "{candidate}", "{step}"),
        sms_text="您发布的“{1}”岗位：求职者{2}{3}。请登录光明e证查看。",
        email_subject="岗位应聘动态：{posting}（{step}）",
        email_body="您发布的“{posting}”岗位于 {at:time} 有新动态：求职者 {candidate} {step}。请登录光明e证查看。",
    )
)
register(
    Template(
        key="job.match",
        title="新职位推荐",
        required=("title", "salary", "distance", "posting_id", "at"),
        # The posting's title, pay and a distance band only: nothing of the seeker (no name, skills, home).
        wechat=WeChatSpec(
            "subscribe",
            (("thing1", "{title}"), ("thing2", "{salary}"), ("thing3", "{distance}"), ("time4", "{at:time}")),
            "pages/jobs/posting?id={posting_id}",
        ),
        sms_params=("{title}", "{salary}"),
        sms_text="有新职位「{1}」（{2}）与您的求职意向相符，请在光明e证小程序查看。",
        email_subject="光明e证：新职位「{title}」",
        email_body="有新职位与您的求职意向相符：「{title}」，{salary}，离您{distance}。请在光明e证小程序查看职位详情；"
        "不想再收到推荐，可在求职资料中关闭新职位提醒。",
    )
)
register(
    Template(
        key="notify.test",
        title="测试消息",
        required=("at",),
        wechat=WeChatSpec("subscribe", (("thing1", "光明e证测试消息"), ("time2", "{at:time}")), "pages/index/index"),
        sms_params=("{at:time}",),
        sms_text="光明e证测试消息，发送时间{1}。",
        email_subject="光明e证测试消息",
        email_body="这是一条测试消息，发送时间 {at:time}。",
    )
)


def get(key: str) -> Template:
    try:
        return TEMPLATES[key]
    except KeyError:
        raise TemplateError(f"unknown notification template {key!r}") from None


def check_data(key: str, data: Mapping[str, Any]) -> dict[str, str]:
    """The data as strings, with the template's defaults; raises TemplateError when a value is missing."""
    template = get(key)
    values = {k: str(v) for k, v in template.extra.get("defaults", {}).items()}
    for name, value in data.items():
        if not isinstance(name, str) or not isinstance(value, str | int | float):
            raise TemplateError(f"template data of {key!r} must map names to strings or numbers")
        values[name] = str(value)
    missing = [name for name in template.required if not values.get(name)]
    if missing:
        raise TemplateError(f"template {key!r} needs {', '.join(missing)}")
    render_all(template, values)  # a bad format fails here, at enqueue, not in the dispatcher
    return values


def _fmt(pattern: str, data: Mapping[str, str]) -> str:
    try:
        return _FORMATTER.vformat(pattern, (), dict(data))
    except (KeyError, IndexError, ValueError) as exc:
        raise TemplateError(f"template field {pattern!r} cannot be filled: {exc}") from None


def wechat_data(template: Template, data: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, pattern in template.wechat.fields:
        value = _fmt(pattern, data).strip() or "-"
        if template.wechat.kind == "template":
            value = _cut(value, _TEMPLATE_FIELD_LIMIT)
        else:
            match = _KEY_KIND.match(key)
            limit = _LIMITS.get(match.group(1)) if match else None
            if limit is not None:
                value = _cut(value, limit)
        out[key] = {"value": value}
    return out


def wechat_page(template: Template, data: Mapping[str, str]) -> str:
    return _fmt(template.wechat.page, data) if template.wechat.page else ""


def sms_params(template: Template, data: Mapping[str, str]) -> list[str]:
    # Tencent limits each variable to 6..35 characters depending on the template type; cut at 35.
    return [_cut(_fmt(p, data), 35) for p in template.sms_params]


def email(template: Template, data: Mapping[str, str]) -> tuple[str, str]:
    return _fmt(template.email_subject, data), _fmt(template.email_body, data) + _MAIL_FOOTER


def render_all(template: Template, data: Mapping[str, str]) -> None:
    wechat_data(template, data)
    wechat_page(template, data)
    sms_params(template, data)
    email(template, data)


def parse_id_map(raw: str) -> dict[str, str]:
    """``key=ID,key=ID`` (settings) -> {key: ID}."""
    result: dict[str, str] = {}
    for part in raw.split(","):
        if part.strip():
            key, _, value = part.strip().partition("=")
            result[key.strip()] = value.strip()
    return result
