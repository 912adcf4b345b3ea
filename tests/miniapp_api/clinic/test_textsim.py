"""textsim: scores of short complaint texts, and grouping of those that say the same thing.

Runs on the committed sample of hot-messages.csv; the tests on the full file skip when it is absent
(set GMID_CIVIC_DATA to the folder that holds it).
"""

from __future__ import annotations

import csv
import itertools
import os
import random
from pathlib import Path

import pytest

from miniapp_api.clinic import textsim
from miniapp_api.clinic.textsim import SAME_THING, group, similarities, similarity

SAMPLE = Path(__file__).parent / "data" / "hot-messages-sample.csv"
SHARED = Path(
    os.environ.get("GMID_CIVIC_DATA", Path(__file__).resolve().parents[4] / "shared" / "data" / "civic-messages")
)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def text_of(row: dict[str, str]) -> str:
    return row["留言主题"] + "\n" + row["留言详情"]


@pytest.fixture(scope="module")
def sample() -> list[dict[str, str]]:
    return read_rows(SAMPLE)


@pytest.fixture(scope="module")
def full() -> list[dict[str, str]]:
    path = SHARED / "hot-messages.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent (set GMID_CIVIC_DATA)")
    return read_rows(path)


# Reports as residents write them: the same complaint in other words.
REWORDED = [
    (
        "凤凰街道塘家社区东坑路的路灯已经坏了一个多月，晚上整条路一片漆黑，老人小孩走路很危险，希望尽快维修路灯。",
        "东坑路路灯不亮一个多月了，晚上黑灯瞎火的，走路摔了好几次，请尽快派人修一下路灯。",
    ),
    (
        "翠湖花园3栋楼下的烧烤店每天营业到凌晨，油烟直接排进楼里，窗户都不敢开。",
        "翠湖花园一楼烧烤摊油烟太大了，晚上十二点还在营业，熏得家里全是油烟味。",
    ),
    (
        "新围社区光明大道公交站的候车亭被车撞坏了，玻璃碎了一地，下雨天等车没地方躲。",
        "光明大道新围站的公交候车亭坏了好几天了，满地碎玻璃，很危险，请尽快修复。",
    ),
]
# The same place, another problem.
SAME_PLACE_OTHER_PROBLEM = [
    (
        "塘家社区东坑路的垃圾桶已经满了好几天没人清运，天热臭气熏天，苍蝇乱飞，请环卫部门处理。",
        "凤凰街道塘家社区东坑路的路灯已经坏了一个多月，晚上整条路一片漆黑，老人小孩走路很危险，希望尽快维修路灯。",
    ),
    (
        "东坑路上有几辆货车长期占道停放，早晚高峰堵得走不动，请交警来处理违章停车。",
        "东坑路路灯不亮一个多月了，晚上黑灯瞎火的，走路摔了好几次，请尽快派人修一下路灯。",
    ),
    (
        "丽发新城小区物业强行给业主家断水，已经三天没有自来水了。",
        "丽发新城小区旁边新建了一个搅拌站，每天机器轰鸣，灰尘满天飞，晚上吵得睡不着，请相关部门处理。",
    ),
    (
        "翠湖花园小区的电梯经常故障，上周还困住了一位老人，物业一直不修。",
        "翠湖花园3栋楼下的烧烤店每天营业到凌晨，油烟直接排进楼里，窗户都不敢开。",
    ),
    (
        "光明大道新围站附近的人行道被共享单车堆满了，行人只能走机动车道。",
        "新围社区光明大道公交站的候车亭被车撞坏了，玻璃碎了一地，下雨天等车没地方躲。",
    ),
]


def test_identical_text_scores_one() -> None:
    text = REWORDED[0][0]
    assert similarity(text, text) == 1.0


@pytest.mark.parametrize(("a", "b"), [("", "路灯坏了"), ("路灯坏了", ""), ("", ""), ("，。！？ 123", "路灯坏了")])
def test_empty_text_scores_zero(a: str, b: str) -> None:
    assert similarity(a, b) == 0.0


@pytest.mark.parametrize(("a", "b"), REWORDED)
def test_reworded_complaint_says_the_same_thing(a: str, b: str) -> None:
    assert similarity(a, b) >= SAME_THING


@pytest.mark.parametrize(("a", "b"), SAME_PLACE_OTHER_PROBLEM)
def test_same_place_with_another_problem_does_not(a: str, b: str) -> None:
    assert similarity(a, b) < SAME_THING


def test_anonymised_place_codes_weigh_nothing() -> None:
    a, b = REWORDED[1]
    assert similarity("A市A3区" + a, "A市A5区" + b) == pytest.approx(similarity(a, b))


def test_full_width_and_case_are_folded() -> None:
    assert similarity("ＫＴＶ包房噪音到凌晨３点", "ktv包房噪音到凌晨3点") == pytest.approx(1.0)


