"""The email channel against a real SMTP server (aiosmtpd on loopback): what arrives, and how each
failure is classified."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from email.utils import parseaddr, parsedate_to_datetime

import pytest

from notify import templates
from notify.channels.base import Message, Outcome, Recipient
from notify.channels.email import EmailChannel, classify, message_id
from tests.support.smtp_server import SmtpServer

ADDRESS = "owner@example.cn"
SENDER = "noreply@gm.example.cn"


def make_message(address: str | None = ADDRESS, notification_id: str = "n123") -> Message:
    data = templates.check_data(
        "ebike.stolen",
        {"bike": "雅迪 白色", "lost_at": "2026-11-25T10:00:00+00:00", "location": "光明大街", "alarm_id": "a1"},
    )
    return Message(
        notification_id=notification_id,
        template="ebike.stolen",
        data=data,
        recipient=Recipient(email=address),
        attempt=1,
    )


def channel_for(smtp: SmtpServer, **overrides: object) -> EmailChannel:
    options: dict[str, object] = {
        "host": smtp.host,
        "port": smtp.port,
        "security": "none",
        "username": "",
        "password": "",
        "sender": SENDER,
        "timeout": 5.0,
    }
    options.update(overrides)
    return EmailChannel(**options)  # type: ignore[arg-type]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


async def test_message_arrives_in_chinese_with_stable_message_id(smtp: SmtpServer) -> None:
    channel = channel_for(smtp)
    message = make_message()

    first = await channel.send(message)
    second = await channel.send(message)  # a resend after a crash

    assert first.outcome is Outcome.SENT and second.outcome is Outcome.SENT
    assert first.provider_message_id == second.provider_message_id == "<n123@gm.example.cn>"
    one, two = smtp.wait_for(2)
    assert one["Message-ID"] == two["Message-ID"] == first.provider_message_id
    assert one.mail_from == SENDER and one.rcpt_tos == (ADDRESS,)
    assert not one.tls and one.login is None

    assert one["Subject"] == "电动车被盗报警：雅迪 白色"
    assert one["From"].addresses[0].display_name == "光明e证"
    assert one["From"].addresses[0].addr_spec == SENDER
    assert parseaddr(str(one["To"]))[1] == ADDRESS
    assert parsedate_to_datetime(str(one["Date"])).tzinfo is not None
    assert one["Auto-Submitted"] == "auto-generated"
    assert one.get_content_type() == "text/plain"
    assert one.get_content_charset() == "utf-8"
    body = one.get_content()
    assert "电动车 雅迪 白色 于 2026-11-25 18:00 在 光明大街 附近报失被盗。" in body
    assert "报警编号：a1" in body
    # The raw headers are 7-bit (RFC 2047): any relay can carry them.
    assert one.as_bytes().split(b"\n\n", 1)[0].isascii()

    other = await channel.send(make_message(notification_id="n124"))
    assert other.provider_message_id == "<n124@gm.example.cn>"


async def test_starttls_with_login() -> None:
    with SmtpServer(auth={"mailer": "s3cret"}, starttls=True) as smtp:
        channel = channel_for(
            smtp, security="starttls", username="mailer", password="s3cret", tls_context=smtp.client_tls_context()
        )
        result = await channel.send(make_message())

        assert result.outcome is Outcome.SENT, result
        [mail] = smtp.wait_for(1)
        assert mail.tls and mail.login == "mailer"
        assert mail["Subject"] == "电动车被盗报警：雅迪 白色"


async def test_starttls_with_an_untrusted_certificate_is_a_tls_alert() -> None:
    with SmtpServer(auth={"mailer": "s3cret"}, starttls=True) as smtp:
        # The system trust store does not know the test server's self-signed certificate.
        channel = channel_for(smtp, security="starttls", username="mailer", password="s3cret")
        result = await channel.send(make_message())

        assert (result.outcome, result.code, result.alert) == (Outcome.PERMANENT, "smtp_tls", True)
        assert smtp.messages == []


async def test_wrong_password_is_permanent_with_alert() -> None:
    with SmtpServer(auth={"mailer": "s3cret"}, starttls=True) as smtp:
        channel = channel_for(
            smtp, security="starttls", username="mailer", password="wrong", tls_context=smtp.client_tls_context()
        )
        result = await channel.send(make_message())

        assert (result.outcome, result.code, result.alert) == (Outcome.PERMANENT, "smtp_auth", True)
        assert "535" in result.detail
        assert smtp.messages == []


async def test_wrong_password_without_tls() -> None:
    with SmtpServer(auth={"mailer": "s3cret"}) as smtp:
        result = await channel_for(smtp, username="mailer", password="wrong").send(make_message())
        assert (result.outcome, result.code, result.alert) == (Outcome.PERMANENT, "smtp_auth", True)


async def test_rejected_recipient_is_permanent(smtp: SmtpServer) -> None:
    smtp.reject_recipient(ADDRESS, 550)
    result = await channel_for(smtp).send(make_message())

    assert (result.outcome, result.code, result.alert) == (Outcome.PERMANENT, "smtp_550", False)
    assert "User unknown" in result.detail
    assert smtp.messages == []


async def test_recipient_4xx_is_retry(smtp: SmtpServer) -> None:
    smtp.reject_recipient(ADDRESS, 450)  # greylisting
    result = await channel_for(smtp).send(make_message())
    assert (result.outcome, result.code) == (Outcome.RETRY, "smtp_450")


async def test_temporary_failure_is_retry_then_sent(smtp: SmtpServer) -> None:
    smtp.fail_next(451)
    channel = channel_for(smtp)

    first = await channel.send(make_message())
    assert (first.outcome, first.code, first.alert) == (Outcome.RETRY, "smtp_451", False)
    assert smtp.messages == []

    second = await channel.send(make_message())
    assert second.outcome is Outcome.SENT
    assert len(smtp.wait_for(1)) == 1


async def test_server_not_listening_is_retry() -> None:
    # A bound socket that does not listen: connecting is refused, and no one else can take the port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        channel = EmailChannel(
            host="127.0.0.1", port=port, security="none", username="", password="", sender=SENDER, timeout=2.0
        )
        result = await channel.send(make_message())

    assert (result.outcome, result.code, result.alert) == (Outcome.RETRY, "smtp_connect", False)


async def test_the_address_is_never_in_details_or_logs(smtp: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    channel = channel_for(smtp)
    smtp.reject_recipient("gone@example.cn", 550)  # the reply quotes the address, as Postfix does
    smtp.fail_next(451)

    results = [
        await channel.send(make_message()),  # 451
        await channel.send(make_message()),  # sent
        await channel.send(make_message("gone@example.cn")),  # 550
    ]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = channel_for(smtp, port=sock.getsockname()[1])
        results.append(await closed.send(make_message()))

    assert [r.outcome for r in results] == [Outcome.RETRY, Outcome.SENT, Outcome.PERMANENT, Outcome.RETRY]
    for result in results:
        assert "owner" not in result.detail and "gone" not in result.detail
        assert "@example.cn" not in result.detail
    assert "<address>" in results[2].detail
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # mail.log is the test server
    assert any(r.name == "gmid.notify.email" for r in ours)
    for record in ours:
        text = record.getMessage()
        assert "owner" not in text and "gone@" not in text, text
    assert any("domain=example.cn" in r.getMessage() for r in ours)


async def test_invalid_address_is_permanent_without_a_connection(smtp: SmtpServer) -> None:
    result = await channel_for(smtp).send(make_message("owner@example.cn, boss@example.cn"))
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "smtp_address")
    assert smtp.messages == []


def test_reaches_only_recipients_with_an_email() -> None:
    channel = EmailChannel(
        host="smtp.example.cn", port=587, security="starttls", username="", password="", sender=SENDER, timeout=5
    )
    assert channel.reaches(make_message())
    assert not channel.reaches(make_message(None))
    assert not channel.reaches(make_message(""))


def test_from_settings() -> None:
    from server.settings import Settings

    assert EmailChannel.from_settings(Settings()) is None
    assert EmailChannel.from_settings(Settings(smtp_host="smtp.example.cn")) is None
    channel = EmailChannel.from_settings(
        Settings(smtp_host="smtp.example.cn", smtp_port=465, smtp_security="tls", smtp_from=SENDER)
    )
    assert channel is not None
    assert (channel.host, channel.port, channel.security, channel.sender) == ("smtp.example.cn", 465, "tls", SENDER)
    assert "password" not in repr(channel)


def test_message_id_is_stable_and_safe() -> None:
    assert message_id("n123", SENDER) == "<n123@gm.example.cn>"
    odd = message_id("a b<c>@d", SENDER)
    assert odd == message_id("a b<c>@d", SENDER)
    assert odd.startswith("<") and odd.count("@") == 1 and " " not in odd


def test_classify_covers_timeouts_and_disconnects() -> None:
    import ssl

    import aiosmtplib

    assert classify(aiosmtplib.SMTPConnectTimeoutError("slow")).code == "smtp_timeout"
    assert classify(aiosmtplib.SMTPReadTimeoutError("slow")).code == "smtp_timeout"
    assert classify(aiosmtplib.SMTPServerDisconnected("bye")).code == "smtp_disconnected"
    assert classify(aiosmtplib.SMTPAuthenticationError(454, "try later")).outcome is Outcome.RETRY
    sender = classify(aiosmtplib.SMTPSenderRefused(553, "not yours", SENDER))
    assert (sender.outcome, sender.code, sender.alert) == (Outcome.PERMANENT, "smtp_sender", True)
    try:
        try:
            raise ssl.SSLCertVerificationError(1, "certificate verify failed")
        except ssl.SSLError as exc:
            raise aiosmtplib.SMTPConnectError("Error connecting") from exc
    except aiosmtplib.SMTPConnectError as wrapped:
        tls = classify(wrapped)
    assert (tls.outcome, tls.code, tls.alert) == (Outcome.PERMANENT, "smtp_tls", True)
    assert classify(aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server.")).code == "smtp_tls"
    no_auth = aiosmtplib.SMTPException(
        "The SMTP AUTH extension is not supported by this server. Try connecting via TLS (or STARTTLS)."
    )
    assert classify(no_auth).code == "smtp_auth"


async def test_plain_connection_to_a_starttls_only_server_with_login_is_an_auth_alert() -> None:
    with SmtpServer(auth={"mailer": "s3cret"}, starttls=True) as smtp:
        result = await channel_for(smtp, username="mailer", password="s3cret").send(make_message())
        assert (result.outcome, result.code, result.alert) == (Outcome.PERMANENT, "smtp_auth", True)
