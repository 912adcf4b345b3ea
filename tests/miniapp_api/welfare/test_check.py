"""``gmid welfare check [DIR]``: the shipped pack passes; each kind of bad pack is refused with one clear
line per problem and exit status 1 (unknown names, parameters missing for a policy's period, cycles, a policy
or a value without a source, malformed expressions, hostile sizes)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

from miniapp_api.welfare import pack
from server.cli.welfare import cmd_welfare_check
from server.settings import Settings

GMID = Path(sys.executable).parent / "gmid"


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    """A copy of the shipped pack to spoil."""
    root = tmp_path / "pack"
    root.mkdir()
    shutil.copy(pack.SHIPPED / "variables.yaml", root / "variables.yaml")
    shutil.copytree(pack.SHIPPED / "parameters", root / "parameters")
    shutil.copytree(pack.SHIPPED / "policies", root / "policies")
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def refused(directory: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = cmd_welfare_check(argparse.Namespace(directory=str(directory)), cast(Settings, None))
    err = capsys.readouterr().err
    assert code == 1, err
    assert "the pack is refused" in err
    return err


def run_gmid(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMID_")}
    return subprocess.run([str(GMID), *args], capture_output=True, text=True, env=env, timeout=60, check=False)


def test_the_shipped_pack_passes_the_command() -> None:
    result = run_gmid("welfare", "check")
    assert result.returncode == 0, result.stderr
    assert "14 policies" in result.stdout and result.stdout.rstrip().endswith("OK")


def test_a_bad_pack_exits_1_with_one_line_per_problem(bad: Path) -> None:
    edit(bad / "policies" / "dibao.yaml", "hukou_city ==", "hukou_town ==")
    edit(bad / "policies" / "tekun.yaml", "param.tekun.standard", "param.tekun.standart")
    result = run_gmid("welfare", "check", str(bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "2 problems: the pack is refused"
    assert "policies/dibao.yaml (dibao): condition hukou: unknown variable 'hukou_town'" in lines[0]
    assert "policies/tekun.yaml (tekun): amount: unknown parameter param.tekun.standart" in lines[1]
    assert "Traceback" not in result.stderr


def test_unknown_variable(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(bad / "policies" / "childcare.yaml", "any_member(age < 3)", "any_member(age_months < 36)")
    assert "condition child: unknown variable 'age_months' (not in variables.yaml)" in refused(bad, capsys)


def test_unknown_variable_in_a_derived_formula(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(bad / "variables.yaml", "formula: 'hukou_city ==", "formula: 'hukou ==")
    assert "variables.yaml: sz_hukou: unknown variable 'hukou'" in refused(bad, capsys)


def test_member_variable_outside_a_member_quantifier(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(bad / "policies" / "childcare.yaml", "any_member(age < 3)", "age < 3")
    assert "member variable 'age' used outside any_member" in refused(bad, capsys)


def test_unknown_income_kind(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(bad / "policies" / "dibao.yaml", "income_counts: [wage,", "income_counts: [salary, wage,")
    assert "unknown income kinds in income_counts: ['salary']" in refused(bad, capsys)


def test_parameter_without_a_value_at_the_start_of_the_policy(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(bad / "policies" / "dibao.yaml", "effective_from: 2022-01-01", "effective_from: 2021-01-01")
    err = refused(bad, capsys)
    assert "parameter dibao.standard has no value on 2021-01-01 (the policy is in force from 2021-01-01)" in err


def test_parameter_ending_inside_the_policy_period(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (bad / "parameters" / "employment_childcare.yaml").open("a", encoding="utf-8") as f:
        f.write('    - {from: 2026-01-01, value: null, source: {title: "repealed", url: "https://www.gov.cn/"}}\n')
    err = refused(bad, capsys)
    assert "(childcare): parameter childcare.per_year has no value on 2026-01-01" in err
    # A policy that ends before the gap is fine.
    edit(
        bad / "policies" / "childcare.yaml",
        "effective_from: 2025-01-01",
        "effective_from: 2025-01-01\neffective_until: 2025-12-31",
    )
    assert pack.check(bad) == []


def test_cycles_in_derived_variables(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(
        bad / "variables.yaml",
        "formula: 'hukou_city == \"深圳\"'",
        "formula: 'hukou_city == \"深圳\" and certified_disabled'",
    )
    err = refused(bad, capsys)
    assert "derived variables depend on themselves: certified_disabled -> sz_hukou -> certified_disabled" in err


def test_a_derived_variable_using_itself(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(bad / "variables.yaml", "formula: count_members(", "formula: disabled_count + count_members(")
    assert "depend on themselves: disabled_count -> disabled_count" in refused(bad, capsys)


def test_policies_excluding_each_other_are_fine(bad: Path) -> None:
    edit(bad / "policies" / "tekun.yaml", "target: person", "target: person\nexclusions:\n  not_with: [dibao]")
    assert pack.check(bad) == []


def test_exclusion_of_an_unknown_policy(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(bad / "policies" / "dibao.yaml", "not_with: [tekun]", "not_with: [tekun, wubao]")
    assert "exclusions.not_with names an unknown policy 'wubao'" in refused(bad, capsys)


def test_policy_without_a_source(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(bad / "policies" / "childcare.yaml", '  url: "https://www.gov.cn/"\n', "")
    assert "policies/childcare.yaml (childcare): no source: legal_basis needs a document" in refused(bad, capsys)


def test_parameter_value_without_a_source(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = bad / "parameters" / "employment_childcare.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('source: {title: "《育儿补贴制度实施方案》', 'note: {title: "x', 1), encoding="utf-8")
    assert "childcare.per_year: the value from 2025-01-01 has no source (title and url)" in refused(bad, capsys)


@pytest.mark.parametrize(
    ("test", "message"),
    [
        ("any_member(age <", "expression ends too early"),
        ("__import__('os').system('id')", "unexpected character"),
        ("eval(1)", "unknown function 'eval'"),
        ("any_member(age < 3", "expected ')'"),
        ("age.real < 3", "unknown name 'age.real'"),
        ("any_member(age < 3) 3", "unexpected '3'"),
        ("min(1)", "min() takes 2 or more arguments, not 1"),
    ],
)
def test_malformed_expressions(bad: Path, capsys: pytest.CaptureFixture[str], test: str, message: str) -> None:
    edit(bad / "policies" / "childcare.yaml", "test: any_member(age < 3)", f"test: >-\n      {test}")
    err = refused(bad, capsys)
    assert "condition child: malformed expression" in err and message in err, err


def test_expressions_nested_deeper_than_32(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = "(" * 40 + "1" + ")" * 40 + " < 2"
    edit(bad / "policies" / "childcare.yaml", "test: any_member(age < 3)", f"test: {deep}")
    assert "expression nested deeper than 32" in refused(bad, capsys)
    edit(bad / "policies" / "childcare.yaml", f"test: {deep}", "test: " + "not " * 40 + "true")
    assert "expression nested deeper than 32" in refused(bad, capsys)


def test_a_file_larger_than_256_kb(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with (bad / "policies" / "childcare.yaml").open("a", encoding="utf-8") as f:
        f.write("# " + "x" * 262_144 + "\n")
    assert "policies/childcare.yaml: file larger than 256 KB" in refused(bad, capsys)


def test_more_than_1000_policies(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (bad / "policies" / "childcare.yaml").read_text(encoding="utf-8")
    for i in range(1_000):
        (bad / "policies" / f"copy_{i}.yaml").write_text(source.replace("id: childcare", f"id: copy_{i}"), "utf-8")
    assert "1,014 policies, more than the 1,000 a pack may hold" in refused(bad, capsys)


def test_yaml_aliases_are_refused(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(bad / "policies" / "childcare.yaml", "documents: [", "x: &a [1]\ny: *a\ndocuments: [")
    assert "policies/childcare.yaml: not valid YAML (aliases are not allowed" in refused(bad, capsys)


def test_duplicate_policy_id(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(bad / "policies" / "childcare.yaml", bad / "policies" / "childcare_copy.yaml")
    assert "policies/childcare_copy.yaml: id 'childcare' is already used by policies/childcare.yaml" in refused(
        bad, capsys
    )


def test_a_long_chain_nests_too(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ "1 + 1 + ... + 1" has no parenthesis but a tree 40 deep: refused with the message, never a crash."""
    chain = " + ".join(["1"] * 40) + " > 2"
    edit(bad / "policies" / "childcare.yaml", "test: any_member(age < 3)", f"test: {chain}")
    assert "condition child: malformed expression: expression nested deeper than 32" in refused(bad, capsys)


