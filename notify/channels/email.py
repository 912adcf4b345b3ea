"""The email channel: one SMTP conversation per message, through aiosmtplib.

Every send opens a new connection (STARTTLS, implicit TLS or plain, as configured), logs in when a
user name is set, sends, and quits. The ``Message-ID`` is derived from the notification's dedup token,
so a resend after a crash carries the same id and mail clients show one message.

Failures become a :class:`Result`, never an exception:

=============================================================  =========  =====  ====================
failure                                                        outcome    alert  code
=============================================================  =========  =====  ====================
connection refused / unreachable                               retry             ``smtp_connect``
timeout (connect, reply, TLS handshake)                        retry             ``smtp_timeout``
server hung up mid-conversation                                retry             ``smtp_disconnected``
any 4xx reply (greylisting, 451 local error, 452 ...)          retry             ``smtp_4xx`` / ``smtp_auth``
5xx to RCPT (550 no such user, 553 ...)                        permanent         ``smtp_5xx``
5xx to DATA (552 too big, 554 rejected content)                permanent         ``smtp_5xx``
5xx to MAIL FROM (our sender refused), greeting or EHLO        permanent  yes    ``smtp_sender`` / ``smtp_5xx``
authentication failed (535), AUTH not offered                  permanent  yes    ``smtp_auth``
TLS failure (certificate, protocol, STARTTLS not offered)      permanent  yes    ``smtp_tls``
address the mail system cannot carry (malformed, or non-ASCII  permanent         ``smtp_address`` /
and the server lacks SMTPUTF8)                                                   ``smtp_utf8``
=============================================================  =========  =====  ====================

Recipient addresses are personal data: logs carry the domain only, and server replies (which often
quote the address) are scrubbed before they go into ``Result.detail``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.errors
import hashlib
import logging
import re
import socket
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from typing import TYPE_CHECKING

import aiosmtplib

from notify import templates
from notify.channels.base import Message, Result
from server import product

if TYPE_CHECKING:
    from server.settings import Settings

log = logging.getLogger("gmid.notify.email")

SENDER_NAME = product.NAME_ZH
SECURITY_MODES = ("starttls", "tls", "none")

# Dot-atom text that is safe as the left part of a Message-ID; anything else is hashed.
_ID_LEFT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ADDRESS_LIKE = re.compile(r"<?[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+>?")


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower() or "-"


def _scrub(text: str, address: str) -> str:
    """Server text without the recipient's address (servers echo it: ``550 <a@b>: User unknown``)."""
    text = " ".join(text.split())
    text = _ADDRESS_LIKE.sub("<address>", text)
    if address:
        text = re.sub(f"<?{re.escape(address)}>?", "<address>", text, flags=re.IGNORECASE)
        local = address.rpartition("@")[0]
        if len(local) >= 3:
            text = re.sub(re.escape(local), "<local>", text, flags=re.IGNORECASE)
    return text


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind ``exc``, if any (aiosmtplib wraps implicit-TLS failures in SMTPConnectError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # EOF/zero-return mean the peer dropped the connection: a network event, not a configuration error.
        if isinstance(current, ssl.SSLError) and not isinstance(current, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return current
        current = current.__cause__ or current.__context__
    return None


def _reply(code: int, exc: aiosmtplib.SMTPResponseException, address: str, *, alert_5xx: bool, label: str) -> Result:
    detail = f"{label} {code} {_scrub(exc.message, address)}"
    if 400 <= code < 500:
        return Result.retry(f"smtp_{code}", detail)
    return Result.permanent(f"smtp_{code}", detail, alert=alert_5xx)


def classify(exc: BaseException, address: str = "") -> Result:
    """Map an exception of an SMTP send to a Result; ``address`` is only used to scrub it from the detail."""
    tls = _ssl_error(exc)
    if tls is not None:
        why = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or ""
        return Result.permanent("smtp_tls", f"TLS failure: {tls.__class__.__name__} {why}".strip(), alert=True)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        if not exc.recipients:  # not raised that way by aiosmtplib, but keep the classification total
            return Result.retry("smtp_error", "recipients refused without a reply")
        first = exc.recipients[0]
        return _reply(first.code, first, address, alert_5xx=False, label="RCPT")
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return _reply(exc.code, exc, address, alert_5xx=False, label="RCPT")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        detail = f"AUTH {exc.code} {_scrub(exc.message, address)}"
        if 400 <= exc.code < 500:  # 454 temporary authentication failure
            return Result.retry("smtp_auth", detail)
        return Result.permanent("smtp_auth", detail, alert=True)
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        if 400 <= exc.code < 500:
            return Result.retry(f"smtp_{exc.code}", f"MAIL {exc.code} {_scrub(exc.message, address)}")
        # Our own From is refused: every message would fail until the configuration is fixed.
        return Result.permanent("smtp_sender", f"MAIL {exc.code} {_scrub(exc.message, address)}", alert=True)
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return _reply(exc.code, exc, address, alert_5xx=False, label="DATA")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # Greeting, EHLO or STARTTLS refused with 5xx: the server does not accept us at all.
        return _reply(exc.code, exc, address, alert_5xx=True, label="reply")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return Result.retry("smtp_timeout", f"timeout: {_scrub(str(exc), address)}")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return Result.retry("smtp_disconnected", f"server disconnected: {_scrub(str(exc), address)}")
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        return Result.retry("smtp_connect", _scrub(str(exc), address))
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return Result.permanent("smtp_utf8", "address needs SMTPUTF8, which the server does not offer")
    if isinstance(exc, aiosmtplib.SMTPException):
        text = str(exc)
        # "AUTH ... not supported ... Try connecting via TLS (or STARTTLS)" is about AUTH: test it first.
        if "AUTH" in text:
            return Result.permanent("smtp_auth", "server does not offer AUTH (on this connection)", alert=True)
        if "STARTTLS" in text:
            return Result.permanent("smtp_tls", "server does not offer STARTTLS", alert=True)
        return Result.retry("smtp_error", _scrub(text, address))
    if isinstance(exc, OSError):
        return Result.retry("smtp_connect", f"{exc.__class__.__name__}: {_scrub(str(exc), address)}")
    # A bug (ours or the library's): retry a bounded number of times, and tell an operator.
    return Result.retry("smtp_error", f"unexpected {exc.__class__.__name__}", alert=True)


def message_id(dedup_token: str, sender: str) -> str:
    """``<token@sender-domain>``, the same on every attempt of one notification."""
    left = dedup_token if _ID_LEFT.fullmatch(dedup_token) else hashlib.sha256(dedup_token.encode()).hexdigest()[:32]
    return f"<{left}@{_domain(sender)}>"


class EmailChannel:
    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str,
        sender: str,
        timeout: float,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"smtp security must be one of {', '.join(SECURITY_MODES)}, not {security!r}")
        if "@" not in sender:
            raise ValueError("smtp sender must be an address like noreply@example.cn")
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.sender = sender
        self.timeout = timeout
        self.tls_context = tls_context
        self._local_hostname: str | None = None

    def __repr__(self) -> str:
        return f"EmailChannel(host={self.host!r}, port={self.port}, security={self.security!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailChannel | None:
        if not settings.smtp_host or not settings.smtp_from:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            timeout=float(settings.smtp_timeout),
        )

    def reaches(self, message: Message) -> bool:
        if not message.recipient.email:
            return False
        return message.template in templates.TEMPLATES

    def build(self, message: Message) -> EmailMessage:
        """The MIME message; raises TemplateError or ValueError/HeaderParseError for a bad address."""
        address = message.recipient.email or ""
        subject, body = templates.email(templates.get(message.template), message.data)
        mail = EmailMessage()
        mail["From"] = Address(display_name=SENDER_NAME, addr_spec=self.sender)
        mail["To"] = Address(addr_spec=address)  # exactly one addr-spec: no header injection, no extra recipients
        mail["Subject"] = subject
        mail["Date"] = dt.datetime.now(templates.SHANGHAI)
        mail["Message-ID"] = message_id(message.dedup_token, self.sender)
        # RFC 3834: vacation responders and auto-forwarders must not answer a system notice.
        mail["Auto-Submitted"] = "auto-generated"
        mail["X-Auto-Response-Suppress"] = "All"
        mail["Content-Language"] = "zh-CN"
        mail.set_content(body, charset="utf-8")
        return mail

    async def _ehlo_name(self) -> str:
        # aiosmtplib would look the FQDN up on every connection; it does not change while we run.
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        return self._local_hostname

    async def send(self, message: Message) -> Result:
        address = message.recipient.email or ""
        domain = _domain(address)
        if not address:
            return Result.permanent("no_address", "recipient has no email address")
        try:
            mail = self.build(message)
        except templates.TemplateError as exc:
            log.error("email not built id=%s template=%s error=%s", message.notification_id, message.template, exc)
            return Result.permanent("template", str(exc)[:255], alert=True)
        except (ValueError, email.errors.HeaderParseError) as exc:
            log.warning(
                "email address invalid id=%s domain=%s error=%s", message.notification_id, domain, type(exc).__name__
            )
            return Result.permanent("smtp_address", "recipient address is not a valid addr-spec")
        msg_id = str(mail["Message-ID"])
        try:
            await aiosmtplib.send(
                mail,
                sender=self.sender,
                recipients=[address],
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self._password if self.username else None,
                local_hostname=await self._ehlo_name(),
                timeout=self.timeout,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",  # False, not None: "none" must not try STARTTLS anyway
                tls_context=self.tls_context,
            )
        except Exception as exc:
            result = classify(exc, address)
            # Only the class name and the scrubbed detail: exception texts can quote the address.
            (log.error if result.alert else log.warning)(
                "email failed id=%s attempt=%d domain=%s outcome=%s code=%s error=%s detail=%s",
                message.notification_id,
                message.attempt,
                domain,
                result.outcome.value,
                result.code,
                exc.__class__.__name__,
                result.detail,
            )
            return result
        log.info(
            "email sent id=%s attempt=%d domain=%s message_id=%s",
            message.notification_id,
            message.attempt,
            domain,
            msg_id,
        )
        return Result.sent(provider_message_id=msg_id)

    async def aclose(self) -> None:
        """Nothing is held between sends."""
