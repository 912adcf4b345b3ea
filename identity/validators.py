"""Validation of PRC resident identity numbers and mainland mobile numbers.

Pure functions with no I/O, so services, schemas and the CLI can share them. Error messages never
repeat the number they reject: they end up in API responses and logs, which must hold no personal data.
"""

from __future__ import annotations

import datetime
import re

__all__ = [
    "PROVINCE_CODES",
    "InvalidIdNumber",
    "InvalidMobile",
    "id_number_check_digit",
    "make_id_number",
    "normalize_id_number",
    "normalize_mobile",
]

# Province-level codes of GB/T 2260 (first two digits), plus Taiwan (71), Hong Kong (81), Macao (82)
# and 83, which the residence permits for Hong Kong, Macao and Taiwan residents use.
PROVINCE_CODES: frozenset[str] = frozenset(
    {
        *(str(n) for n in range(11, 16)),
        *(str(n) for n in range(21, 24)),
        *(str(n) for n in range(31, 38)),
        *(str(n) for n in range(41, 47)),
        *(str(n) for n in range(50, 55)),
        *(str(n) for n in range(61, 66)),
        "71",
        "81",
        "82",
        "83",
    }
)

# ISO 7064 MOD 11-2 weights 2^(17-i) mod 11 for positions 1..17, and the check character per remainder.
_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_EARLIEST_BIRTH = datetime.date(1900, 1, 1)

_ID_MESSAGES: dict[str, str] = {
    "length": "an identity number has exactly 18 characters",
    "characters": "an identity number has 17 digits followed by a digit or X",
    "region": "the identity number does not start with a known province code",
    "birth_date": "the identity number does not contain a valid birth date",
    "check_digit": "the identity number's check digit does not match",
}


class InvalidIdNumber(ValueError):
    """The text is not a valid resident identity number; ``reason`` says which rule failed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(_ID_MESSAGES[reason])


class InvalidMobile(ValueError):
    """The text is not a mainland China mobile number."""

    def __init__(self, message: str = "expected an 11-digit mainland China mobile number") -> None:
        super().__init__(message)


def id_number_check_digit(first17: str) -> str:
    """The 18th character for the given first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("expected exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _today() -> datetime.date:
    # Birth dates are calendar dates in China; compare with the date in Asia/Shanghai (UTC+8, no DST).
    return datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()


def normalize_id_number(raw: str) -> str:
    """Return the canonical 18-character form (upper-case X) or raise ``InvalidIdNumber``."""
    value = re.sub(r"\s+", "", raw).upper()
    if len(value) != 18:
        raise InvalidIdNumber("length")
    body, check = value[:17], value[17]
    # isascii() guards against full-width and other Unicode digits, which str.isdigit() accepts.
    if not (value.isascii() and body.isdigit() and (check.isdigit() or check == "X")):
        raise InvalidIdNumber("characters")
    if body[:2] not in PROVINCE_CODES:
        raise InvalidIdNumber("region")
    try:
        birth = datetime.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        raise InvalidIdNumber("birth_date") from None
    if not _EARLIEST_BIRTH <= birth <= _today():
        raise InvalidIdNumber("birth_date")
    if id_number_check_digit(body) != check:
        raise InvalidIdNumber("check_digit")
    return value


def make_id_number(region: str, birth: datetime.date, seq: str) -> str:
    """Build a valid number from a 6-digit region code, a birth date and a 3-digit sequence.

    For tests and demo data; the sequence's last digit is odd for men, even for women.
    """
    if len(region) != 6 or not region.isascii() or not region.isdigit():
        raise ValueError("region must be 6 digits")
    if len(seq) != 3 or not seq.isascii() or not seq.isdigit():
        raise ValueError("seq must be 3 digits")
    first17 = f"{region}{birth:%Y%m%d}{seq}"
    if len(first17) != 17:
        raise ValueError("birth year must have 4 digits")
    return first17 + id_number_check_digit(first17)


_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_PREFIXES = ("+86", "0086", "86")


def normalize_mobile(raw: str) -> str:
    """Return the 11-digit mobile number or raise ``InvalidMobile``.

    Accepts an optional +86 / 0086 / 86 country prefix, spaces and hyphens.
    """
    value = re.sub(r"[\s\-]+", "", raw)
    for prefix in _MOBILE_PREFIXES:
        # Strip a prefix only when exactly 11 digits remain, so a bare number is never cut short.
        if value.startswith(prefix) and len(value) - len(prefix) == 11:
            value = value[len(prefix) :]
            break
    if not _MOBILE_RE.fullmatch(value):
        raise InvalidMobile()
    return value