def test_a_long_list_of_and_is_flat_and_accepted(bad: Path) -> None:
    flat = " and ".join(["any_member(age < 3)"] * 60)
    edit(bad / "policies" / "childcare.yaml", "test: any_member(age < 3)", f"test: {flat}")
    assert pack.check(bad) == []


def test_an_expression_longer_than_2000_characters(bad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(bad / "policies" / "childcare.yaml", "test: any_member(age < 3)", "test: " + "1" * 2_001 + " > 2")
    assert "expression longer than 2000 characters" in refused(bad, capsys)


GARBAGE = [None, 1, 1.5, True, "x", [], {}, [{}], [[1]], {"a": []}, "[" * 3_000, "(" * 3_000]
FIELDS = ["id", "name", "legal_basis", "sources", "effective_from", "effective_until", "target", "income_counts",
          "conditions", "exclusions", "amount", "documents", "no_application"]  # fmt: skip


@pytest.mark.parametrize("field", FIELDS)
def test_garbage_in_any_field_is_refused_with_a_message_never_a_crash(bad: Path, field: str) -> None:
    import yaml

    path = bad / "policies" / "unemployment.yaml"
    original = yaml.safe_load(path.read_text(encoding="utf-8"))
    for garbage in GARBAGE:
        spoiled = dict(original)
        spoiled[field] = garbage
        path.write_text(yaml.safe_dump(spoiled, allow_unicode=True), encoding="utf-8")
        problems = pack.check(bad)  # no exception, whatever the value
        if field in ("legal_basis", "effective_from", "target", "conditions"):
            assert problems, (field, garbage)  # none of the garbage is a valid value there
        assert all(p.startswith("policies/unemployment.yaml") for p in problems), problems
