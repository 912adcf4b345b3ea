"""A real SMTP server for tests: aiosmtpd on ``127.0.0.1`` (ephemeral port), in its own thread.

Quick start::

    with SmtpServer(auth={"mailer": "secret"}, starttls=True) as smtp:
        channel = EmailChannel(host=smtp.host, port=smtp.port, security="starttls", username="mailer",
                               password="secret", sender="noreply@example.cn", timeout=5,
                               tls_context=smtp.client_tls_context())
        smtp.reject_recipient("gone@example.cn")        # RCPT answered 550
        smtp.fail_next(451)                             # the next DATA answered 451
        ...
        [mail] = smtp.wait_for(1)
        mail["Subject"], mail.mail_from, mail.rcpt_tos, mail.tls, mail.login

``messages`` holds every accepted message, parsed (``email.policy.default``) into a
:class:`ReceivedMessage`, an ``EmailMessage`` that also carries the envelope. With ``starttls=True``
a self-signed certificate for ``localhost``/``127.0.0.1`` is made at start; ``client_tls_context()``
trusts it. With ``auth``, PLAIN and LOGIN are offered (over plain text too, so tests can use them
without TLS) and a wrong password gets ``535``; with STARTTLS, AUTH is only offered after it and
mail is refused without it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.policy
import ipaddress
import ssl
import tempfile
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["ReceivedMessage", "SmtpServer"]


class ReceivedMessage(EmailMessage):
    """A received message with its SMTP envelope (the defaults apply to MIME sub-parts)."""

    mail_from: str = ""
    rcpt_tos: tuple[str, ...] = ()
    tls: bool = False  # the session was encrypted (STARTTLS)
    login: str | None = None  # the authenticated user


_PARSER = BytesParser(ReceivedMessage, policy=email.policy.default)


class _Controller(Controller):
    """Binds port 0 and learns the real port before aiosmtpd connects to itself to start."""

    async def _bind(self) -> asyncio.AbstractServer:
        server = await super()._create_server()
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _create_server(self) -> Any:
        return self._bind()


def _self_signed(directory: Path) -> tuple[Path, Path, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())  # EC: instant, unlike an RSA key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path, cert_pem


class SmtpServer:
    host = "127.0.0.1"

    def __init__(self, *, auth: dict[str, str] | None = None, starttls: bool = False) -> None:
        self.auth = dict(auth or {})
        self.starttls = starttls
        self.messages: list[ReceivedMessage] = []
        self.port = 0
        self._cond = threading.Condition()
        self._rejected: dict[str, int] = {}
        self._data_failures: list[int] = []
        self._controller: _Controller | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._cert_pem = b""

    # -- scripting ---------------------------------------------------------------------------------

    def reject_recipient(self, address: str, code: int = 550) -> None:
        """RCPT TO this address is answered with ``code`` (quoting the address, as Postfix does)."""
        with self._cond:
            self._rejected[address.lower()] = code

    def fail_next(self, code: int = 451, times: int = 1) -> None:
        """The next ``times`` DATA commands are answered with ``code`` (nothing is recorded)."""
        with self._cond:
            self._data_failures.extend([code] * times)

    # -- results -----------------------------------------------------------------------------------

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until ``count`` messages arrived; returns a copy of ``messages``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} messages, got {len(self.messages)} in {timeout}s")
                self._cond.wait(remaining)
            return list(self.messages)

    def client_tls_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (and nothing else)."""
        if not self._cert_pem:
            raise RuntimeError("SmtpServer was started without starttls=True")
        return ssl.create_default_context(cadata=self._cert_pem.decode())

    # -- aiosmtpd hooks (server thread) -------------------------------------------------------------

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        with self._cond:
            code = self._rejected.get(address.lower())
        if code is not None:
            klass = code // 100
            return f"{code} {klass}.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._cond:
            if self._data_failures:
                code = self._data_failures.pop(0)
                return f"{code} {code // 100}.3.0 Scripted failure, try again later"
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        mail = _PARSER.parsebytes(content)
        assert isinstance(mail, ReceivedMessage)
        mail.mail_from = envelope.mail_from or ""
        mail.rcpt_tos = tuple(envelope.rcpt_tos)
        mail.tls = session.ssl is not None
        mail.login = session.auth_data if isinstance(session.auth_data, str) else None
        with self._cond:
            self.messages.append(mail)
            self._cond.notify_all()
        return "250 2.0.0 OK queued"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if user in self.auth and self.auth[user] == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535 5.7.8

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {"hostname": self.host, "port": 0, "server_hostname": "localhost", "ready_timeout": 5}
        if self.starttls:
            self._tmp = tempfile.TemporaryDirectory(prefix="gmid-smtp-")
            cert, key, self._cert_pem = _self_signed(Path(self._tmp.name))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            kwargs.update(tls_context=context, require_starttls=True)
        if self.auth:
            # Over plain text only for tests; aiosmtpd warns when AUTH is *required* without TLS.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=self.starttls, auth_required=self.starttls)
        self._controller = _Controller(self, **kwargs)
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
