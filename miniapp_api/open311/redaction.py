"""What Open311 may publish of a text an outside system filed: contact details and identifiers typed
into it (e-mail addresses, ID and card numbers, mobile and landline numbers, number plates) replaced."""

from __future__ import annotations

import re

_DIGIT = r"[0-9０-９]"
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Addresses with other letters (张三@例子.中国): after the ASCII ones, so these swallow a word typed
# before the address too (邮箱张三@...), which errs on the side of hiding.
_WIDE_EMAIL_RE = re.compile(r"[\w.%+-]+[@＠][\w-]+(?:[.．。][\w-]+)+")
# ID numbers (15 digits, or 17 and a check digit or X), and any other run of 15 digits or more (bank
# cards): digits may be grouped by single spaces or hyphens, as people type them (440306-19900101-123X).
_SEP = r"[ \u3000\-－]?"
_LONG_NUMBER_RE = re.compile(
    rf"(?<![0-9０-９A-Za-z]){_DIGIT}(?:{_SEP}{_DIGIT}){{13,}}(?:{_SEP}[XxＸｘ])?(?![0-9０-９A-Za-z])"
)
# Mainland mobile numbers, grouped by spaces or hyphens; those with +86 / 0086 / 86 go first, before
# the country code and the number together look like one long number.
_MOBILE = rf"[1１][3-9３-９]{_DIGIT}(?:[ \-]?{_DIGIT}){{8}}(?![0-9０-９A-Za-z])"
_PREFIXED_MOBILE_RE = re.compile(r"(?<![0-9０-９A-Za-z+＋])(?:[+＋]|00)?86[ \-]?" + _MOBILE)
_MOBILE_RE = re.compile(r"(?<![0-9０-９A-Za-z+＋])" + _MOBILE)
# Landlines: an area code and a 7- or 8-digit number (0755-27123456, 010 12345678).
_LANDLINE_RE = re.compile(r"(?<![0-9０-９A-Za-z])0\d{2,3}[- ]?\d{7,8}(?![0-9０-９A-Za-z])")
# Mainland number plates (粤B12345, 粤BD12345 for new energy, 粤B·12345).
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_RE = re.compile(rf"[{_PROVINCES}][A-Z][A-Z0-9·]{{5,6}}(?![A-Za-z0-9])")
REDACTED_EMAIL = "[邮箱已隐去]"
REDACTED_NUMBER = "[证件号已隐去]"
REDACTED_MOBILE = "[手机号已隐去]"
REDACTED_PHONE = "[电话已隐去]"
REDACTED_PLATE = "[车牌已隐去]"


def redact(text: str) -> str:
    """The text with e-mail addresses, ID numbers (and other long numbers), mobile and landline
    numbers and number plates replaced. Only text an outside system filed through Open311 is
    published at all (see ``describe``); this keeps contact details typed into it from leaving."""
    text = _EMAIL_RE.sub(REDACTED_EMAIL, text)
    text = _WIDE_EMAIL_RE.sub(REDACTED_EMAIL, text)
    text = _PREFIXED_MOBILE_RE.sub(REDACTED_MOBILE, text)
    text = _LONG_NUMBER_RE.sub(REDACTED_NUMBER, text)
    text = _MOBILE_RE.sub(REDACTED_MOBILE, text)
    text = _LANDLINE_RE.sub(REDACTED_PHONE, text)
    return _PLATE_RE.sub(REDACTED_PLATE, text)