def test_real_messages(sample: list[dict[str, str]]) -> None:
    by_subject = {row["留言主题"]: text_of(row) for row in sample}
    # Two owners of 伊景园滨河苑 against the car-park bundling, in their own words.
    assert (
        similarity(by_subject["投诉A市伊景园滨河苑捆绑车位销售"], by_subject["伊景园滨河苑捆绑车位销售合法吗？！"])
        >= SAME_THING
    )
    # 魅力之城: restaurant fumes, and cracked floors.
    assert (
        similarity(
            by_subject["魅力之城小区临街门面油烟直排扰民"], by_subject["A市万科魅力之城小区近百户楼板开裂墙面开裂"]
        )
        < SAME_THING
    )


def test_scores_are_symmetric_and_in_range(sample: list[dict[str, str]]) -> None:
    rng = random.Random(7)
    texts = [text_of(row) for row in rng.sample(sample, 30)]
    for a, b in itertools.pairwise(texts):
        s = similarity(a, b)
        assert 0.0 <= s <= 1.0
        assert s == pytest.approx(similarity(b, a))


def test_similarities_is_similarity_for_each(sample: list[dict[str, str]]) -> None:
    texts = [text_of(row) for row in sample[:25]]
    assert similarities(texts[0], texts) == pytest.approx([similarity(texts[0], t) for t in texts])
    assert similarities("路灯坏了", []) == []


def _single_link(texts: list[str], threshold: float) -> set[frozenset[int]]:
    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for i in range(len(texts)):
        scores = similarities(texts[i], texts[i + 1 :])
        for j, s in enumerate(scores, start=i + 1):
            if s >= threshold:
                parent[find(j)] = find(i)
    parts: dict[int, set[int]] = {}
    for i in range(len(texts)):
        parts.setdefault(find(i), set()).add(i)
    return {frozenset(p) for p in parts.values()}


def test_single_link_groups_are_the_components_of_pairwise_scores(sample: list[dict[str, str]]) -> None:
    texts = [text_of(row) for row in sample[::4]]
    got = group(list(enumerate(texts)), linkage="single")
    assert {frozenset(g) for g in got} == _single_link(texts, SAME_THING)
    assert any(len(g) > 3 for g in got)


def test_average_link_only_splits_single_link_groups(sample: list[dict[str, str]]) -> None:
    items = [(row["留言编号"], text_of(row)) for row in sample]
    single = [set(g) for g in group(items, linkage="single")]
    average = group(items)
    assert len(average) >= len(single)
    for g in average:
        assert any(set(g) <= s for s in single)


def test_groups_partition_the_keys_largest_first(sample: list[dict[str, str]]) -> None:
    items = [(row["留言编号"], text_of(row)) for row in sample]
    groups = group(items)
    keys = [k for g in groups for k in g]
    assert sorted(keys) == sorted(k for k, _ in items)
    sizes = [len(g) for g in groups]
    assert sizes == sorted(sizes, reverse=True)
    order = {k: i for i, (k, _) in enumerate(items)}
    for g in groups:
        assert [order[k] for k in g] == sorted(order[k] for k in g)


def test_group_edge_cases() -> None:
    assert group([]) == []
    assert group([("a", "路灯坏了")]) == [["a"]]
    assert group([("a", "东坑路路灯坏了一个多月"), ("b", "东坑路路灯坏了一个多月")]) == [["a", "b"]]
    with pytest.raises(ValueError, match="threshold"):
        group([("a", "x")], threshold=0.0)


def _campaign_groups(rows: list[dict[str, str]]) -> tuple[set[str], set[str], list[list[str]]]:
    bundling = {r["留言编号"] for r in rows if "伊景园" in text_of(r) or "滨河苑" in text_of(r)}
    mixing = {r["留言编号"] for r in rows if "丽发" in text_of(r) and "搅拌" in text_of(r)}
    return bundling, mixing, group([(r["留言编号"], text_of(r)) for r in rows])


def _best_group(topic: set[str], groups: list[list[str]]) -> set[str]:
    return max((set(g) for g in groups), key=lambda g: len(g & topic))


def test_campaigns_in_the_sample_form_groups(sample: list[dict[str, str]]) -> None:
    bundling, mixing, groups = _campaign_groups(sample)
    assert len(bundling) >= 20
    assert len(mixing) >= 15
    for topic in (bundling, mixing):
        best = _best_group(topic, groups)
        assert len(best & topic) >= 0.8 * len(topic)
        assert len(best - topic) <= 0.2 * len(best)


def test_campaigns_in_the_full_data_form_groups(full: list[dict[str, str]]) -> None:
    bundling, mixing, groups = _campaign_groups(full)
    assert len(full) == 4326
    for topic in (bundling, mixing):
        best = _best_group(topic, groups)
        assert len(best & topic) >= 0.9 * len(topic)
        assert len(best - topic) <= 0.2 * len(best)


def test_idf_of_common_and_rare_bigrams() -> None:
    assert textsim.idf("问题") < textsim.idf("路灯") < textsim.idf("搅拌")
    with pytest.raises(ValueError, match="two"):
        textsim.idf("路")


def test_centrality_points_at_the_typical_text() -> None:
    texts = [REWORDED[0][0], REWORDED[0][1], "东坑路路灯坏了，晚上一片漆黑", "翠湖花园电梯故障"]
    scores = textsim.centrality(texts)
    assert max(range(4), key=lambda k: scores[k]) in (0, 1, 2)
    assert scores[3] < min(scores[:3])
    assert textsim.centrality(["一条"]) == [0.0]
