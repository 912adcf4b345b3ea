"""One finder of personal data in free text (identity.redaction), two renderings: ``redact`` replaces
what it finds with a label (what Open311 publishes), ``mask_embedded`` keeps only its ends (the audit
log); the log formatter hides the same in an exception's text. The forms people really type: mobiles
with +86 / 86 and separators or every digit spaced, landlines with the area code in ASCII or full-width
brackets, spaces, hyphens, +86, an 8-digit local number after a phone word, ID numbers, e-mail
addresses written with (at) / [at]. Ordinary numbers in a complaint stay."""

from __future__ import annotations

import pytest

from identity.pii import mask_embedded
from identity.redaction import redact
from server.logs import exception_text
from tests.factories import id_number

ID = id_number(3)
PHONE = "[电话已隐去]"
MOBILE = "[手机号已隐去]"
NUMBER = "[证件号已隐去]"
EMAIL = "[邮箱已隐去]"

# (as typed, its label, a piece of it that must not survive either rendering)
FORMS = [
    ("0755-26123456", PHONE, "26123456"),
    ("(0755)26123456", PHONE, "26123456"),
    ("（0755）26123456", PHONE, "26123456"),
    ("0755 2612 3456", PHONE, "2612"),
    ("0755-2612-3456", PHONE, "2612"),
    ("(010)12345678", PHONE, "12345678"),
    ("（010）1234 5678", PHONE, "1234 5678"),
    ("+86 755 2612 3456", PHONE, "2612"),
    ("+86-755-26123456", PHONE, "26123456"),
    ("+86 (0755) 2612 3456", PHONE, "2612"),
    ("0086 755 2612 3456", PHONE, "2612"),
    ("(0755)2612 3456", PHONE, "2612"),
    ("0571-8123456", PHONE, "8123456"),  # a 7-digit local number
    ("075526123456", PHONE, "26123456"),
    ("13912345678", MOBILE, "12345678"),
    ("+86 139 1234 5678", MOBILE, "1234"),
    ("+86-139-1234-5678", MOBILE, "1234"),
    ("(+86)13912345678", MOBILE, "12345678"),
    ("86 13912345678", MOBILE, "12345678"),
    ("8613912345678", MOBILE, "12345678"),
    ("139 1234 5678", MOBILE, "1234"),
    ("139-1234-5678", MOBILE, "1234"),
    ("1 3 9 1 2 3 4 5 6 7 8", MOBILE, "2 3 4 5 6 7"),
    ("１３９１２３４５６７８", MOBILE, "２３４５６７"),
    (ID, NUMBER, ID[6:14]),
    (f"{ID[:6]} {ID[6:14]} {ID[14:]}", NUMBER, ID[6:14]),
    (f"{ID[:6]}-{ID[6:14]}-{ID[14:]}", NUMBER, ID[6:14]),
    ("wang.xm@example.com", EMAIL, "wang.xm"),
    ("wang(at)example.com", EMAIL, "wang"),
    ("wang [at] example [dot] com", EMAIL, "wang"),
    ("wang（at）example.com", EMAIL, "wang"),
    ("wang＠example.com", EMAIL, "wang"),
    # Dots, underscores, slashes, middle dots between a phone's groups (review 3, F3)
    ("139.1234.5678", MOBILE, "1234"),
    ("139_1234_5678", MOBILE, "1234"),
    ("139/1234/5678", MOBILE, "1234"),
    ("139·1234·5678", MOBILE, "1234"),
    ("139。1234。5678", MOBILE, "1234"),
    ("139．1234．5678", MOBILE, "1234"),
    ("0755.2612.3456", PHONE, "2612"),
    ("0755/26123456", PHONE, "26123456"),
    # ID numbers in pairs, in fours, with dots
    (" ".join(ID[i : i + 2] for i in range(0, 18, 2)), NUMBER, ID[8:10] + " " + ID[10:12]),
    ("-".join(ID[i : i + 4] for i in range(0, 18, 4)), NUMBER, ID[8:12]),
    (".".join(ID[i : i + 4] for i in range(0, 18, 4)), NUMBER, ID[8:12]),
    # Digits written as words
    ("一三九一二三四五六七八", MOBILE, "二三四五六七"),
    ("幺三九幺二三四五六七八", MOBILE, "二三四五六七"),
    ("壹叁玖壹贰叁肆伍陆柒捌", MOBILE, "贰叁肆伍陆柒"),
    ("〇七五五-二六一二三四五六", PHONE, "二六一二三四五六"),
    # Spelt out
    ("wang at example dot com", EMAIL, "wang"),
    ("wang AT example DOT com DOT cn", EMAIL, "wang"),
    # A mobile run into a word on one side
    ("Tel13912345678", MOBILE, "12345678"),
    ("mobile13912345678", MOBILE, "12345678"),
    ("vx13912345678", MOBILE, "12345678"),
    ("13912345678wx", MOBILE, "12345678"),
    ("张三13912345678", MOBILE, "12345678"),  # a name's digit word does not join the number
]


