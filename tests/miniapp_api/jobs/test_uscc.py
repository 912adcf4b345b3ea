"""统一社会信用代码 checks (GB 32100-2015, with the GB 11714 organisation code inside) on real codes."""

from __future__ import annotations

import pytest

from miniapp_api.jobs import uscc
from tests.miniapp_api.jobs.seed import REAL_CODES


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_published_codes_pass(code: str) -> None:
    assert uscc.normalize(code) == code
    assert uscc.normalize(" " + code.lower()[:9] + " " + code.lower()[9:]) == code  # case and blanks


def test_tencents_check_characters_are_those_the_standard_gives() -> None:
    # 91440300708461136T: the organisation code 70846113-6 and the 18th character T.
    assert uscc.org_check_char("70846113") == "6"
    assert uscc.check_char("91440300708461136") == "T"


@pytest.mark.parametrize(
    "code",
    [
        "91440300708461136A",  # wrong check character
        "91440300708461137T",  # organisation code's own check digit wrong (and so the 18th)
        "91440300708461I36T",  # I is not in the alphabet
        "9144030070846113OT",  # nor O
        "91440300708461136",  # 17 characters
        "91440300708461136TT",
        "",
        "９１４４０３００７０８４６１１３６Ｔ",  # full-width digits
    ],
)
def test_wrong_codes_fail(code: str) -> None:
    assert uscc.normalize(code) is None


def test_a_code_whose_18th_character_is_right_but_organisation_check_is_not_fails() -> None:
    body = "91440300708461137"  # the organisation code 70846113-7: its check digit should be 6
    forged = body + uscc.check_char(body)
    assert uscc.check_char(forged[:17]) == forged[17]
    assert uscc.normalize(forged) is None
