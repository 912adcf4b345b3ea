"""The whole pack: read the registry and the parameters, check and compile the derived variables, then each
policy, then what needs every policy at once (ids used twice, exclusions naming unknown policies).

``check`` and ``load`` share one pass (``_build``), so what the linter accepts is exactly what loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from miniapp_api.welfare import expr
from miniapp_api.welfare.pack.checks import check_names
from miniapp_api.welfare.pack.model import Pack, PackError, Policy
from miniapp_api.welfare.pack.parameters import load_parameters
from miniapp_api.welfare.pack.policies import load_policy
from miniapp_api.welfare.pack.reading import read, unsafe_folder
from miniapp_api.welfare.pack.variables import cycles, derived_graph, load_variables

# Bounds the work a hostile pack can cause before anything is checked.
MAX_POLICIES = 1_000
# The pack shipped in the package: variables.yaml, parameters/ and policies/ sit next to this package.
SHIPPED = Path(__file__).parent.parent


def _build(root: Path) -> tuple[Pack | None, list[str]]:
    problems: list[str] = []
    if not root.is_dir():
        return None, [f"{root}: not a directory"]
    linked = unsafe_folder(root / "policies", "policies/")
    if linked is not None:
        return None, [linked]
    policy_files = sorted((root / "policies").glob("*.yaml"))
    if len(policy_files) > MAX_POLICIES:
        return None, [f"policies/: {len(policy_files):,} policies, more than the {MAX_POLICIES:,} a pack may hold"]
    if not policy_files:
        problems.append("policies/: no policy files")
    variables, income_kinds = load_variables(root, problems)
    parameters = load_parameters(root, problems)
    # Derived variables: names known, formulas checked, no cycles.
    graph = derived_graph(variables)
    for cycle in cycles(graph):
        problems.append(f"variables.yaml: derived variables depend on themselves: {' -> '.join(cycle)}")
    # Filled in below, after the scope that holds it: the closures look a derived variable up at run time, so
    # formulas may use each other whatever their order in the file.
    derived: dict[str, expr.Compiled] = {}
    derived_names = frozenset(graph)
    interned: dict[Any, expr.Compiled] = {}  # quantifiers shared by the whole pack (compiler._quantifier)
    scope = expr.Scope({n: v.entity for n, v in variables.items()}, derived_names, derived, interned=interned)
    for name, var in variables.items():
        if var.formula is not None:
            count = len(problems)
            check_names(
                var.formula, f"variables.yaml: {name}", variables, parameters, problems,
                in_policy=False, in_member=var.entity == "member",
            )  # fmt: skip
            if len(problems) == count:
                derived[name] = expr.compile_node(var.formula, scope)
    policies: dict[str, Policy] = {}
    ids_seen: set[str] = set()
    for path in policy_files:
        rel = str(path.relative_to(root))
        raw = read(path, root, problems)
        if raw is None:
            continue
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            ids_seen.add(raw["id"])  # a policy refused for another reason is still not "unknown"
        policy = load_policy(raw, rel, variables, parameters, income_kinds, derived_names, derived, problems, interned)
        if policy is None:
            continue
        if policy.id in policies:
            problems.append(f"{rel}: id {policy.id!r} is already used by {policies[policy.id].path}")
            continue
        policies[policy.id] = policy
    # Only now are all policies known: an exclusion's label can name the other policy, and not_with can be checked.
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
    _intern_keys(policies)
    return Pack(variables, parameters, policies, income_kinds, derived), []


def _intern_keys(policies: dict[str, Policy]) -> None:
    """Each condition's and amount's key (a syntax tree and the counted incomes) replaced by a small number: the
    same number for the same test, so a screening looks results up without hashing trees again."""
    numbers: dict[Any, int] = {}
    for policy in policies.values():
        for cond in policy.conditions:
            cond.key = numbers.setdefault(cond.key, len(numbers))
        if policy.amount is not None:
            policy.amount.key = numbers.setdefault(policy.amount.key, len(numbers))


def check(directory: Path | str = SHIPPED) -> list[str]:
    """Every problem of the pack in ``directory`` (empty: the pack is good)."""
    return _build(Path(directory))[1]


def load(directory: Path | str = SHIPPED) -> Pack:
    pack, problems = _build(Path(directory))
    if pack is None:
        raise PackError(problems)
    return pack


_shipped: Pack | None = None  # per process: the shipped files do not change while it runs


def shipped() -> Pack:
    """The pack in the package, loaded once per process."""
    global _shipped
    if _shipped is None:
        _shipped = load(SHIPPED)
    return _shipped
