"""HTTP routes of notifications: the admin's outbox view and retry, and the providers' receipts."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import time

from redis.exceptions import RedisError
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, text
from wechatpy import parse_message
from wechatpy.events import TemplateSendJobFinishEvent

from identity.roles import Role
from identity.scope import admin_scope
from notify import service, templates, wechat_push
from notify.models import Notification
from notify.schemas import (
    AttemptOut,
    NotificationDetail,
    NotificationOut,
    NotificationPage,
    NotificationQuery,
    RecipientOut,
    SmsCallbackAck,
    SmsCallbackQuery,
    WeChatEventQuery,
)
from notify.sms_tencent import CALLBACK_ACK, SmsCallbackError, parse_status_callback
from server.auth import public, require_principal, requires, token_ignored
from server.errors import BadRequest, Forbidden, PayloadTooLarge, ServiceUnavailable
from server.ratelimit import rate_limit
from server.validation import check_json_bounds, errors, query_args, responds

log = logging.getLogger("gmid.notify")

bp = Blueprint("notify", url_prefix="/api/v1")

# WeChat pushes events with a signature over (token, timestamp, nonce); an old timestamp is a replay.
_EVENT_MAX_AGE = 300
_MAX_CALLBACK_BYTES = 256 * 1024


def _recipient(row: Notification, accounts: dict[int, str]) -> RecipientOut:
    if row.recipient_hidden:
        # About an anonymous report: who got it (and when) would name the reporter.
        return RecipientOut(account=None, wechat=None, phone=None, email=None, hidden="anonymous_report")
    recipient = service.masked_recipient(row)
    return RecipientOut(
        account=accounts.get(row.account_id) if row.account_id is not None else None,
        wechat=bool(recipient["wechat"]),
        phone=recipient["phone"],  # type: ignore[arg-type]
        email=recipient["email"],  # type: ignore[arg-type]
    )


def _out(row: Notification, accounts: dict[int, str]) -> NotificationOut:
    return NotificationOut(
        id=row.public_id,
        template=row.template,
        title=templates.TEMPLATES[row.template].title if row.template in templates.TEMPLATES else row.template,
        status=row.status,
        channels=row.channel_list,
        channel=row.channel,
        attempts=row.attempts,
        total_attempts=row.total_attempts,
        next_attempt_at=row.next_attempt_at,
        in_doubt=row.in_doubt,
        last_error=row.last_error,
        provider_message_id=row.provider_message_id,
        receipt_status=row.receipt_status,
        receipt_at=row.receipt_at,
        created_at=row.created_at,
        sent_at=row.sent_at,
        recipient=_recipient(row, accounts),
    )


# Admin ----------------------------------------------------------------------------------------------


@bp.get("/admin/notifications", name="admin.notifications")
@requires(Role.ADMIN)
@query_args(NotificationQuery)
@responds(200, NotificationPage, "Notifications, newest first, with the count in each status")
@errors(422)
async def list_notifications(request: Request, query: NotificationQuery) -> HTTPResponse:
    """The outbox: filter by status (e.g. `dead` for the dead letters) or template; page with
    `cursor`. The district administration sees every row; an administrator lower down, the rows for
    accounts working in their part of the hierarchy (the counts too)."""
    within = admin_scope(require_principal(request))
    page = await service.list_notifications(
        status=query.status, template=query.template, limit=query.limit, cursor=query.cursor, within=within
    )
    accounts = await service.account_public_ids(page.rows)
    body = NotificationPage(
        items=[_out(row, accounts) for row in page.rows],
        next_cursor=page.next_cursor,
        counts=await service.counts(within=within),
    )
    return json(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.get("/admin/notifications/<public_id:str>", name="admin.notification")
@requires(Role.ADMIN)
@responds(200, NotificationDetail, "One notification and its history: every attempt, receipt and retry")
@errors(404)
async def get_notification(request: Request, public_id: str) -> HTTPResponse:
    """One row of your scope (others are 404, as if they did not exist)."""
    row = await service.get(public_id=public_id, within=admin_scope(require_principal(request)))
    accounts = await service.account_public_ids([row])
    history = [
        AttemptOut(
            at=a.at,
            channel=a.channel,
            outcome=a.outcome,
            code=a.code,
            detail=a.detail,
            provider_message_id=a.provider_message_id,
            worker=a.worker,
            elapsed_ms=a.elapsed_ms,
        )
        for a in await service.history(row)
    ]
    body = NotificationDetail(**_out(row, accounts).model_dump(), history=history)
    return json(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.post("/admin/notifications/<public_id:str>/retry", name="admin.notification.retry")
@requires(Role.ADMIN)
@responds(200, NotificationOut, "Queued again from its first channel, with fresh attempts")
@errors(404, 409)
async def retry_notification(request: Request, public_id: str) -> HTTPResponse:
    principal = require_principal(request)
    row = await service.retry(
        public_id=public_id,
        actor=principal.account_id,
        role=principal.role.value,
        client_addr=str(request.remote_addr or request.ip),
        request_id=request.ctx.request_id,
        within=admin_scope(principal),
    )
    accounts = await service.account_public_ids([row])
    return json(_out(row, accounts).model_dump(mode="json"))


# Receipts -------------------------------------------------------------------------------------------


def _check_wechat_signature(request: Request, query: WeChatEventQuery, *, miniprogram: bool = False) -> None:
    settings = request.app.ctx.settings
    token: str = settings.wechat_mp_token if miniprogram else settings.wechat_oa_token
    if not token:
        raise ServiceUnavailable("WeChat server callbacks are not configured.", code="wechat_callback_not_configured")
    expected = hashlib.sha1("".join(sorted([token, query.timestamp, query.nonce])).encode()).hexdigest()  # noqa: S324
    if not hmac.compare_digest(expected.encode(), query.signature.lower().encode("utf-8")):
        raise Forbidden("The WeChat signature does not match.", code="bad_signature")
    try:
        age = abs(time.time() - int(query.timestamp))
    except ValueError:
        raise BadRequest("The timestamp is not a number.", code="bad_timestamp") from None
    if age > _EVENT_MAX_AGE:
        raise Forbidden("The WeChat callback is too old (replayed?).", code="stale_timestamp")


@bp.get("/notify/wechat/events", name="notify.wechat.verify")
@public
@token_ignored
@query_args(WeChatEventQuery)
@responds(200, None, "The `echostr` back: WeChat's check of the server URL", media="text/plain")
@errors(403, 503)
async def wechat_verify(request: Request, query: WeChatEventQuery) -> HTTPResponse:
    """WeChat's server-URL check (服务器配置): answer `echostr` when the signature is right."""
    return _echo(request, query, miniprogram=False)


