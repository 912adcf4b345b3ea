"""Health data at rest: each kind of value is sealed with the PII vault under its own field name, so a
value cannot be moved to another column and still open."""

from __future__ import annotations

import json
from typing import Any

from identity.pii import current_vault

STATUS = "health.status"
STATUS_REASON = "health.status_reason"
QUARANTINE_REASON = "health.quarantine_reason"
TRIP_PLACE = "health.trip_place"
TEMPERATURE = "checkin.temperature"
REASONS = "checkin.reasons"
WINDOWS = "checkin.windows"


def seal(value: str, *, field: str) -> str:
    return current_vault().encrypt(value, field=field)


def unseal(token: str, *, field: str) -> str:
    return current_vault().decrypt(token, field=field)


def seal_json(value: Any, *, field: str) -> str:
    return seal(json.dumps(value, separators=(",", ":"), ensure_ascii=False), field=field)


def unseal_json(token: str, *, field: str) -> Any:
    return json.loads(unseal(token, field=field))
