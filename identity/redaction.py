"""Personal data typed into free text: found in one place, then replaced or masked.

``find`` reads a text for e-mail addresses (also ``wang(at)example.com``, ``[at]`` / ``[dot]``,
``wang at example dot com``), mainland mobiles (with ``+86`` / ``0086`` / ``86``, a long-distance ``0``,
spaces or hyphens, every digit set apart, dots, underscores, slashes or middle dots between its groups,
or run into a word on one side: Tel13912345678), landlines (the area code in ASCII or full-width
brackets, after a space, hyphen, dot or slash, after ``+86``, or the digits run together; a 7- or 8-digit
local number after a word such as 电话 or 座机), ID numbers however their digits are grouped (pairs,
fours) and other runs of 15 digits or more (bank cards), and, when asked, number plates (粤B·D12345).
Digits written as words (一三九..., 幺三九..., 壹叁玖...) count as digits in runs of three or more. Two
renderings: ``redact`` puts a label in each place (what Open311 publishes), ``mask_embedded`` keeps only
the ends (the audit log, log lines). Full-width digits, letters and brackets count as their ASCII forms.

Shapes, not checks: a number that fails its check digit is still someone's (mistyped) number. Ordinary
numbers in a complaint stay: dates (2024年3月, 2024-03-15, 2024.03.15), times (8:00-18:00), amounts,
versions (1.2.3), house numbers (114号3栋), counts and names in words (三楼, 张三), codes with letters
on both sides or starting with 0 (GM0101010001, 订单号A13812345678B).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Found", "Kind", "find", "mask_embedded", "redact", "scannable"]


class Kind(StrEnum):
    EMAIL = "email"
    MOBILE = "mobile"
    LANDLINE = "landline"
    LOCAL_NUMBER = "local_number"  # a landline without its area code, after a phone word
    NUMBER = "number"  # an ID number, a bank card, any long run of digits
    PLATE = "plate"


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    kind: Kind
    text: str  # as scanned: ASCII digits, letters and brackets


LABELS = {
    Kind.EMAIL: "[邮箱已隐去]",
    Kind.MOBILE: "[手机号已隐去]",
    Kind.LANDLINE: "[电话已隐去]",
    Kind.LOCAL_NUMBER: "[电话已隐去]",
    Kind.NUMBER: "[证件号已隐去]",
    Kind.PLATE: "[车牌已隐去]",
}

# One character for one: positions in the scanned copy are positions in the text.
_WIDE = {0xFF01 + i: chr(0x21 + i) for i in range(0x5E)}  # full-width ASCII
_WIDE.update({0x3000: " ", 0x3010: "[", 0x3011: "]"})  # ideographic space, 【 】
# Digits written as words (一三九..., 幺三九..., 壹叁玖...): one character for one digit, in runs of
# three or more only, so a name (张三13912345678) or a count (三楼, 两户) stays a word.
_WORD_DIGITS = {
    **{ord(c): str(i) for i, c in enumerate("〇一二三四五六七八九")},
    **{ord(c): str(i) for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")},
    **{ord(c): str(i) for i, c in ((1, "幺"), (2, "两"), (2, "兩"), (2, "貳"), (3, "參"), (6, "陸"))},
}
_WORD_DIGIT_RUN = re.compile("[" + "".join(chr(c) for c in _WORD_DIGITS) + "]{3,}")
_WIDE[0x3002] = "."  # 。 typed as a separator (139。1234。5678)


def scannable(text: str) -> str:
    """The text as the finder reads it, one character for one: ASCII digits (also for full-width ones
    and digit words such as 一 幺 壹), letters, brackets and separators."""
    out = []
    text = _WORD_DIGIT_RUN.sub(lambda m: m.group().translate(_WORD_DIGITS), text)
    for c in text.translate(_WIDE):
        if c.isdigit() and not c.isascii():
            value = unicodedata.decimal(c, None)
            out.append(str(value) if value is not None else c)
        else:
            out.append(c)
    return "".join(out)


_SEP = r"[ \t\-\u2010\u2011\u2013\u2014]"
# Dots, underscores, slashes and middle dots separate the groups of a number only where the groups
# have a phone's shape (139.1234.5678, 0755/2612/3456): a version (1.2.3), a date (2024.03.15) or an
# IP address is no phone.
_GROUP_SEP = r"[._/\u00b7\u30fb]"
_LEFT = r"(?<![0-9A-Za-z])"
_RIGHT = r"(?![0-9A-Za-z])"
_AREA = r"0[1-9][0-9]{1,2}"  # 010, 020 ... 0755
_LOCAL = rf"[1-9][0-9]{{2,3}}{_SEP}?[0-9]{{4}}"  # 7 or 8 digits, perhaps split before the last four
_MOBILE = rf"1[3-9][0-9](?:{_SEP}?[0-9]){{8}}"
_COUNTRY = r"(?:\+|00)86"
_OPEN, _CLOSE = r"[(\[]", r"[)\]]"

_OBFUSCATED_AT = rf"(?:{_OPEN}|[{{<])[ ]*at[ ]*(?:{_CLOSE}|[}}>])"
_OBFUSCATED_DOT = rf"(?:{_OPEN}|[{{<])[ ]*dot[ ]*(?:{_CLOSE}|[}}>])"
_DOT = rf"(?:\.|[ ]*{_OBFUSCATED_DOT}[ ]*)"
_WORD_AT, _WORD_DOT = r"[ ]+at[ ]+", r"[ ]+dot[ ]+"
# Each address is tried from the start of a run of its characters only: a long run without an @ costs
# one pass, not one pass from each of its characters.
_EMAIL_RE = re.compile(
    rf"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+(?:[ ]*@[ ]*|[ ]*{_OBFUSCATED_AT}[ ]*)"
    rf"[A-Za-z0-9\-]+(?:{_DOT}[A-Za-z0-9\-]+)+",
    re.IGNORECASE,
)
# Spelt out (wang at example dot com): only with a spelt-out dot, so "meet at home" stays.
_WORDS_EMAIL_RE = re.compile(
    rf"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+{_WORD_AT}[A-Za-z0-9\-]+"
    rf"(?:(?:\.|{_WORD_DOT})[A-Za-z0-9\-]+)*{_WORD_DOT}[A-Za-z]{{2,}}(?![A-Za-z0-9])",
    re.IGNORECASE,
)
# Addresses with other letters (张三@例子.中国): these swallow a word typed before the address too
# (邮箱张三@...), which errs on the side of hiding.
_WIDE_EMAIL_RE = re.compile(r"(?<![\w.%+\-])[\w.%+\-]+@[\w\-]+(?:[.。][\w\-]+)+")

_PREFIXED_MOBILE_RE = re.compile(
    rf"(?<![0-9A-Za-z+])(?:{_OPEN}[ ]*\+?(?:00)?86[ ]*{_CLOSE}|{_COUNTRY}|86){_SEP}?{_MOBILE}{_RIGHT}"
)
_PREFIXED_LANDLINE_RE = re.compile(
    rf"(?<![0-9A-Za-z+]){_COUNTRY}{_SEP}?"
    rf"(?:{_OPEN}0?[1-9][0-9]{{1,2}}{_CLOSE}|{_OPEN}0{_CLOSE}{_SEP}?[1-9][0-9]{{1,2}}|0?[1-9][0-9]{{1,2}})"
    rf"{_SEP}?{_LOCAL}{_RIGHT}"
)
# ID numbers (17 digits and a check digit or X; 15 for the old ones), bank cards: digits typed in
# groups of three or more (440306-19900101-123X, 6222 0212 3456 7890), 15 digits or more. Neither
# begins with 0 (that is a landline's area code) nor with a mobile number and a space (联系13912345678
# 114号: the mobile is hidden, the house number stays).
_LONG_RE = re.compile(rf"{_LEFT}[1-9][0-9]{{2,}}(?:{_SEP}[0-9]{{3,}})*(?:{_SEP}?[Xx])?{_RIGHT}")
_LONG_MIN_DIGITS = 15
_MOBILE_FIRST = re.compile(rf"1[3-9][0-9]{{9}}{_SEP}")
# A mobile run into a word on one side is a phone (Tel13912345678, vx13912345678); with letters on both
# sides it is a code (订单号A13812345678B).
_MOBILE_RE = re.compile(rf"(?<![0-9+])0?{_MOBILE}(?![0-9])")
_GROUPED_MOBILE_RE = re.compile(
    rf"(?<![0-9+])(?<![0-9]{_GROUP_SEP})0?1[3-9][0-9](?:{_GROUP_SEP}[0-9]{{4}}{_GROUP_SEP}?|[0-9]{{4}}{_GROUP_SEP})"
    rf"[0-9]{{4}}(?![0-9])(?!{_GROUP_SEP}[0-9])"
)
# ID numbers however they are grouped (in pairs, fours, 6-8-4, with dots or slashes): 18 characters
# whose 7th to 14th are a date of birth.
_ANY_SEP = rf"(?:{_SEP}|{_GROUP_SEP})"
_ID_RE = re.compile(rf"{_LEFT}[1-9](?:{_ANY_SEP}?[0-9]){{16}}{_ANY_SEP}?[0-9Xx]{_RIGHT}(?!{_ANY_SEP}[0-9])")
_BIRTH = re.compile(r"(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")
# Every digit set apart (1 3 9 1 2 3 4 5 6 7 8), with nothing more of the same around it.
_SPACED_MOBILE_RE = re.compile(rf"{_LEFT}(?<![0-9]{_SEP})1{_SEP}[3-9](?:{_SEP}[0-9]){{9}}{_RIGHT}(?!{_SEP}[0-9])")
_LANDLINE_RE = re.compile(
    rf"{_LEFT}(?:{_OPEN}[ ]*{_AREA}[ ]*{_CLOSE}{_SEP}*|{_AREA}{_SEP}){_LOCAL}{_RIGHT}"
    rf"|{_LEFT}{_AREA}[1-9][0-9]{{6,7}}{_RIGHT}"
    rf"|{_LEFT}(?<![0-9]{_GROUP_SEP}){_AREA}{_GROUP_SEP}[1-9][0-9]{{2,3}}{_GROUP_SEP}?[0-9]{{4}}{_RIGHT}(?!{_GROUP_SEP}[0-9])"
)
_PHONE_WORD_RE = re.compile(
    rf"(?:电话|座机|固话|手机|联系方式|(?<![A-Za-z])(?:tel|phone))(?:号码|号)?[ :：是为]*(?P<hit>{_LOCAL}){_RIGHT}",
    re.IGNORECASE,
)
# Mainland number plates (粤B12345, 粤BD12345 for new energy, 粤B·12345, 粤B·D12345, 粤B D12345).
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_RE = re.compile(rf"[{_PROVINCES}][ ]?[A-Z](?:{_GROUP_SEP}|[ \-])?[A-Z0-9]{{5,6}}(?![A-Za-z0-9])")


def _long_number(match: re.Match[str]) -> bool:
    text = match.group()
    return sum(c.isdigit() for c in text) >= _LONG_MIN_DIGITS and not _MOBILE_FIRST.match(text)


def _id_number(match: re.Match[str]) -> bool:
    digits = "".join(c for c in match.group() if c.isdigit())
    return _BIRTH.fullmatch(digits[6:14]) is not None


_LETTER = re.compile(r"[A-Za-z]")


def _not_inside_a_code(match: re.Match[str]) -> bool:
    """Letters on one side at most: on both, the digits are part of a code (A13812345678B)."""
    text, start, end = match.string, match.start(), match.end()
    return not (_LETTER.match(text, start - 1) if start else None) or not _LETTER.match(text, end)


# In this order: what an earlier pattern took, a later one does not see.
_PATTERNS: list[tuple[Kind, re.Pattern[str], Callable[[re.Match[str]], bool] | None]] = [
    (Kind.EMAIL, _EMAIL_RE, None),
    (Kind.EMAIL, _WIDE_EMAIL_RE, None),
    (Kind.EMAIL, _WORDS_EMAIL_RE, None),
    (Kind.MOBILE, _PREFIXED_MOBILE_RE, None),
    (Kind.LANDLINE, _PREFIXED_LANDLINE_RE, None),
    (Kind.NUMBER, _ID_RE, _id_number),
    (Kind.NUMBER, _LONG_RE, _long_number),
    (Kind.MOBILE, _MOBILE_RE, _not_inside_a_code),
    (Kind.MOBILE, _GROUPED_MOBILE_RE, None),
    (Kind.MOBILE, _SPACED_MOBILE_RE, None),
    (Kind.LANDLINE, _LANDLINE_RE, None),
    (Kind.LOCAL_NUMBER, _PHONE_WORD_RE, None),
]
_TAKEN = "\ufffe"  # a noncharacter: no pattern reads it as a digit, letter or separator


def find(text: str, *, plates: bool = False) -> list[Found]:
    """Every piece of personal data in ``text``, in order, none overlapping."""
    scanned = scannable(text)
    found: list[Found] = []
    patterns = [*_PATTERNS, (Kind.PLATE, _PLATE_RE, None)] if plates else _PATTERNS
    for kind, pattern, accept in patterns:
        spans = []
        for match in pattern.finditer(scanned):
            start, end = match.span("hit") if "hit" in pattern.groupindex else match.span()
            if accept is None or accept(match):
                spans.append((start, end))
        for start, end in spans:
            found.append(Found(start, end, kind, scanned[start:end]))
            scanned = scanned[:start] + _TAKEN * (end - start) + scanned[end:]
    return sorted(found, key=lambda f: f.start)


def _render(text: str, found: list[Found], how: Callable[[Found], str]) -> str:
    parts, at = [], 0
    for item in found:
        parts += [text[at : item.start], how(item)]
        at = item.end
    parts.append(text[at:])
    return "".join(parts)


def redact(text: str, *, plates: bool = True) -> str:
    """The text with each piece of personal data replaced by a label (``[电话已隐去]``...): for text
    that is published."""
    return _render(text, find(text, plates=plates), lambda f: LABELS[f.kind])


def _keep_ends(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit()) + ("X" if text.rstrip()[-1:] in ("X", "x") else "")


def _masked(item: Found) -> str:
    digits = _digits(item.text)
    if item.kind is Kind.EMAIL:
        local, _, domain = re.split(rf"([ ]*(?:@|{_OBFUSCATED_AT})[ ]*|{_WORD_AT})", item.text, maxsplit=1, flags=re.I)
        domain = re.sub(rf"{_WORD_DOT}|{_DOT}", ".", domain, flags=re.IGNORECASE)
        return f"{local[:1]}***@{domain}"
    if item.kind is Kind.MOBILE:
        return _keep_ends(digits[-11:], 3, 4)
    if item.kind is Kind.LANDLINE:
        if item.text.lstrip("([ ").startswith(("+", "00")):
            digits = digits[4:] if digits.startswith("0086") else digits[2:]
        return _keep_ends(digits, 3, 4)
    if item.kind is Kind.LOCAL_NUMBER:
        return _keep_ends(digits, 0, 2)
    if item.kind is Kind.PLATE:
        return item.text[:2] + "*" * (len(item.text) - 2)
    return _keep_ends(digits, 3, 4)


def mask_embedded(text: str) -> str:
    """The text with each piece of personal data but plates masked to its ends
    (``车主440301199001011234`` -> ``车主440***********1234``, ``139****5678``, ``w***@example.com``):
    for text that is kept (the audit log, log lines)."""
    if not any(c.isdigit() or c in "@＠" or ord(c) in _WORD_DIGITS for c in text) and "at" not in text.lower():
        return text
    return _render(text, find(text), _masked)
