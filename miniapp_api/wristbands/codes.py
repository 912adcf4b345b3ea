"""The identifiers of the feature, checked and normalised in one place: a band's BLE identifier, its
printed code, and GB/T 2260 place codes."""

from __future__ import annotations

import hashlib
import re

# A BLE device address (48 bits) or a 128-bit identifier (a beacon UUID), with or without separators.
_BLE_RE = re.compile(r"(?:[0-9A-F]{12}|[0-9A-F]{32})")
# Printed codes: Crockford base32 (no I, L, O, U), 8 to 16 characters, grouped by hyphens or spaces.
_CODE_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{8,16}")
_PLACE_RE = re.compile(r"[1-9][0-9]{5}")

# GB/T 2260 province-level codes (the first two digits of every code): 31 provinces, autonomous
# regions and municipalities, and 71 Taiwan, 81 Hong Kong, 82 Macao.
PROVINCES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    ]
)


def normalize_ble_id(raw: object) -> str | None:
    """Upper-case hex without separators, or None when it is no BLE identifier."""
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    text = raw.strip().upper().replace(":", "").replace("-", "")
    return text if _BLE_RE.fullmatch(text) else None


def normalize_printed_code(raw: object) -> str | None:
    """The printed code as typed or scanned (spaces and hyphens dropped, case ignored, Crockford's
    O→0 and I/L→1 read leniently), or None when it cannot be one."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    text = re.sub(r"[\s-]", "", raw.upper()).replace("O", "0").replace("I", "1").replace("L", "1")
    return text if _CODE_RE.fullmatch(text) else None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def valid_place_code(raw: object) -> bool:
    """Six digits whose first two name a province-level division; ``440311`` is Guangming."""
    return isinstance(raw, str) and bool(_PLACE_RE.fullmatch(raw)) and raw[:2] in PROVINCES
