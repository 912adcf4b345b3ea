"""A welfare pack: the variable registry, dated parameters and one YAML file per policy, loaded and checked.

Layout of a pack directory::

    variables.yaml         the registry: name -> type, entity, unit, label, Chinese question (or a formula)
    parameters/*.yaml      name -> label, unit, values: [{from, value, source: {title, url}}, ...]
    policies/*.yaml        one policy each (see the shipped ones)

``check(directory)`` returns every problem found (an empty list: the pack is good); ``load(directory)``
raises ``PackError`` with all of them, or returns the compiled pack. Everything is parsed and compiled here,
once: evaluating a profile only runs closures.

Hostile input: a file larger than 256 KB, more than 1,000 policies, expressions nested deeper than 32 or YAML
aliases are refused.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from miniapp_api.welfare import expr

MAX_FILE_BYTES = 256 * 1024
_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_POLICIES = 1_000
SHIPPED = Path(__file__).parent

ENTITIES = ("household", "member", "enterprise")
TYPES = ("int", "number", "bool", "str", "list", "mapping", "date")
TARGETS = ("person", "household", "enterprise")
PERIODS = {"monthly": "月", "yearly": "年", "one_off": "次"}
# Facts every profile has a place for, whatever the registry says.
BUILTIN_FACTS = {"members": "家里一共有哪些成员（关系、年龄或出生日期）？"}


class PackError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    url: str


@dataclass(slots=True)
class Variable:
    name: str
    type: str
    entity: str
    label: str
    question: str
    unit: str = ""
    formula: expr.Node | None = None


@dataclass(slots=True)
class Parameter:
    name: str
    label: str
    unit: str
    starts: list[dt.date]
    values: list[Any]  # None: no value from that date on
    sources: list[Source]

    def at(self, day: dt.date) -> tuple[Any, dt.date | None, Source | None]:
        i = bisect.bisect_right(self.starts, day) - 1
        if i < 0:
            return None, None, None
        return self.values[i], self.starts[i], self.sources[i]


@dataclass(slots=True)
class Condition:
    id: str
    label: str
    text: str
    node: expr.Node
    run: expr.Compiled
    exclusion: bool = False


@dataclass(slots=True)
class Amount:
    formula: expr.Node
    run: expr.Compiled
    describe: Callable[[expr.Env], str]
    period: str
    months: expr.Compiled | None = None
    months_text: str | None = None
    note: str = ""


@dataclass(slots=True)
class Policy:
    id: str
    name: str
    issuer: str
    legal_basis: dict[str, str]
    sources: list[Source]
    effective_from: dt.date
    effective_until: dt.date | None
    target: str
    summary: str
    conditions: list[Condition]
    not_with: list[str]
    income_counts: tuple[str, ...]
    amount: Amount | None
    documents: list[str]
    channel: str
    no_application: bool
    params: frozenset[str]
    path: str

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)


@dataclass(slots=True)
class Pack:
    variables: dict[str, Variable]
    parameters: dict[str, Parameter]
    policies: dict[str, Policy]
    income_kinds: dict[str, str]
    derived: dict[str, expr.Compiled] = field(default_factory=dict)
    _params_by_day: dict[dt.date, dict[str, Any]] = field(default_factory=dict)

    def params_on(self, day: dt.date) -> dict[str, Any]:
        found = self._params_by_day.get(day)
        if found is None:
            found = {name: p.at(day)[0] for name, p in self.parameters.items()}
            if len(self._params_by_day) > 512:
                self._params_by_day.clear()
            self._params_by_day[day] = found
        return found

    def question(self, fact: str) -> str:
        if fact in BUILTIN_FACTS:
            return BUILTIN_FACTS[fact]
        name = fact.split(".", 1)[1] if "." in fact else fact
        var = self.variables.get(name)
        return var.question if var is not None else fact


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases (no "billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"aliases are not allowed (line {event.start_mark.line + 1})")
        return super().compose_node(parent, index)


def _read(path: Path, root: Path, problems: list[str]) -> Any:
    rel = str(path.relative_to(root))
    try:
        size = path.stat().st_size
    except OSError as exc:
        problems.append(f"{rel}: cannot read ({exc.strerror})")
        return None
    if size > MAX_FILE_BYTES:
        problems.append(f"{rel}: file larger than {MAX_FILE_BYTES // 1024} KB ({size:,} bytes)")
        return None
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append(f"{rel}: not valid YAML ({str(exc).splitlines()[0]})")
        return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _source(raw: Any) -> Source | None:
    if not isinstance(raw, dict):
        return None
    title, url = raw.get("title"), raw.get("url")
    if isinstance(title, str) and isinstance(url, str) and title.strip() and url.strip():
        return Source(title.strip(), url.strip())
    return None


def _load_variables(root: Path, problems: list[str]) -> tuple[dict[str, Variable], dict[str, str]]:
    raw = _read(root / "variables.yaml", root, problems) if (root / "variables.yaml").exists() else None
    if raw is None:
        if not (root / "variables.yaml").exists():
            problems.append("variables.yaml: missing (the registry of variables)")
        return {}, {}
    if not isinstance(raw, dict) or not isinstance(raw.get("variables"), dict):
        problems.append("variables.yaml: expected a mapping with 'variables' (and 'income_kinds')")
        return {}, {}
    kinds = raw.get("income_kinds") or {}
    if not isinstance(kinds, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in kinds.items()):
        problems.append("variables.yaml: income_kinds must map a kind to its Chinese name")
        kinds = {}
    variables: dict[str, Variable] = {}
    for name, spec in raw["variables"].items():
        where = f"variables.yaml: {name}"
        if not isinstance(name, str) or not name.isidentifier() or not isinstance(spec, dict):
            problems.append(f"{where}: a variable is a name and a mapping")
            continue
        vtype, entity = spec.get("type"), spec.get("entity")
        if vtype not in TYPES:
            problems.append(f"{where}: type must be one of {', '.join(TYPES)}")
            continue
        if entity not in ENTITIES:
            problems.append(f"{where}: entity must be one of {', '.join(ENTITIES)}")
            continue
        formula = None
        if "formula" in spec:
            try:
                formula = expr.parse(spec["formula"])
            except expr.ExprError as exc:
                problems.append(f"{where}: malformed formula: {exc}")
                continue
        question = spec.get("question")
        if formula is None and not (isinstance(question, str) and question.strip()):
            problems.append(f"{where}: an input variable needs its Chinese question")
            continue
        variables[name] = Variable(
            name=name,
            type=vtype,
            entity=entity,
            label=str(spec.get("label") or name),
            question=str(question or ""),
            unit=str(spec.get("unit") or ""),
            formula=formula,
        )
    return variables, dict(kinds)


def _load_parameters(root: Path, problems: list[str]) -> dict[str, Parameter]:
    parameters: dict[str, Parameter] = {}
    for path in sorted((root / "parameters").glob("*.yaml")):
        raw = _read(path, root, problems)
        rel = str(path.relative_to(root))
        if raw is None:
            continue
        if not isinstance(raw, dict):
            problems.append(f"{rel}: expected a mapping of parameter names")
            continue
        for name, spec in raw.items():
            where = f"{rel}: {name}"
            if not isinstance(spec, dict) or not isinstance(spec.get("values"), list) or not spec["values"]:
                problems.append(f"{where}: a parameter needs a list of dated values")
                continue
            if name in parameters:
                problems.append(f"{where}: defined twice")
                continue
            rows = []
            for row in spec["values"]:
                start = _date(row.get("from")) if isinstance(row, dict) else None
                if start is None:
                    problems.append(f"{where}: each value needs a 'from' date (YYYY-MM-DD)")
                    continue
                value = row.get("value")
                if value is not None and not isinstance(value, int | float | str):
                    problems.append(f"{where}: the value from {start} is not a number or text")
                    continue
                source = _source(row.get("source"))
                if source is None:
                    problems.append(f"{where}: the value from {start} has no source (title and url)")
                    continue
                rows.append((start, value, source))
            rows.sort(key=lambda r: r[0])
            parameters[name] = Parameter(
                name=name,
                label=str(spec.get("label") or name),
                unit=str(spec.get("unit") or ""),
                starts=[r[0] for r in rows],
                values=[r[1] for r in rows],
                sources=[r[2] for r in rows],
            )
    return parameters


def _check_names(
    node: expr.Node,
    where: str,
    variables: dict[str, Variable],
    parameters: dict[str, Parameter],
    problems: list[str],
    *,
    in_policy: bool,
    in_member: bool = False,
) -> None:
    for kind, name, member in expr.names(node, in_member=in_member):
        if kind == "param" and name not in parameters:
            problems.append(f"{where}: unknown parameter param.{name}")
        elif kind == "var":
            var = variables.get(name)
            if var is None:
                problems.append(f"{where}: unknown variable {name!r} (not in variables.yaml)")
            elif var.entity == "member" and not member:
                problems.append(f"{where}: member variable {name!r} used outside any_member/all_members/...")
        elif kind == "call" and name == "income_per_head" and not in_policy:
            problems.append(f"{where}: income_per_head() belongs in a policy (it uses the policy's income_counts)")


def _derived_graph(variables: dict[str, Variable]) -> dict[str, set[str]]:
    return {
        name: {n for k, n, _ in expr.names(var.formula) if k == "var" and n in variables}
        for name, var in variables.items()
        if var.formula is not None
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        path.append(name)
        for nxt in sorted(graph.get(name, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt in graph and state.get(nxt) is None:
                visit(nxt, path)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if state.get(name) is None:
            visit(name, [])
    return found


def _params_used(node: expr.Node, variables: dict[str, Variable], seen: set[str] | None = None) -> set[str]:
    seen = set() if seen is None else seen
    out: set[str] = set()
    for kind, name, _ in expr.names(node):
        if kind == "param":
            out.add(name)
        elif kind == "var" and name not in seen:
            var = variables.get(name)
            if var is not None and var.formula is not None:
                seen.add(name)
                out |= _params_used(var.formula, variables, seen)
    return out


_FUNCTION_LABELS = {
    "income_per_head": "人均月收入",
    "household_size": "家庭人数",
    "count_members": "符合条件人数",
    "sum_members": "符合条件成员合计",
    "min": "取较小值",
    "max": "取较大值",
    "if": "按条件",
    "floor": "取整",
}
_OP_SIGNS = {"+": "+", "-": "−", "*": "×", "/": "÷"}


def _number(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return f"{v:,}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def _describer(
    node: expr.Node, scope: expr.Scope, pack_vars: dict[str, Variable], params: dict[str, Parameter]
) -> Callable[[expr.Env], str]:
    """A closure that writes an amount formula with the values it used:
    "(低保标准 1,483 − 人均月收入 800) × 家庭人数 3"."""
    if node.kind == "op" and node.value in _OP_SIGNS:
        left = _describer(node.args[0], scope, pack_vars, params)
        right = _describer(node.args[1], scope, pack_vars, params)
        sign = _OP_SIGNS[node.value]
        return lambda env: f"({left(env)} {sign} {right(env)})"
    run = expr.compile_node(node, scope)
    if node.kind in ("num",):
        text = _number(node.value)
        return lambda env: text
    if node.kind == "param":
        label = params[node.value].label if node.value in params else node.value
    elif node.kind == "var":
        label = pack_vars[node.value].label if node.value in pack_vars else node.value
    elif node.kind == "call":
        label = _FUNCTION_LABELS.get(node.value, node.value)
    else:
        label = expr.render(node)

    def describe(env: expr.Env) -> str:
        v = run(env)
        return f"{label} {'未知' if v is None else _number(round(v, 2) if isinstance(v, float) else v)}"

    return describe


def _strip_outer(text: str) -> str:
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text


def _load_policy(
    raw: Any,
    rel: str,
    variables: dict[str, Variable],
    parameters: dict[str, Parameter],
    income_kinds: dict[str, str],
    derived_names: frozenset[str],
    derived: dict[str, expr.Compiled],
    problems: list[str],
) -> Policy | None:
    if not isinstance(raw, dict):
        problems.append(f"{rel}: a policy file holds one mapping")
        return None
    before = len(problems)
    pid = raw.get("id")
    if not isinstance(pid, str) or not _ID.fullmatch(pid):
        problems.append(f"{rel}: id must be lower-case letters, digits and _ (at most 64, a letter first)")
        return None
    where = f"{rel} ({pid})"
    for key in ("name", "issuer", "summary", "channel"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            problems.append(f"{where}: {key} is required")
    basis = raw.get("legal_basis")
    if (
        not isinstance(basis, dict)
        or not str(basis.get("document") or "").strip()
        or not str(basis.get("url") or "").strip()
    ):
        problems.append(f"{where}: no source: legal_basis needs a document (number or title) and a url")
        basis = {}
    raw_sources = raw.get("sources") or []
    if not isinstance(raw_sources, list):
        problems.append(f"{where}: sources must be a list of {{title, url}}")
        raw_sources = []
    sources = [s for s in (_source(r) for r in raw_sources) if s is not None]
    if basis and not sources:
        sources = [Source(str(basis["document"]), str(basis["url"]))]
    start = _date(raw.get("effective_from"))
    until = _date(raw.get("effective_until")) if raw.get("effective_until") is not None else None
    if start is None:
        problems.append(f"{where}: effective_from must be a date (YYYY-MM-DD)")
    if raw.get("effective_until") is not None and until is None:
        problems.append(f"{where}: effective_until must be a date (YYYY-MM-DD)")
    if start and until and until < start:
        problems.append(f"{where}: effective_until is before effective_from")
    target = raw.get("target")
    if target not in TARGETS:
        problems.append(f"{where}: target must be one of {', '.join(TARGETS)}")
    counts = raw.get("income_counts") or []
    if not isinstance(counts, list) or any(not isinstance(k, str) or k not in income_kinds for k in counts):
        unknown = (
            [k for k in counts if not isinstance(k, str) or k not in income_kinds]
            if isinstance(counts, list)
            else counts
        )
        problems.append(f"{where}: unknown income kinds in income_counts: {unknown}")
        counts = []
    scope = expr.Scope(
        entity_of={n: v.entity for n, v in variables.items()},
        derived_names=derived_names,
        derived=derived,
        income_kinds=tuple(counts),
    )
    conditions: list[Condition] = []
    used_params: set[str] = set()
    raw_conditions = raw.get("conditions")
    if not isinstance(raw_conditions, list) or not raw_conditions:
        problems.append(f"{where}: conditions must be a non-empty list")
        raw_conditions = []
    seen_ids: set[str] = set()
    for i, c in enumerate(raw_conditions):
        if not isinstance(c, dict) or not isinstance(c.get("id"), str) or not isinstance(c.get("label"), str):
            problems.append(f"{where}: condition #{i + 1} needs an id, a Chinese label and a test")
            continue
        cwhere = f"{where}: condition {c['id']}"
        if c["id"] in seen_ids:
            problems.append(f"{cwhere}: duplicate id")
        seen_ids.add(c["id"])
        try:
            node = expr.parse(c.get("test"))  # type: ignore[arg-type]
        except expr.ExprError as exc:
            problems.append(f"{cwhere}: malformed expression: {exc}")
            continue
        _check_names(node, cwhere, variables, parameters, problems, in_policy=True)
        used_params |= _params_used(node, variables)
        if len(problems) == before:
            conditions.append(Condition(c["id"], c["label"], c["test"], node, expr.compile_node(node, scope)))
    exclusions = raw.get("exclusions") or {}
    not_with = exclusions.get("not_with") or [] if isinstance(exclusions, dict) else []
    if not isinstance(not_with, list) or not all(isinstance(x, str) and _ID.fullmatch(x) for x in not_with):
        problems.append(f"{where}: exclusions.not_with must be a list of policy ids")
        not_with = []
    receiving = "enterprise_receiving" if target == "enterprise" else "receiving"
    if receiving not in variables:
        problems.append(f"{where}: exclusions need the variable {receiving!r} in variables.yaml")
    elif len(problems) == before:
        for other in [pid, *not_with]:
            node = expr.parse(f'"{other}" not in {receiving}')
            label = "目前未在享受本项" if other == pid else f"未在享受「{other}」（不可同时享受）"
            conditions.append(
                Condition(
                    f"not_receiving_{other}", label, expr.render(node), node, expr.compile_node(node, scope), True
                )
            )
    amount = None
    raw_amount = raw.get("amount")
    if raw_amount is not None:
        period = raw_amount.get("period") if isinstance(raw_amount, dict) else None
        if not isinstance(period, str) or period not in PERIODS:
            problems.append(f"{where}: amount needs a formula and a period ({', '.join(PERIODS)})")
        else:
            try:
                node = expr.parse(raw_amount.get("formula"))
                months_node = expr.parse(raw_amount["months"]) if raw_amount.get("months") is not None else None
            except expr.ExprError as exc:
                problems.append(f"{where}: amount: malformed expression: {exc}")
            else:
                _check_names(node, f"{where}: amount", variables, parameters, problems, in_policy=True)
                used_params |= _params_used(node, variables)
                if months_node is not None:
                    _check_names(
                        months_node, f"{where}: amount months", variables, parameters, problems, in_policy=True
                    )
                    used_params |= _params_used(months_node, variables)
                if len(problems) == before:
                    amount = Amount(
                        formula=node,
                        run=expr.compile_node(node, scope),
                        describe=_describer(node, scope, variables, parameters),
                        period=raw_amount["period"],
                        months=expr.compile_node(months_node, scope) if months_node else None,
                        months_text=expr.render(months_node) if months_node else None,
                        note=str(raw_amount.get("note") or ""),
                    )
    documents = raw.get("documents") or []
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        problems.append(f"{where}: documents must be a list of texts")
    if not isinstance(raw.get("no_application", False), bool):
        problems.append(f"{where}: no_application is true or false")
    # Every parameter must have a value over the whole effective period.
    if start is not None:
        for name in sorted(used_params):
            param = parameters.get(name)
            if param is None:
                continue
            value, _, _ = param.at(start)
            gaps = [] if value is not None else [start]
            gaps += [
                s
                for s, v in zip(param.starts, param.values, strict=True)
                if v is None and s > start and (until is None or s <= until)
            ]
            if gaps:
                problems.append(
                    f"{where}: parameter {name} has no value on {gaps[0]} (the policy is in force from {start}"
                    f"{f' until {until}' if until else ''})"
                )
    if len(problems) > before:
        return None
    assert start is not None and isinstance(target, str)
    return Policy(
        id=pid,
        name=raw["name"],
        issuer=raw["issuer"],
        legal_basis={k: str(v) for k, v in basis.items()},
        sources=sources,
        effective_from=start,
        effective_until=until,
        target=target,
        summary=raw["summary"],
        conditions=conditions,
        not_with=list(not_with),
        income_counts=tuple(counts),
        amount=amount,
        documents=list(documents),
        channel=raw["channel"],
        no_application=bool(raw.get("no_application", False)),
        params=frozenset(used_params),
        path=rel,
    )


def _build(root: Path) -> tuple[Pack | None, list[str]]:
    problems: list[str] = []
    if not root.is_dir():
        return None, [f"{root}: not a directory"]
    policy_files = sorted((root / "policies").glob("*.yaml"))
    if len(policy_files) > MAX_POLICIES:
        return None, [f"policies/: {len(policy_files):,} policies, more than the {MAX_POLICIES:,} a pack may hold"]
    if not policy_files:
        problems.append("policies/: no policy files")
    variables, income_kinds = _load_variables(root, problems)
    parameters = _load_parameters(root, problems)
    # Derived variables: names known, formulas checked, no cycles.
    graph = _derived_graph(variables)
    for cycle in _cycles(graph):
        problems.append(f"variables.yaml: derived variables depend on themselves: {' -> '.join(cycle)}")
    derived: dict[str, expr.Compiled] = {}
    derived_names = frozenset(graph)
    scope = expr.Scope({n: v.entity for n, v in variables.items()}, derived_names, derived)
    for name, var in variables.items():
        if var.formula is not None:
            count = len(problems)
            _check_names(
                var.formula, f"variables.yaml: {name}", variables, parameters, problems,
                in_policy=False, in_member=var.entity == "member",
            )  # fmt: skip
            if len(problems) == count:
                derived[name] = expr.compile_node(var.formula, scope)
    policies: dict[str, Policy] = {}
    ids_seen: set[str] = set()
    for path in policy_files:
        rel = str(path.relative_to(root))
        raw = _read(path, root, problems)
        if raw is None:
            continue
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            ids_seen.add(raw["id"])  # a policy refused for another reason is still not "unknown"
        policy = _load_policy(raw, rel, variables, parameters, income_kinds, derived_names, derived, problems)
        if policy is None:
            continue
        if policy.id in policies:
            problems.append(f"{rel}: id {policy.id!r} is already used by {policies[policy.id].path}")
            continue
        policies[policy.id] = policy
    for policy in policies.values():
        for cond in policy.conditions:
            other_id = cond.id.removeprefix("not_receiving_")
            if cond.exclusion and other_id != policy.id and other_id in policies:
                cond.label = f"未在享受「{policies[other_id].name}」（两者不可同时享受）"
        for other in policy.not_with:
            if other not in ids_seen:
                problems.append(f"{policy.path} ({policy.id}): exclusions.not_with names an unknown policy {other!r}")
    if problems:
        return None, problems
    return Pack(variables, parameters, policies, income_kinds, derived), []


def check(directory: Path | str = SHIPPED) -> list[str]:
    """Every problem of the pack in ``directory`` (empty: the pack is good)."""
    return _build(Path(directory))[1]


def load(directory: Path | str = SHIPPED) -> Pack:
    pack, problems = _build(Path(directory))
    if pack is None:
        raise PackError(problems)
    return pack


_shipped: Pack | None = None


def shipped() -> Pack:
    """The pack in the package, loaded once per process."""
    global _shipped
    if _shipped is None:
        _shipped = load(SHIPPED)
    return _shipped
