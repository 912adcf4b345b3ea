"""Structured logs: one JSON object a line, carrying the request id.

Log calls pass ids and codes, never personal data or secrets; the request id lets an operator find
every line of one request.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("gmid_request_id", default=None)


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
