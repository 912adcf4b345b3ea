"""The skills taxonomy: normalisation of what users type, related skills, staff overrides, the linter."""

from miniapp_api.jobs import occupations
from miniapp_api.jobs.taxonomy import Taxonomy


def test_the_shipped_taxonomy_is_clean_and_large_enough() -> None:
    taxonomy = Taxonomy.load()
    assert taxonomy.check() == []
    assert len(taxonomy.skills) >= 150
    for skill in taxonomy.skills.values():
        assert all(occupations.valid(code) for code in skill.occupations)


def test_welding_synonyms_meet_and_argon_arc_is_related() -> None:
    taxonomy = Taxonomy.load()
    for typed in ("电焊", "焊工", "电焊工", " 电焊工 "):
        assert taxonomy.normalize(typed) == [{"id": "welding", "text": typed.strip()}]
    assert "argon_arc_welding" in taxonomy.related("welding")
    assert "welding" in taxonomy.related("argon_arc_welding")  # symmetric
    assert taxonomy.name("welding") == "电焊"


def test_full_width_and_case_are_folded() -> None:
    taxonomy = Taxonomy.load()
    assert taxonomy.normalize("ＣＮＣ操作") == [{"id": "cnc_operation", "text": "ＣＮＣ操作"}]  # as typed
    assert taxonomy.normalize("PYTHON")[0]["id"] == "python"
    assert taxonomy.normalize("c1驾照")[0]["id"] == "driving_c1"


def test_compound_phrases_split_into_several_skills_and_free_text_is_kept() -> None:
    taxonomy = Taxonomy.load()
    assert taxonomy.normalize("会电焊和氩弧焊") == [
        {"id": "welding", "text": "会电焊"},
        {"id": "argon_arc_welding", "text": "氩弧焊"},
    ]
    items = taxonomy.normalize("叉车证、会粤语，吹拉弹唱")
    assert [i["id"] for i in items] == ["forklift", "cantonese", None]
    assert items[-1]["text"] == "吹拉弹唱"
    assert taxonomy.normalize("吃苦耐劳") == [{"id": None, "text": "吃苦耐劳"}]
    assert taxonomy.normalize("  ") == []
    assert taxonomy.normalize("会开ＦＯＲＫ车") == [{"id": None, "text": "会开ＦＯＲＫ车"}]


def test_short_ascii_synonyms_match_only_as_words() -> None:
    taxonomy = Taxonomy.load()
    # "qa" / "c1" inside a longer latin word must not match.
    assert taxonomy.normalize("aqua") == [{"id": None, "text": "aqua"}]
    assert [i["id"] for i in taxonomy.normalize("有c1驾照的")] == ["driving_c1"]


def test_staff_overrides_add_edit_and_retire() -> None:
    taxonomy = Taxonomy.load(
        [
            {"slug": "drone_piloting", "name": "无人机驾驶", "synonyms": ["无人机飞手"], "related": ["driving_c1"]},
            {"slug": "welding", "synonyms": ["电焊", "焊工", "电焊工", "烧焊"]},
            {"slug": "hakka", "retired": True},
        ]
    )
    assert taxonomy.check() == []
    assert taxonomy.normalize("无人机飞手")[0]["id"] == "drone_piloting"
    assert taxonomy.normalize("烧焊")[0]["id"] == "welding"
    assert taxonomy.related("welding") >= {"argon_arc_welding"}
    assert taxonomy.normalize("客家话") == [{"id": None, "text": "客家话"}]
    assert taxonomy.name("hakka") == "客家话"  # stored data still shows its name


def test_the_linter_reports_unknown_ids_and_shared_synonyms_but_not_cycles() -> None:
    taxonomy = Taxonomy.load(
        [
            {"slug": "a_skill", "name": "甲", "synonyms": ["电焊"], "related": ["no_such", "b_skill"]},
            {"slug": "b_skill", "name": "乙", "related": ["a_skill"]},
            {"slug": "Bad Slug", "name": "丙"},
        ]
    )
    problems = taxonomy.check()
    assert any("no_such" in p for p in problems)
    assert any("'电焊'" in p and "welding" in p for p in problems)
    assert any("Bad Slug" in p for p in problems)
    assert not any("b_skill" in p for p in problems)
