"""统一社会信用代码 (Unified Social Credit Code, GB 32100-2015): 18 characters from 0-9 and the capitals
without I, O, Z, S, V; the 18th a check character over the first 17 (weights 3^i mod 31); positions
9 to 17 are the 9-character organisation code of GB 11714-1997, whose last character is its own check
digit (weights 3 7 9 10 5 8 4 2, modulus 11, 10 written X). Both are checked."""

from __future__ import annotations

import re

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(CHARSET)}
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_SHAPE = re.compile(rf"^[{CHARSET}]{{18}}$")


def check_char(first17: str) -> str:
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def org_check_char(first8: str) -> str:
    # GB 11714: digits are their value, letters A=10 ... Z=35 (the USCC's charset has no I, O, S, V, Z).
    total = sum(int(c, 36) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def normalize(raw: str) -> str | None:
    """The code in upper case without blanks, or None when it is not a valid USCC."""
    code = "".join(raw.split()).upper()
    if not _SHAPE.match(code):
        return None
    if check_char(code[:17]) != code[17]:
        return None
    if org_check_char(code[8:16]) != code[16]:
        return None
    return code
