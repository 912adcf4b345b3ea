"""One error hierarchy, one error shape.

Every error leaves the service as ``{"error": {"code", "message", "details"}}`` with the status the
class declares. Unknown exceptions become ``internal_error`` (500) carrying only the request id: the
traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from asyncio import CancelledError
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sanic import Request, Sanic
from sanic import exceptions as sanic_exc
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse, json

from server import automethods

log = logging.getLogger("gmid.errors")


class AppError(sanic_exc.SanicException):
    """Base of every error the service raises on purpose."""

    status_code = 400
    code = "bad_request"
    default_message = "The request could not be processed."
    quiet = True

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        text = message or self.default_message
        super().__init__(text, status_code=self.status_code, quiet=True, headers=headers)
        self.message = text
        if code:
            self.code = code
        self.details: dict[str, Any] = details or {}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"
    default_message = "The request is malformed."


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    default_message = "Sign in first: a valid access token is required."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        headers = kwargs.pop("headers", None) or {}
        headers.setdefault("WWW-Authenticate", 'Bearer realm="gmid"')
        super().__init__(message, headers=headers, **kwargs)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    default_message = "Your role may not do this."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    default_message = "Nothing was found at this address."


class MethodNotAllowed(AppError):
    status_code = 405
    code = "method_not_allowed"
    default_message = "This method is not allowed here."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    default_message = "The request body is too large."


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    default_message = "Send the body as application/json."


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_failed"
    default_message = "Some fields are invalid."

    @classmethod
    def field(cls, name: str, message: str, code: str = "invalid_field") -> ValidationFailed:
        """One field refused by a service check, in the same ``details.fields`` shape as schema errors."""
        return cls(
            f"{name}: {message}", code=code, details={"fields": [{"field": name, "message": message, "type": code}]}
        )


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many requests; try again later."

    def __init__(self, message: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        retry_after = max(1, int(retry_after))
        headers = kwargs.pop("headers", None) or {}
        headers["Retry-After"] = str(retry_after)
        details = kwargs.pop("details", None) or {}
        details.setdefault("retry_after", retry_after)
        super().__init__(message, headers=headers, details=details, **kwargs)


class BadGateway(AppError):
    """A service we depend on (WeChat, an SMS gateway) answered something we cannot use."""

    status_code = 502
    code = "bad_gateway"
    default_message = "A service this one depends on answered something unusable; try again later."


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    default_message = "This service is not available right now."


# Sanic's own exceptions (routing, body size, bad framing) mapped onto our codes.
_SANIC_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request is malformed."),
    401: ("unauthorized", "Sign in first: a valid access token is required."),
    403: ("forbidden", "Your role may not do this."),
    404: ("not_found", "Nothing was found at this address."),
    405: ("method_not_allowed", "This method is not allowed here."),
    408: ("request_timeout", "The request took too long to arrive."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Send the body as application/json."),
    416: ("range_not_satisfiable", "The requested range cannot be served."),
    429: ("rate_limited", "Too many requests; try again later."),
    503: ("service_unavailable", "This service is not available right now."),
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def request_id_of(request: Request | None) -> str | None:
    if request is None:
        return None
    return getattr(request.ctx, "request_id", None)


def allowed_methods(request: Request) -> list[str]:
    """The methods the path answers to (Sanic leaves them out when it refuses TRACE itself)."""
    methods: set[str] = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            request.app.router.get(request.path, method, request.headers.get("host"))
        except sanic_exc.MethodNotAllowed as exc:
            methods.update(getattr(exc, "allowed_methods", None) or [])
        except sanic_exc.SanicException:
            continue
        else:
            methods.add(method)
    return sorted(methods)


Reshape = Callable[[Request, HTTPResponse], HTTPResponse]
_RESHAPERS: dict[str, Reshape] = {}


def reshape_errors_under(prefix: str, reshape: Reshape) -> None:
    """An API whose clients expect another error shape (Open311) turns ours into theirs, for every
    error under its path prefix, including 404 and 405 from the router and 429 from the middleware."""
    _RESHAPERS[prefix] = reshape


def client_went_away(request: Request | None, exception: BaseException) -> bool:
    """The client closed the connection mid-request (Sanic cancels the handler with RequestCancelled,
    a CancelledError; a write may fail with a ConnectionError). Not a fault of ours. A ConnectionError
    on a connection that is still open came from elsewhere (a database, a gateway) and is one."""
    if isinstance(exception, CancelledError):
        return True
    if isinstance(exception, ConnectionError) and request is not None:
        info = getattr(request, "conn_info", None)
        transport = getattr(request, "transport", None)
        return bool(getattr(info, "lost", False)) or bool(transport is not None and transport.is_closing())
    return False


# What the log and the metrics say when nobody is left to answer (nginx's "client closed request").
CLIENT_CLOSED_STATUS = 499


# Sanic refuses a request line and headers past 8 KiB before there is a request (its path is then "*"):
# the answer says so, not "the request body", and keeps the shape of the API the address was for.
_HEAD_TOO_LARGE = "Request header exceeds the size limit"
_HEAD_TOO_LARGE_MESSAGE = "The address or the headers are too large (at most 8 KiB together)."


def path_of(request: Request | None) -> str:
    """The request's path; for a request refused before it was parsed, read from the request line
    still in the receive buffer (the path only: nothing of the query)."""
    path = str(getattr(request, "path", "") or "")
    if path not in ("", "*"):
        return path
    buffer = getattr(getattr(request, "stream", None), "recv_buffer", None)
    if not isinstance(buffer, bytes | bytearray):
        return path
    parts = bytes(buffer[:2048]).split(b" ", 2)
    if len(parts) < 2:
        return path
    return parts[1].split(b"?", 1)[0].decode("latin-1")


class JSONErrorHandler(ErrorHandler):
    """Turns every exception into the one JSON error shape."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, sanic_exc.MethodNotAllowed) and request is not None and request.method == "OPTIONS":
            # OPTIONS on a path the router knows: not an error but the answer (server/automethods.py).
            return automethods.options_answer(getattr(exception, "allowed_methods", None) or allowed_methods(request))
        response = self.standard(request, exception)
        path = path_of(request)
        for prefix, reshape in _RESHAPERS.items():
            if path.startswith(prefix):
                return reshape(request, response)
        return response

    def standard(self, request: Request, exception: Exception) -> HTTPResponse:
        request_id = request_id_of(request)
        headers: dict[str, str] = {}
        if isinstance(exception, AppError):
            status = exception.status_code
            body = error_body(exception.code, exception.message, exception.details)
            headers.update(exception.headers or {})
        elif isinstance(exception, sanic_exc.SanicException) and exception.status_code in _SANIC_CODES:
            status = exception.status_code
            code, message = _SANIC_CODES[status]
            if status == 413 and _HEAD_TOO_LARGE in str(exception):
                message = _HEAD_TOO_LARGE_MESSAGE
            details: dict[str, Any] = {}
            headers.update(getattr(exception, "headers", None) or {})
            if isinstance(exception, sanic_exc.MethodNotAllowed):
                allowed = getattr(exception, "allowed_methods", None) or allowed_methods(request)
                if allowed:
                    allowed = sorted({*allowed, "OPTIONS"})  # answered on every path the router knows
                    details["allowed"] = allowed
                    headers["Allow"] = ", ".join(allowed)
            body = error_body(code, message, details)
        elif isinstance(exception, RedisConnectionError | RedisTimeoutError):
            # Redis restarting or failing over: a moment's outage a client should retry, not our fault
            # to report as 500 (the drill restarts it under load). Nothing of the cause goes out.
            status = 503
            log.warning(
                "redis unavailable request_id=%s route=%s error=%s",
                request_id,
                getattr(request, "path", "?"),
                exception.__class__.__name__,
            )
            body = error_body(
                "service_unavailable", "A service this request needs is briefly unavailable; try again shortly."
            )
            headers["Retry-After"] = "2"
        elif client_went_away(request, exception):
            status = CLIENT_CLOSED_STATUS
            log.info("client closed the connection request_id=%s route=%s", request_id, getattr(request, "path", "?"))
            body = error_body("client_closed_request", "The client closed the connection before the answer.")
        else:
            status = 500
            # The traceback is logged with the request id; the client gets the id only.
            log.error(
                "unhandled error request_id=%s route=%s",
                request_id,
                getattr(request, "path", "?"),
                exc_info=exception,
            )
            body = error_body(
                "internal_error",
                "Something went wrong on our side; quote the request id when you report it.",
                {"request_id": request_id},
            )
        if request_id:
            headers["X-Request-ID"] = request_id
        return json(body, status=status, headers=headers)


def install(app: Sanic) -> None:
    app.error_handler = JSONErrorHandler()