@bp.post("/notify/wechat/events", name="notify.wechat.events")
@public
@token_ignored
@rate_limit(ip="6000/minute")
@query_args(WeChatEventQuery)
@responds(200, None, "`success`: WeChat stops resending the event", media="text/plain")
@errors(400, 403, 413, 503)
async def wechat_events(request: Request, query: WeChatEventQuery) -> HTTPResponse:
    """Events of the official account (plaintext mode). `TEMPLATESENDJOBFINISH` updates the
    notification's receipt; a failed delivery moves it to its next channel. Others are acknowledged."""
    body = _event_body(request, query, miniprogram=False)
    try:
        event = parse_message(body.decode("utf-8"))
        # wechatpy converts fields when they are read: read them here, where bad values are a 400.
        receipt = (
            (str(event.id), str(event.status or ""), str(event.source or ""))
            if isinstance(event, TemplateSendJobFinishEvent)
            else None
        )
    except Exception:
        raise BadRequest("The body is not a WeChat event (XML).", code="bad_event") from None
    if not await _first_delivery(request, query, body):
        return text("success")  # WeChat's own resend of an event already applied
    if receipt is not None:
        try:
            found = await service.apply_wechat_receipt(msg_id=receipt[0], status=receipt[1], openid=receipt[2])
        except Exception:
            await _forget_delivery(request, query)
            raise
        log.info("wechat receipt msgid=%s status=%s matched=%s", receipt[0], receipt[1][:32], found)
    return text("success")


@bp.get("/notify/wechat/miniprogram/events", name="notify.wechat.mp.verify")
@public
@token_ignored
@query_args(WeChatEventQuery)
@responds(200, None, "The `echostr` back: WeChat's check of the message push URL", media="text/plain")
@errors(400, 403, 503)
async def wechat_mp_verify(request: Request, query: WeChatEventQuery) -> HTTPResponse:
    """The mini-program's message push URL check (消息推送): answer `echostr` when the signature (with
    `GMID_WECHAT_MP_TOKEN`) is right."""
    return _echo(request, query, miniprogram=True)


def _echo(request: Request, query: WeChatEventQuery, *, miniprogram: bool) -> HTTPResponse:
    _check_wechat_signature(request, query, miniprogram=miniprogram)
    if not query.echostr:
        raise BadRequest("echostr is missing.", code="missing_echostr")
    return text(query.echostr)


def _event_body(request: Request, query: WeChatEventQuery, *, miniprogram: bool) -> bytes:
    """A signed event's body, within the size limit."""
    _check_wechat_signature(request, query, miniprogram=miniprogram)
    body = request.body or b""
    if len(body) > _MAX_CALLBACK_BYTES:
        raise PayloadTooLarge("The event is too large.")
    return body


