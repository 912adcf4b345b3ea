"""Logs keep no personal data: the access log drops query strings."""

from __future__ import annotations

import logging

from server.logs import StripQueryStrings, configure_logging


def test_the_access_log_never_keeps_query_strings() -> None:
    configure_logging("WARNING")
    access = logging.getLogger("sanic.access")
    assert any(isinstance(f, StripQueryStrings) for f in access.filters)
    record = logging.LogRecord("sanic.access", logging.INFO, __file__, 1, "", (), None)
    record.request = "GET http://h/api/v1/police/ebikes?owner_id_number=440311198803010011&reason=x"
    StripQueryStrings().filter(record)
    assert record.request == "GET http://h/api/v1/police/ebikes?…"
