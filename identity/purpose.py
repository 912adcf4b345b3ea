"""Why a member of staff reads or changes a person's data: a reason and a case number, in real text.

One check for every route that asks for them (the police owner lookup, the police read of a landlord,
a staff correction of an ID number). A reason is words: at least two letters (Chinese characters are
letters), at most 200 characters. A case number has at least one digit among letters, digits, spaces
and punctuation, at most 64 characters. Neither may hold control or invisible format characters
(zero-width spaces, direction overrides), private-use or unassigned code points, or the replacement
character that stands for bytes that were not UTF-8. Everything refused answers 422 with the one code
``reason_required``; the details name the field and the rule, never the value.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from server.errors import ValidationFailed

REASON_MAX = 200
CASE_NO_MAX = 64
REASON_MIN_LETTERS = 2
CASE_NO_MIN = 3
CODE = "reason_required"

# Cc control, Cf format (zero-width, bidi), Cs surrogate (bytes that were not UTF-8, escaped),
# Co private use, Cn unassigned.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_REPLACEMENT = "\ufffd"  # what a decoder puts where the bytes were not UTF-8


@dataclass(frozen=True)
class Purpose:
    reason: str
    case_no: str


def _problem_with_characters(text: str) -> str | None:
    if _REPLACEMENT in text:
        return "is not valid UTF-8 text"
    if any(unicodedata.category(c) in _INVISIBLE for c in text):
        return "holds control or invisible characters"
    return None


def _text(value: object) -> tuple[str, str | None]:
    """The value as text (NFC, stripped), and why it is no usable text, if it is not."""
    if not isinstance(value, str) or not value.strip():
        return "", "is required"
    text = unicodedata.normalize("NFC", value).strip()
    return text, _problem_with_characters(text)


def reason_problem(value: object) -> str | None:
    """Why ``value`` is not a reason, or None when it is one."""
    text, problem = _text(value)
    if problem:
        return problem
    if len(text) > REASON_MAX:
        return f"has at most {REASON_MAX} characters"
    if sum(1 for c in text if unicodedata.category(c).startswith("L")) < REASON_MIN_LETTERS:
        return f"says why, in words (at least {REASON_MIN_LETTERS} letters or Chinese characters)"
    return None


def case_no_problem(value: object) -> str | None:
    """Why ``value`` is not a case number, or None when it is one."""
    text, problem = _text(value)
    if problem:
        return problem
    if not CASE_NO_MIN <= len(text) <= CASE_NO_MAX:
        return f"has {CASE_NO_MIN} to {CASE_NO_MAX} characters"
    if any(unicodedata.category(c)[0] not in "LNPZ" or (c.isspace() and c != " ") for c in text):
        return "has only letters, digits, spaces and punctuation"
    if not any(unicodedata.category(c) == "Nd" for c in text):
        return "has at least one digit"
    if sum(1 for c in text if unicodedata.category(c)[0] in "LN") < 2:
        return "is more than punctuation"
    return None


def require_purpose(reason: object, case_no: object) -> Purpose:
    """The reason and case number, trimmed; or 422 ``reason_required`` naming what is wrong."""
    fields = []
    for name, problem in (("reason", reason_problem(reason)), ("case_no", case_no_problem(case_no))):
        if problem:
            fields.append({"field": name, "message": f"{name} {problem}", "type": CODE})
    if fields:
        raise ValidationFailed(
            "A reason (in words) and the case number (case_no) are needed to see or change a person's data.",
            code=CODE,
            details={"fields": fields},
        )
    assert isinstance(reason, str) and isinstance(case_no, str)
    return Purpose(unicodedata.normalize("NFC", reason).strip(), unicodedata.normalize("NFC", case_no).strip())


def given(reason: object, case_no: object) -> bool:
    """Whether the caller tried to give a purpose at all (anything but both absent or empty)."""
    return any(isinstance(v, str) and v != "" for v in (reason, case_no))
