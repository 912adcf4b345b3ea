"""``gmid welfare load`` with a hostile or careless pack: links out of the directory, a FIFO, YAML nested past
Python's recursion limit, parameters that are not finite numbers, formulas that mix text into sums or use
numbers no float holds. Each is refused with a message naming the file and nothing changes (no version, no
audit row, the same pack served); what only a profile can trigger (a division by zero) never shows a resident
"nan 元", "inf 元", a negative amount or an empty question."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import httpx
import pytest

from identity.audit import AuditEntry
from miniapp_api.welfare import pack, versions
from miniapp_api.welfare.models import WelfarePack
from tests.miniapp_api.welfare.test_load import edit, served_version

DIBAO = "formula: (param.dibao.standard - income_per_head()) * household_size()"


async def refused(pack_dir: Path, client: httpx.AsyncClient, *words: str) -> None:
    """The linter and the load both refuse the pack, naming the problem; nothing is stored or served."""
    problems = pack.check(pack_dir)
    assert problems and all(any(w in p for p in problems) for w in words), problems
    with pytest.raises(pack.PackError) as caught:
        await versions.load(pack_dir, loaded_by="attacker")
    assert all(any(w in p for p in caught.value.problems) for w in words), caught.value.problems
    assert not await WelfarePack.exists()
    assert not await AuditEntry.filter(action="welfare.pack_loaded").exists()
    assert await served_version(client) == 0


def outside_policy(tmp_path: Path) -> Path:
    """A well-formed policy file outside the pack (what a link would smuggle in)."""
    target = tmp_path / "outside" / "stolen.yaml"
    target.parent.mkdir()
    text = (pack.SHIPPED / "policies" / "childcare.yaml").read_text(encoding="utf-8")
    target.write_text(text.replace("id: childcare", "id: stolen", 1), encoding="utf-8")
    return target


async def test_a_link_out_of_the_pack_is_refused(client: httpx.AsyncClient, pack_dir: Path, tmp_path: Path) -> None:
    (pack_dir / "policies" / "stolen.yaml").symlink_to(outside_policy(tmp_path))
    await refused(pack_dir, client, "policies/stolen.yaml", "link")


async def test_a_linked_folder_is_refused(client: httpx.AsyncClient, pack_dir: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    shutil.move(pack_dir / "parameters", moved)
    (pack_dir / "parameters").symlink_to(moved, target_is_directory=True)
    await refused(pack_dir, client, "parameters", "link")


async def test_a_device_or_fifo_is_refused_without_reading_it(client: httpx.AsyncClient, pack_dir: Path) -> None:
    os.mkfifo(pack_dir / "policies" / "wait.yaml")  # reading it would block the load for ever
    await refused(pack_dir, client, "policies/wait.yaml", "not a regular file")


async def test_yaml_nested_past_the_recursion_limit_is_a_problem_not_a_crash(
    client: httpx.AsyncClient, pack_dir: Path
) -> None:
    (pack_dir / "policies" / "deep.yaml").write_text("[" * 50_000 + "]" * 50_000, encoding="utf-8")
    await refused(pack_dir, client, "policies/deep.yaml", "nested")


@pytest.mark.parametrize(
    "value", [".nan", ".inf", "-.inf", "'1e400'", "'1,483'", "yes", "'NaN'"], ids=lambda v: v.strip("'.-")
)
async def test_a_parameter_that_is_not_a_finite_number_is_refused(
    client: httpx.AsyncClient, pack_dir: Path, value: str
) -> None:
    edit(pack_dir / "parameters" / "social_assistance.yaml", "value: 1483", f"value: {value}")
    await refused(pack_dir, client, "parameters/social_assistance.yaml", "dibao.standard", "2024-01-01")


@pytest.mark.parametrize(
    ("formula", "words"),
    [
        ('formula: param.dibao.standard + "元"', ("amount", "text")),
        ("formula: " + "9" * 400 + " * household_size()", ("amount", "number")),
        ('formula: min(param.dibao.standard, "x")', ("amount", "text")),
        ('formula: floor("x")', ("amount", "text")),
        ('formula: sum_members(age >= 60, "x")', ("amount", "text")),
    ],
    ids=["text-plus-number", "huge-number", "min-text", "floor-text", "sum-text"],
)
async def test_a_formula_no_profile_can_compute_is_refused(
    client: httpx.AsyncClient, pack_dir: Path, formula: str, words: tuple[str, ...]
) -> None:
    edit(pack_dir / "policies" / "dibao.yaml", DIBAO, formula)
    await refused(pack_dir, client, "policies/dibao.yaml", *words)


def screen_with(pack_dir: Path, formula: str, condition: str | None = None) -> dict[str, str | float | None]:
    edit(pack_dir / "policies" / "dibao.yaml", DIBAO, formula)
    if condition is not None:
        edit(pack_dir / "policies" / "dibao.yaml", "test: income_per_head() < param.dibao.standard", condition)
    assert pack.check(pack_dir) == []
    loaded = pack.load(pack_dir)
    from miniapp_api.welfare import engine
    from tests.miniapp_api.welfare.test_saved import family

    profile = family(100)
    profile["members"] = profile["members"][:1]
    result = engine.screen(profile, dt.date(2025, 6, 1), pack=loaded).by_id()["dibao"]
    return {"status": result.status, "amount": result.amount, "text": result.explanation}


@pytest.mark.parametrize(
    "formula",
    [
        "formula: param.dibao.standard / (household_size() - 1)",  # one member: a division by zero
        "formula: (0 - param.dibao.standard) * household_size()",
        "formula: param.dibao.standard * 0 - 1",
    ],
    ids=["divide-by-zero", "negative", "negative-constant"],
)
def test_an_amount_a_profile_cannot_compute_or_that_is_negative_is_said_plainly(pack_dir: Path, formula: str) -> None:
    found = screen_with(pack_dir, formula)
    text = str(found["text"])
    assert found["status"] == "eligible"
    assert found["amount"] is None
    for bad in ("nan", "inf", "−", "-", "需要了解：。", "需要了解：" + "\n"):
        assert bad not in text.split("（")[0], text
    assert "金额" in text and "经办部门" in text, text
    assert not text.rstrip("。").endswith("："), text


def test_a_condition_a_profile_cannot_compute_asks_nothing_and_says_so(pack_dir: Path) -> None:
    found = screen_with(pack_dir, DIBAO, condition="test: param.dibao.standard / (household_size() - 1) > 10")
    assert found["status"] == "unknown"
    text = str(found["text"])
    assert "经办部门" in text and "需要了解：" not in text, text


@pytest.mark.parametrize(
    ("where", "old", "new"),
    [
        (
            "policies/dibao.yaml",
            "effective_from: 2022-01-01",
            "effective_from: 2022-01-01\neffective_until: 9999-12-31",
        ),
        ("policies/dibao.yaml", "effective_from: 2022-01-01", "effective_from: '20220101'"),
        ("policies/dibao.yaml", "effective_from: 2022-01-01", "effective_from: '2022-W01-1'"),
        ("policies/dibao.yaml", "effective_from: 2022-01-01", "effective_from: 2022-01-01 23:30:00-10:00"),
        ("policies/dibao.yaml", "effective_from: 2022-01-01", "effective_from: 0001-01-01"),
        ("parameters/social_assistance.yaml", "from: 2024-01-01", "from: '2024-W01-1'"),
        ("parameters/social_assistance.yaml", "from: 2024-01-01", "from: 2024-01-01T00:00:00+08:00"),
    ],
    ids=["year-9999", "compact", "week-date", "time-and-zone", "year-1", "param-week-date", "param-time"],
)
async def test_a_date_in_an_odd_format_or_beyond_the_calendar_is_refused(
    client: httpx.AsyncClient, pack_dir: Path, where: str, old: str, new: str
) -> None:
    """9999-12-31 as an end date made every push pass fail (the day after it does not exist); a compact, week
    or timed date means something else to each reader (2022-01-01 23:30 at UTC-10 is 2 January in China)."""
    edit(pack_dir / where, old, new)
    await refused(pack_dir, client, where, "YYYY-MM-DD")


async def test_two_policies_with_one_id_are_refused_whatever_the_file_names(
    client: httpx.AsyncClient, pack_dir: Path
) -> None:
    text = (pack_dir / "policies" / "childcare.yaml").read_text(encoding="utf-8")
    (pack_dir / "policies" / "Childcare.yaml").write_text(text, encoding="utf-8")
    await refused(pack_dir, client, "id 'childcare' is already used")
    (pack_dir / "policies" / "Childcare.yaml").write_text(text.replace("id: childcare", "id: Childcare"), "utf-8")
    await refused(pack_dir, client, "policies/Childcare.yaml", "lower-case")
    (pack_dir / "policies" / "Childcare.yaml").write_text(text.replace("id: childcare", "id: 'childcare '"), "utf-8")
    await refused(pack_dir, client, "policies/Childcare.yaml", "lower-case")
