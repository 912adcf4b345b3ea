"""The shipped 2022 occupational classification: counts, lookups, the picker."""

from miniapp_api.jobs import occupations


def test_the_shipped_table_has_the_2022_majors_middles_and_smalls() -> None:
    levels = [occupations.level(code) for code in occupations.codes()]
    assert levels.count("major") == 8
    assert levels.count("middle") == 79
    assert levels.count("small") == 449  # the 公示稿's count (the published edition has 450)


def test_every_code_sits_under_a_shipped_parent_and_names_carry_no_page_numbers() -> None:
    for code in occupations.codes():
        for ancestor in occupations.ancestors(code):
            assert occupations.name(ancestor)
        name = occupations.name(code) or ""
        assert "…" not in name and not name[-1].isdigit()
    assert sum(occupations.level(c) == "detail" for c in occupations.codes()) >= 300


def test_valid_name_ancestors_major() -> None:
    assert occupations.valid("6-18")
    assert occupations.name("6-25") == "计算机、通信和其他电子设备制造人员"
    assert occupations.ancestors("6-18-02") == ["6", "6-18", "6-18-02"]
    assert occupations.major("4-10-01") == "4"
    # A detail code is accepted under a shipped small group and named by it.
    assert occupations.valid("6-18-02-04")
    assert occupations.name("6-18-02-04") == "焊工"


def test_unknown_or_malformed_codes_are_refused() -> None:
    for bad in ("9", "6-98", "6-18-77", "6-18-77-01", "6-18-02-4", "6_18", "", " 6-18", None, 618):
        assert not occupations.valid(bad)
    assert occupations.name("6-98") is None
    assert occupations.ancestors("6-98") == []
    assert occupations.major("x") is None


def test_search_finds_by_name_or_code_at_middle_level_or_deeper() -> None:
    hits = occupations.search("电子")
    assert hits and all("电子" in h["name"] for h in hits)
    assert all(occupations.level(h["code"]) != "major" for h in hits)
    assert occupations.search("6-25")[0]["code"] == "6-25"
    assert occupations.search("ＳＭＴ") == []  # not an occupation name
    assert occupations.search("   ") == []
    first = occupations.search("护理")[0]
    assert first["path"].startswith("专业技术人员") or first["path"].startswith("社会生产")


def test_shipped_details_are_named_and_found_by_the_picker() -> None:
    assert occupations.name("6-18-02-04") == "焊工"
    assert occupations.name("4-10-01-05") == "养老护理员"
    assert occupations.search("焊工")[0]["code"] == "6-18-02-04"
    assert occupations.search("电工")[0] == {
        "code": "6-31-01-03",
        "name": "电工",
        "path": "生产制造及有关人员 / 生产辅助人员 / 机械设备修理人员 / 电工",
    }
    # A real detail code missing from the partial list is still accepted, named by its small group.
    assert occupations.valid("4-10-01-02")
    assert occupations.name("4-10-01-02") == "生活照料服务人员"
    codes = occupations.codes()
    assert codes.index("6-18-02") < codes.index("6-18-02-04") < codes.index("6-18-03")
