"""How values are written on the wire, the same in every answer.

Times: ISO 8601 in UTC with its numeric offset and microseconds, ``2026-12-05T06:30:00.000000+00:00``
(pydantic alone writes ``Z`` and drops a zero fraction, while hand-built answers wrote ``+00:00``: one
format for every field of every answer). A naive time from the database is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer


def wire_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# A time in an answer schema: ``field: WireTime`` (or ``WireTime | None``).
WireTime = Annotated[datetime, PlainSerializer(wire_time, return_type=str, when_used="json")]