@pytest.mark.parametrize(("typed", "label", "secret"), FORMS)
def test_each_form_is_redacted_and_masked_inside_a_complaint(typed: str, label: str, secret: str) -> None:
    for text in (f"{typed}", f"座机{typed}", f"请联系王先生{typed}，谢谢", f"电话：{typed}。"):
        redacted = redact(text)
        assert label in redacted and secret not in redacted, (text, redacted)
        masked = mask_embedded(text)
        assert secret not in masked, (text, masked)


def test_a_local_number_after_a_phone_word_is_a_phone() -> None:
    assert redact("座机26123456，下午在") == f"座机{PHONE}，下午在"
    assert redact("联系电话：2612 3456") == f"联系电话：{PHONE}"
    assert "26123456" not in mask_embedded("座机26123456")


ORDINARY = [
    "2024年3月15日下午，华夏路114号3栋502房楼道灯坏了",
    "营业时间8:00-18:00，周一至周五",
    "2024-03-15 13:00 到 2024-03-16 09:30",
    "罚款2000元，押金12,000.00元，共12户40人",
    "3号楼2单元501室，2024年5月1日起",
    "楼栋13 15 16 17 18 19号都漏水",
    "QQ群 123456789，订单号A13812345678B",
    "建筑编码GM0101010001，车架号LYD20260007X",
    "2024年度 第3季度 面积420.5平方米",
    "19:30-21:00噪音，持续3个月",
    "1、2、3号楼 10-12层",
    "meet at home, 5 at night",
    # review 3: ordinary numbers with dots, slashes, underscores, middle dots, digit words
    "2024.03.15 下午，2024/03/15，2024_03_15",
    "版本1.2.3，v2.10.4，IP 172.168.100.10",
    "金额1,234.56元，面积120.5平方米，3/4的住户",
    "3·15消费者权益日，8.30-17.30办公",
    "二〇二四年三月十五日，三楼两户，一二三号楼",
    "楼栋13 15 16 17 18 19 20 21 22号",
    "文件名 scan_2024_03_15_001.jpg",
    "we looked at it, dot the i's",
    "建筑编码GM0101010001 GM0101019998",
    "张三、李四、王五值班，三楼两户，第一二期",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_numbers_in_a_complaint_stay(text: str) -> None:
    assert redact(text) == text
    assert mask_embedded(text) == text


def test_an_id_number_in_groups_is_redacted_to_its_last_digit() -> None:
    for sep in ("-", " ", ".", "/"):
        fours = sep.join(ID[i : i + 4] for i in range(0, 18, 4))
        assert redact(f"身份证{fours}。") == f"身份证{NUMBER}。", fours


def test_a_new_energy_plate_is_redacted_when_published() -> None:
    for plate in ("粤B·D12345", "粤BD12345", "粤B12345", "粤B·12345", "粤B D12345"):
        assert redact(f"车牌{plate}乱停") == "车牌[车牌已隐去]乱停", plate


def test_a_mobile_inside_a_code_with_letters_on_both_sides_stays() -> None:
    assert redact("订单号A13812345678B") == "订单号A13812345678B"
    assert redact("GM0101010001") == "GM0101010001"


def test_numbers_next_to_a_phone_stay() -> None:
    assert redact("联系13912345678 114号3栋") == f"联系{MOBILE} 114号3栋"
    assert redact("座机0755-26123456 3栋502") == f"座机{PHONE} 3栋502"
    assert redact("139 1234 5678，2024年3月") == f"{MOBILE}，2024年3月"


def test_the_audit_rendering_keeps_the_ends() -> None:
    assert mask_embedded("座机(0755)26123456") == "座机075*****3456"
    assert mask_embedded("手机1 3 9 1 2 3 4 5 6 7 8") == "手机139****5678"
    assert mask_embedded("邮箱wang(at)example.com") == "邮箱w***@example.com"


def test_log_lines_hide_the_same_forms() -> None:
    for typed, _, secret in FORMS:
        text = exception_text(ValueError(f"bad value {typed} in row 12"))
        assert secret not in text, (typed, text)
        assert "row 12" in text
