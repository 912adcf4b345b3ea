"""The linter's checks on expressions, shared by the registry and the policies: names that must exist (and be
used where they mean something), the parameters an expression reads, and parameters without a value for part of
a policy's effective period.
"""

from __future__ import annotations

import datetime as dt
import math

from miniapp_api.welfare import expr
from miniapp_api.welfare.pack.model import Parameter, Variable


def check_names(
    node: expr.Node,
    where: str,
    variables: dict[str, Variable],
    parameters: dict[str, Parameter],
    problems: list[str],
    *,
    in_policy: bool,
    in_member: bool = False,
) -> None:
    """Adds a problem for each unknown variable or parameter, each member variable outside a member
    quantifier, and income_per_head() outside a policy."""
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
    check_numbers(node, where, parameters, problems)


# A number no amount, income or standard comes near; beyond it a float loses whole yuan (and 10**400 is none).
MAX_LITERAL = 10**12
# The operands these take are summed, multiplied or compared by size: never text.
_NUMERIC_OPS = frozenset({"+", "-", "*", "/"})
_NUMERIC_CALLS = frozenset({"min", "max", "floor"})


def check_numbers(node: expr.Node, where: str, parameters: dict[str, Parameter], problems: list[str]) -> None:
    """Adds a problem for a number literal that is not finite or beyond MAX_LITERAL, and for text (a quoted
    literal, a list, yes/no or a parameter with a text value) used in arithmetic, min/max/floor or as the
    value sum_members adds up: no profile could compute those, so every screening would fail on them."""
    stack = [node]
    while stack:
        n = stack.pop()
        stack.extend(n.args)
        if n.kind == "num" and (abs(n.value) > MAX_LITERAL or not math.isfinite(n.value)):
            problems.append(f"{where}: the number {str(n.value)[:20]} is larger than {MAX_LITERAL:,}")
        if (n.kind == "op" and n.value in _NUMERIC_OPS) or n.kind == "neg":
            operands: tuple[expr.Node, ...] = n.args
        elif n.kind == "call" and n.value in _NUMERIC_CALLS:
            operands = n.args
        elif n.kind == "call" and n.value == "sum_members":
            operands = n.args[1:]
        else:
            continue
        for a in operands:
            if _text(a, parameters):
                problems.append(f"{where}: text used as a number ({expr.render(a)[:40]}) in {expr.render(n)[:80]}")


def params_used(node: expr.Node, variables: dict[str, Variable], seen: set[str] | None = None) -> set[str]:
    """The parameters ``node`` reads, through derived variables too (``seen`` stops a cycle)."""
    seen = set() if seen is None else seen
    out: set[str] = set()
    for kind, name, _ in expr.names(node):
        if kind == "param":
            out.add(name)
        elif kind == "var" and name not in seen:
            var = variables.get(name)
            if var is not None and var.formula is not None:
                seen.add(name)
                out |= params_used(var.formula, variables, seen)
    return out


def parameter_gaps(
    where: str,
    used: set[str],
    parameters: dict[str, Parameter],
    start: dt.date,
    until: dt.date | None,
    problems: list[str],
) -> None:
    """Adds a problem for each parameter in ``used`` that has no value on some day from ``start`` to ``until``
    (a policy in force must be computable every day it is in force)."""
    for name in sorted(used):
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


def _text(node: expr.Node, parameters: dict[str, Parameter]) -> bool:
    if node.kind in ("str", "list", "bool"):
        return True
    if node.kind == "param" and node.value in parameters:
        return any(isinstance(v, str | bool) for v in parameters[node.value].values)
    return False
