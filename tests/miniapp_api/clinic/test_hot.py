"""hot: rising terms and hot groups of a week, on the committed sample of hot-messages.csv and on
synthetic weeks; the tests on the full file skip when it is absent (set GMID_CIVIC_DATA)."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from miniapp_api.clinic import hot
from miniapp_api.clinic.hot import HotGroup, Message, hot_groups, latest_week, rising_terms, week_of

SAMPLE = Path(__file__).parent / "data" / "hot-messages-sample.csv"
SHARED = Path(
    os.environ.get("GMID_CIVIC_DATA", Path(__file__).resolve().parents[4] / "shared" / "data" / "civic-messages")
)
BUNDLING_WEEK = date(2019, 8, 19)  # 伊景园滨河苑 owners against buying a car park with the flat
MIXING_WEEK = date(2019, 12, 2)  # 丽发新城 residents against a concrete mixing plant


def parse_time(value: str) -> datetime:
    for pattern in ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, pattern)
        except ValueError:
            pass
    raise ValueError(value)


def read_messages(path: Path) -> list[Message]:
    with path.open(encoding="utf-8", newline="") as f:
        return [
            Message(
                id=int(row["留言编号"]),
                text=row["留言主题"] + "\n" + row["留言详情"],
                at=parse_time(row["留言时间"]),
                likes=int(row["点赞数"]),
                dislikes=int(row["反对数"]),
                author=row["留言用户"],
            )
            for row in csv.DictReader(f)
        ]


@pytest.fixture(scope="module")
def sample() -> list[Message]:
    return read_messages(SAMPLE)


@pytest.fixture(scope="module")
def full() -> list[Message]:
    path = SHARED / "hot-messages.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent (set GMID_CIVIC_DATA)")
    return read_messages(path)


@pytest.fixture(params=[True, False], ids=["jieba-if-installed", "ngrams"])
def words(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(hot, "USE_JIEBA", request.param)
    return bool(request.param)


def about(messages: list[Message], ids: tuple[int | str, ...], *needles: str) -> int:
    texts = {m.id: m.text for m in messages}
    return sum(1 for i in ids if any(n in texts[i] for n in needles))


def test_week_of_is_the_monday() -> None:
    assert week_of(date(2019, 8, 21)) == date(2019, 8, 19)
    assert week_of(date(2019, 8, 19)) == date(2019, 8, 19)
    assert week_of(datetime(2019, 8, 25, 23, 59)) == date(2019, 8, 19)


def test_empty_input() -> None:
    assert rising_terms([]) == []
    assert hot_groups([]) == []
    assert latest_week([]) is None
    one = [Message(id=1, text="东坑路路灯坏了", at=datetime(2024, 5, 6, 9), node="/GM/GM01/")]
    assert hot_groups(one, node="/GM/GM02/") == []
    assert rising_terms(one, date(2023, 1, 2)) == []
    assert hot_groups(one, top=0) == []


def test_hot_groups_find_the_bundling_campaign(sample: list[Message]) -> None:
    groups = hot_groups(sample, BUNDLING_WEEK)
    top = groups[0]
    assert top.size >= 15
    assert about(sample, top.ids, "伊景园", "滨河苑", "广铁") == top.size
    assert "伊景园" in top.label or "滨河苑" in top.label
    assert top.previous >= 5  # it started the week before
    assert top.change == top.size - top.previous
    assert top.authors == top.size
    assert top.first_at <= top.last_at
    assert week_of(top.first_at) == BUNDLING_WEEK
    assert [g.heat for g in groups] == sorted((g.heat for g in groups), reverse=True)


def test_hot_groups_default_to_the_latest_week(sample: list[Message]) -> None:
    assert latest_week(sample) == MIXING_WEEK
    top = hot_groups(sample)[0]
    assert top == hot_groups(sample, date(2019, 12, 5))[0]
    assert top.size >= 10
    assert about(sample, top.ids, "搅拌") == top.size
    assert "丽发" in top.label or "搅拌" in top.label


def test_rising_terms_of_the_campaign_weeks(sample: list[Message], words: bool) -> None:
    bundling = rising_terms(sample, BUNDLING_WEEK, top=10)
    assert any(any(k in t.term for k in ("伊景园", "滨河苑", "广铁", "车位", "捆绑")) for t in bundling[:3]), bundling[
        :3
    ]
    mixing = rising_terms(sample, MIXING_WEEK, top=10)
    assert any("搅拌" in t.term or "丽发" in t.term for t in mixing[:3]), mixing[:3]
    for trend in bundling + mixing:
        assert trend.count >= 3
        assert trend.score > 0
        assert 1 <= len(trend.sample_ids) <= 5


# A week of everyday complaints, then a week where the shared bikes suddenly pile up.
EVERYDAY = [
    "东坑路路灯坏了一个多月，晚上一片漆黑",
    "翠湖花园电梯经常故障，物业一直不修",
    "新围社区光明大道公交站候车亭玻璃碎了",
    "塘家社区垃圾桶满了好几天没人清运",
    "凤凰街道菜市场门口占道经营，行人难走",
    "楼上装修噪音太大，周末早上七点就开始",
    "小区门口的下水道堵了，污水漫到路上",
    "学校附近的红绿灯时间太短，孩子过马路危险",
    "公园的健身器材坏了很久没人维修",
    "深夜有人在小区里大声唱歌，影响休息",
]
BIKES = [
    "光明大道地铁站口的共享单车乱停乱放，把人行道全堵住了",
    "塘家社区门口共享单车堆成山，轮椅都过不去",
    "共享单车横七竖八停在公交站前，乘客上下车很不方便",
    "新围村路边的共享单车倒了一地，没人管理",
    "请单车企业清理一下凤凰街道的共享单车，太乱了",
    "学校门口共享单车太多，接送孩子的家长没地方站",
]


def synthetic_weeks() -> list[Message]:
    monday = datetime(2024, 5, 6, 9)
    messages = []
    for week in (0, 1):
        for k, text in enumerate(EVERYDAY):
            at = monday + timedelta(days=7 * week + k % 7, hours=k)
            messages.append(Message(id=f"w{week}-{k}", text=text, at=at, node="/GM/GM02/", author=f"u{week}{k}"))
    for k, text in enumerate(BIKES):
        at = monday + timedelta(days=7 + k % 5, hours=k)
        messages.append(Message(id=f"bike-{k}", text=text, at=at, node="/GM/GM01/", likes=k, author=f"b{k}"))
    return messages


def test_a_term_that_suddenly_appears_rises(words: bool) -> None:
    messages = synthetic_weeks()
    trends = rising_terms(messages, date(2024, 5, 13), min_count=3)
    assert trends, "nothing rose"
    top = trends[0]
    assert "单车" in top.term
    assert top.count >= 5
    assert top.previous == 0
    assert set(top.sample_ids) <= {f"bike-{k}" for k in range(len(BIKES))}
    assert top.sample_ids[0] == "bike-5"  # most liked first
    assert all("单车" not in t.term for t in rising_terms(messages, date(2024, 5, 6)))


def test_node_filter(words: bool) -> None:
    messages = synthetic_weeks()
    assert all("单车" not in t.term for t in rising_terms(messages, date(2024, 5, 13), node="/GM/GM02/"))
    assert "单车" in rising_terms(messages, date(2024, 5, 13), node="/GM/GM01/")[0].term
    groups = hot_groups(messages, date(2024, 5, 13), node="/GM/GM01/")
    assert {i for g in groups for i in g.ids} <= {f"bike-{k}" for k in range(len(BIKES))}
    assert latest_week(messages, node="/GM/GM02/") == date(2024, 5, 13)


def test_a_single_message_ranks_below_a_group_of_voices() -> None:
    monday = datetime(2024, 5, 6, 9)
    liked = Message(id="liked", text="翠湖花园电梯经常故障，上周还困住了一位老人，物业一直不修", at=monday, likes=50)
    crowd = [
        Message(
            id=f"c{k}",
            text=f"东坑路路灯坏了一个多月，晚上整条路一片漆黑，走路很危险，请尽快维修路灯{'！' * k}",
            at=monday + timedelta(hours=k),
            author=f"a{k}",
        )
        for k in range(3)
    ]
    groups = hot_groups([liked, *crowd], date(2024, 5, 6))
    assert [g.ids[0] for g in groups][1] == "liked"
    assert groups[0].size == 3
    assert groups[0].authors == 3
    assert groups[1].heat == pytest.approx(0.5 * (1 + 3.9318), abs=1e-3)  # halved: 1 x (1 + ln 51)


def test_one_author_posting_again_is_one_voice() -> None:
    monday = datetime(2024, 5, 6, 9)
    again = [
        Message(
            id=k, text="东坑路路灯坏了一个多月，晚上一片漆黑，请尽快维修", at=monday + timedelta(hours=k), author="same"
        )
        for k in range(4)
    ]
    group = hot_groups(again, date(2024, 5, 6))[0]
    assert (group.size, group.authors) == (4, 1)


def test_results_do_not_depend_on_input_order(sample: list[Message]) -> None:
    shuffled = list(sample)
    random.Random(3).shuffle(shuffled)
    assert hot_groups(shuffled, BUNDLING_WEEK) == hot_groups(sample, BUNDLING_WEEK)
    assert rising_terms(shuffled, MIXING_WEEK) == rising_terms(sample, MIXING_WEEK)


def test_results_serialise_to_json(sample: list[Message]) -> None:
    group = hot_groups(sample, BUNDLING_WEEK, top=1)[0]
    assert isinstance(group, HotGroup)
    data = json.loads(json.dumps(dataclasses.asdict(group), default=str, ensure_ascii=False))
    assert data["size"] == group.size
    trend = rising_terms(sample, BUNDLING_WEEK, top=1)[0]
    assert json.loads(json.dumps(dataclasses.asdict(trend), ensure_ascii=False))["term"] == trend.term


def test_full_data_hot_groups(full: list[Message]) -> None:
    assert len(full) == 4326
    bundling = hot_groups(full, BUNDLING_WEEK)[0]
    assert bundling.size >= 15
    assert about(full, bundling.ids, "伊景园", "滨河苑", "广铁") == bundling.size
    mixing = hot_groups(full, MIXING_WEEK)[0]
    assert mixing.size >= 10
    assert about(full, mixing.ids, "搅拌") == mixing.size
    assert any("搅拌" in t.term or "丽发" in t.term for t in rising_terms(full, MIXING_WEEK)[:3])
