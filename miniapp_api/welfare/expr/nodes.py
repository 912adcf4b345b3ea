"""The syntax tree of the expression language, its limits, its function table, and two walks over a tree:
``names`` (what an expression refers to, for the pack's linter) and ``render`` (the tree as text again, for
"why not" and the trace).

Everything here is plain data: the lexer, parser and compiler all build on it and nothing here imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Limits on hostile or careless packs: the parser, the compiler and render() recurse, so depth is bounded;
# length bounds the work the lexer does before anything is checked.
MAX_DEPTH = 32
MAX_LENGTH = 2_000

Value = Any  # bool | float | int | str | list | None (unknown)


class ExprError(ValueError):
    """A malformed expression: the message says where."""


@dataclass(frozen=True, slots=True)
class Node:
    kind: str  # num, str, bool, list, var, param, op, not, neg, call
    value: Any = None  # literal, name, operator or function name
    args: tuple[Node, ...] = ()


FUNCTIONS: dict[str, tuple[int, int]] = {  # name -> (min args, max args); -1: any number
    "all": (1, -1),
    "any": (1, -1),
    "any_member": (1, 1),
    "all_members": (1, 1),
    "count_members": (1, 1),
    "sum_members": (2, 2),
    "income_per_head": (0, 0),
    "household_size": (0, 0),
    "if": (3, 3),
    "min": (2, -1),
    "max": (2, -1),
    "floor": (1, 1),
}
# Inside these, member variables (age, relation ...) mean "this member": the linter allows them only there.
MEMBER_FUNCTIONS = frozenset({"any_member", "all_members", "count_members", "sum_members"})
COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!=", "in", "not in"})


def names(node: Node, *, in_member: bool = False) -> list[tuple[str, str, bool]]:
    """Every (kind, name, inside a member quantifier) the expression refers to: kind is var, param or call."""
    out: list[tuple[str, str, bool]] = []
    # An explicit stack, not recursion: the walk must not be the thing that hits Python's recursion limit.
    stack = [(node, in_member)]
    while stack:
        n, member = stack.pop()
        if n.kind in ("var", "param"):
            out.append((n.kind, n.value, member))
        elif n.kind == "call":
            out.append(("call", n.value, member))
            inner = member or n.value in MEMBER_FUNCTIONS
            stack.extend((a, inner) for a in n.args)
        else:
            stack.extend((a, member) for a in n.args)
    return out


def render(node: Node) -> str:
    """The expression as text again (for "why not" and the trace)."""
    k = node.kind
    if k == "num":
        return str(node.value)
    if k == "str":
        return f'"{node.value}"'
    if k == "bool":
        return "true" if node.value else "false"
    if k == "list":
        return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in node.value) + "]"
    if k == "var":
        return str(node.value)
    if k == "param":
        return f"param.{node.value}"
    if k == "not":
        return f"not {render(node.args[0])}"
    if k == "neg":
        return f"-{render(node.args[0])}"
    if k == "call":
        return f"{node.value}(" + ", ".join(render(a) for a in node.args) + ")"
    # Operators are always parenthesised: the text reads the same whatever the precedence the reader assumes.
    if node.value in ("and", "or"):
        return "(" + f" {node.value} ".join(render(a) for a in node.args) + ")"
    left, right = node.args
    return f"({render(left)} {node.value} {render(right)})"