@bp.post("/notify/wechat/miniprogram/events", name="notify.wechat.mp.events")
@public
@token_ignored
@rate_limit(ip="6000/minute")
@query_args(WeChatEventQuery)
@responds(200, None, "`success`: WeChat stops resending the event", media="text/plain")
@errors(400, 403, 413, 503)
async def wechat_mp_events(request: Request, query: WeChatEventQuery) -> HTTPResponse:
    """Events of the mini-program's message push (plaintext mode, XML or JSON). `subscribe_msg_sent_event`
    (the result of each subscribe message) settles the notification it is about: delivered, it is sent
    (and not sent again after a crash); failed, it moves to its next channel. Others are acknowledged."""
    body = _event_body(request, query, miniprogram=True)
    try:
        receipts = wechat_push.parse_subscribe_results(body)
    except wechat_push.BadEvent as exc:
        raise BadRequest(f"The body is not a WeChat event: {exc}", code="bad_event") from None
    if not await _first_delivery(request, query, body):
        return text("success")  # WeChat's own resend of an event already applied
    ids = templates.parse_id_map(request.app.ctx.settings.notify_wechat_templates)
    try:
        for receipt in receipts:
            names = frozenset(name for name, template_id in ids.items() if template_id == receipt.template_id)
            found = await service.apply_subscribe_receipt(receipt, templates=names)
            log.info("wechat subscribe result msgid=%s code=%s matched=%s", receipt.msg_id, receipt.error_code, found)
    except Exception:
        # Applying each result again is harmless (a MsgID settles one row once): WeChat's resend applies all.
        await _forget_delivery(request, query)
        raise
    return text("success")


def _delivery_key(query: WeChatEventQuery) -> str:
    return "gmid:notify:wechat-nonce:" + hashlib.sha256(f"{query.timestamp}:{query.nonce}".encode()).hexdigest()


async def _forget_delivery(request: Request, query: WeChatEventQuery) -> None:
    """The event could not be applied (it answers 500): WeChat's resend of it must be applied, not
    taken for one already applied."""
    with contextlib.suppress(RedisError):
        await request.app.ctx.redis.delete(_delivery_key(query))


async def _first_delivery(request: Request, query: WeChatEventQuery, body: bytes) -> bool:
    """In plaintext mode the signature covers the token, timestamp and nonce, not the body: a captured
    callback URL could carry another body until its timestamp is stale. Each (timestamp, nonce) is
    kept with its body's digest for that time: the same body again is WeChat resending (answered,
    not applied twice); another body is refused."""
    key = _delivery_key(query)
    digest = hashlib.sha256(body).hexdigest()
    redis = request.app.ctx.redis
    if await redis.set(key, digest, nx=True, ex=2 * _EVENT_MAX_AGE):
        return True
    seen = await redis.get(key)
    seen = seen.decode() if isinstance(seen, bytes) else seen
    if seen is not None and hmac.compare_digest(str(seen).encode(), digest.encode()):
        return False
    raise Forbidden("This callback's signature was already used for another event.", code="replayed_signature")


@bp.post("/notify/sms/status", name="notify.sms.status")
@public
@token_ignored
@rate_limit(ip="6000/minute")
@query_args(SmsCallbackQuery)
@responds(200, SmsCallbackAck, "`{result: 0, errmsg: OK}`: Tencent stops resending")
@errors(400, 403, 413, 503)
async def sms_status(request: Request, query: SmsCallbackQuery) -> HTTPResponse:
    """Tencent Cloud SMS status callback (短信下发状态回调). The URL carries the secret token,
    since Tencent does not sign callbacks; each report must also match the stored number."""
    expected: str = request.app.ctx.settings.sms_callback_token
    if not expected:
        raise ServiceUnavailable("SMS callbacks are not configured.", code="sms_callback_not_configured")
    if not hmac.compare_digest(expected.encode(), query.token.encode()):
        raise Forbidden("The callback token is wrong.", code="bad_token")
    body = request.body or b""
    if len(body) > _MAX_CALLBACK_BYTES:
        raise PayloadTooLarge("The callback is too large.")
    check_json_bounds(body)  # before the parser: it recurses per level of nesting
    try:
        receipts = parse_status_callback(body)
    except SmsCallbackError as exc:
        raise BadRequest(str(exc), code="bad_callback") from None
    matched = 0
    for receipt in receipts:
        matched += await service.apply_sms_receipt(receipt)
    log.info("sms receipts received=%s matched=%s", len(receipts), matched)
    return json(CALLBACK_ACK)
