"""Structured logs: one JSON object a line, carrying the request id.

Log calls pass ids and codes, never personal data or secrets; the request id lets an operator find
every line of one request.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType

from pydantic import ValidationError

from identity.redaction import mask_embedded

request_id_var: ContextVar[str | None] = ContextVar("gmid_request_id", default=None)

# A traceback is for finding the code, not the data: its frames are bounded (a recursion error has a
# thousand), and an exception's text is cut short, with phone and ID numbers and e-mail addresses masked
# (identity.redaction, as in the audit log), any other run of six digits or more hidden, and a
# validation error reduced to where it failed (its text quotes what the client sent).
MAX_TRACEBACK_FRAMES = 24
MAX_EXCEPTION_TEXT = 300
_LONG_DIGITS = re.compile(r"\d{6,}[\dXx]*")
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def exception_text(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        places = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors(include_input=False)})
        return f"{exc.error_count()} validation errors at {', '.join(places)[:MAX_EXCEPTION_TEXT]}"
    text = " ".join(str(exc).split())
    if len(text) > MAX_EXCEPTION_TEXT:
        text = text[:MAX_EXCEPTION_TEXT] + "…"
    return _LONG_DIGITS.sub("<digits>", mask_embedded(text))


def format_exception(exc: BaseException) -> str:
    lines = ["Traceback (most recent call last):\n"]
    frames = traceback.extract_tb(exc.__traceback__)
    if len(frames) > MAX_TRACEBACK_FRAMES:
        head, tail = MAX_TRACEBACK_FRAMES // 4, MAX_TRACEBACK_FRAMES - MAX_TRACEBACK_FRAMES // 4
        omitted = len(frames) - head - tail
        first = traceback.StackSummary.from_list(frames[:head]).format()
        last = traceback.StackSummary.from_list(frames[-tail:]).format()
        lines += [*first, f"  ... {omitted} frames left out ...\n", *last]
    else:
        lines += frames.format()
    lines.append(f"{type(exc).__module__}.{type(exc).__qualname__}: {exception_text(exc)}")
    cause, seen = exc.__cause__ or exc.__context__, 0
    while cause is not None and seen < 3:
        lines.append(f"\n(from {type(cause).__qualname__}: {exception_text(cause)})")
        cause, seen = cause.__cause__ or cause.__context__, seen + 1
    return "".join(lines)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)

    def formatException(self, ei: ExcInfo | tuple[None, None, None]) -> str:
        if ei[1] is None:
            return ""
        return format_exception(ei[1])


class StripQueryStrings(logging.Filter):
    """Sanic's access log writes the full URL; query strings can carry personal data (a police lookup
    by ID number), so only the path is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        line = getattr(record, "request", None)
        if isinstance(line, str) and "?" in line:
            record.request = line.split("?", 1)[0] + "?…"
        return True


_configured = False


def configure_logging(level: str = "INFO") -> None:
    global _configured
    access = logging.getLogger("sanic.access")
    if not any(isinstance(f, StripQueryStrings) for f in access.filters):
        access.addFilter(StripQueryStrings())
    root = logging.getLogger("gmid")
    root.setLevel(level)
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root.addHandler(handler)
    root.propagate = False
    _configured = True
