"""Identity-number and mobile-number validation: what a resident typing their details would hit."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.validators import (
    PROVINCE_CODES,
    InvalidIdNumber,
    InvalidMobile,
    id_number_check_digit,
    make_id_number,
    normalize_id_number,
    normalize_mobile,
)

# A widely published sample number (Beijing, Chaoyang, born 1949-12-31) whose check character is X.
KNOWN_VALID = "11010519491231002X"


def reference_check_digit(first17: str) -> str:
    # Written out from the standard, independently of the module: weights 2^(17-i) mod 11.
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    remainder = sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11
    return "10X98765432"[remainder]


def with_valid_check(first17: str) -> str:
    return first17 + reference_check_digit(first17)


def reason_of(raw: str) -> str:
    with pytest.raises(InvalidIdNumber) as info:
        normalize_id_number(raw)
    # The message goes back to the user and into logs: it must never repeat the number.
    if raw.strip():
        assert raw.strip() not in str(info.value)
        assert raw[:17] not in str(info.value)
    return info.value.reason


def test_known_valid_number_with_x_check_character() -> None:
    assert reference_check_digit(KNOWN_VALID[:17]) == "X"
    assert id_number_check_digit(KNOWN_VALID[:17]) == "X"
    assert normalize_id_number(KNOWN_VALID) == KNOWN_VALID


def test_lowercase_x_and_spaces_are_normalised() -> None:
    assert normalize_id_number(" 110105 19491231 002x ") == KNOWN_VALID


def test_make_id_number_builds_valid_numbers() -> None:
    number = make_id_number("440311", datetime.date(1990, 1, 1), "123")
    assert len(number) == 18
    assert number[:14] == "44031119900101"
    assert number[-1] == reference_check_digit(number[:17])
    assert normalize_id_number(number) == number


@pytest.mark.parametrize("raw", ["", "11010519491231002", "11010519491231002X1"])
def test_wrong_length(raw: str) -> None:
    assert reason_of(raw) == "length"


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002A",  # letter other than X in the check position
        "1101051949123100X2",  # X before the end
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits look right but are not ASCII
    ],
)
def test_wrong_characters(raw: str) -> None:
    assert reason_of(raw) == "characters"


@pytest.mark.parametrize("region", ["000000", "100000", "160000", "390000", "840000", "990000"])
def test_unknown_province(region: str) -> None:
    assert reason_of(with_valid_check(region + "19900101123")) == "region"


def test_every_listed_province_is_accepted() -> None:
    assert len(PROVINCE_CODES) == 34 + 1  # 34 province-level divisions and the residence-permit code 83
    for code in PROVINCE_CODES:
        normalize_id_number(make_id_number(code + "0000", datetime.date(1980, 6, 15), "001"))


@pytest.mark.parametrize(
    "birth",
    [
        "19900230",  # 30 February
        "19900001",  # month 0
        "19901301",  # month 13
        "19900431",  # 31 April
        "19010229",  # not a leap year
        "18991231",  # before 1900
    ],
)
def test_impossible_birth_date(birth: str) -> None:
    assert reason_of(with_valid_check("440311" + birth + "123")) == "birth_date"


def test_leap_day_is_a_real_birth_date() -> None:
    number = with_valid_check("440311" + "20000229" + "123")
    assert normalize_id_number(number) == number


def test_birth_date_in_the_future() -> None:
    future = datetime.date.today() + datetime.timedelta(days=400)
    assert reason_of(make_id_number("440311", future, "123")) == "birth_date"


def test_wrong_check_digit() -> None:
    assert reason_of(KNOWN_VALID[:17] + "0") == "check_digit"


def test_check_digit_helper_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        id_number_check_digit("1234")
    with pytest.raises(ValueError):
        make_id_number("44031", datetime.date(1990, 1, 1), "123")


# Property tests ---------------------------------------------------------------------------------

_regions = st.builds(
    lambda province, rest: province + rest,
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.text(alphabet="0123456789", min_size=4, max_size=4),
)
_births = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date.today() - datetime.timedelta(days=1))
_seqs = st.text(alphabet="0123456789", min_size=3, max_size=3)


@given(region=_regions, birth=_births, seq=_seqs)
def test_generated_numbers_round_trip(region: str, birth: datetime.date, seq: str) -> None:
    number = make_id_number(region, birth, seq)
    assert normalize_id_number(number) == number
    assert normalize_id_number(number.lower()) == number


@given(
    region=_regions,
    birth=_births,
    seq=_seqs,
    position=st.integers(min_value=0, max_value=16),
    shift=st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_error_is_caught(
    region: str, birth: datetime.date, seq: str, position: int, shift: int
) -> None:
    number = make_id_number(region, birth, seq)
    changed_digit = str((int(number[position]) + shift) % 10)
    typo = number[:position] + changed_digit + number[position + 1 :]
    with pytest.raises(InvalidIdNumber) as info:
        normalize_id_number(typo)
    assert info.value.reason in {"region", "birth_date", "check_digit"}


# Mobile numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+86-13812345678",
        "0086 13812345678",
        "8613812345678",
        " 13812345678 ",
    ],
)
def test_mobile_accepted_forms(raw: str) -> None:
    assert normalize_mobile(raw) == "13812345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "010-12345678",  # Beijing landline
        "0755-12345678",  # Shenzhen landline
        "138123456789",  # 12 digits
        "1381234567",  # 10 digits
        "12812345678",  # no such mobile prefix
        "+1 13812345678",  # foreign country code
        "+86 0755 1234567",
        "1381234567a",
        "１３８１２３４５６７８",  # full-width digits
    ],
)
def test_mobile_rejected(raw: str) -> None:
    with pytest.raises(InvalidMobile) as info:
        normalize_mobile(raw)
    digits = "".join(c for c in raw if c.isdigit())
    if digits:
        assert digits not in str(info.value)


def test_invalid_errors_are_value_errors() -> None:
    # Schemas catch ValueError to turn it into a field error.
    assert issubclass(InvalidIdNumber, ValueError)
    assert issubclass(InvalidMobile, ValueError)
