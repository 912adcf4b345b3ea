"""Syntax tree -> closure, once per pack: evaluating a profile then only calls closures (no tree walking, no
``eval``).

Literals become constants, names become lookups that record a missing fact, operators and comparisons
propagate unknown (``None``), ``and``/``or`` use Kleene's logic (logic.py) and function calls are built in
functions.py.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from miniapp_api.welfare.expr.functions import compile_call
from miniapp_api.welfare.expr.logic import kleene_and, kleene_or
from miniapp_api.welfare.expr.nodes import COMPARISONS, MEMBER_FUNCTIONS, Node, render
from miniapp_api.welfare.expr.runtime import Comparison, Compiled, Env, Scope, Value

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


def compile_node(node: Node, scope: Scope) -> Compiled:
    """The closure that evaluates ``node`` against an ``Env``; ``None`` in, ``None`` (unknown) out."""
    k = node.kind
    if k in ("num", "str", "bool"):
        const = node.value
        return lambda env: const
    if k == "list":
        items = frozenset(node.value)
        return lambda env: items
    if k == "param":
        pname = node.value

        def param(env: Env) -> Value:
            return env.params[pname]

        return param
    if k == "var":
        return _compile_var(node.value, scope)
    if k == "not":
        inner = compile_node(node.args[0], scope)

        def not_(env: Env) -> Value:
            v = inner(env)
            return None if v is None else not v

        return not_
    if k == "neg":
        inner = compile_node(node.args[0], scope)

        def neg(env: Env) -> Value:
            v = inner(env)
            return None if v is None else -v

        return neg
    if k == "call":
        if node.value in MEMBER_FUNCTIONS:
            return _quantifier(node, scope)
        # Arguments compiled here, the function itself in functions.py (which cannot import this module).
        return compile_call(node.value, tuple(compile_node(a, scope) for a in node.args), scope)
    op = node.value
    if op == "and":
        return kleene_and(_flatten(node, "and", scope))
    if op == "or":
        return kleene_or(_flatten(node, "or", scope))
    left, right = (compile_node(a, scope) for a in node.args)
    if op in COMPARISONS:
        text = render(node)

        test = _COMPARE[op]

        def cmp(env: Env) -> Value:
            a = left(env)
            b = right(env)
            if a is None or b is None:
                return None
            try:
                ok = test(a, b)
            except TypeError:
                return None
            if not ok and env.explain:  # only when a failed condition is run again to say why
                failed = env.failed
                new = Comparison(text, op, a, b)
                if failed is None or (new.gap is not None and (failed.gap is None or new.gap < failed.gap)):
                    env.failed = new
            return ok

        return cmp

    def arith(env: Env) -> Value:
        a = left(env)
        b = right(env)
        if a is None or b is None:
            return None
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        return None if b == 0 else a / b

    return arith


def _quantifier(node: Node, scope: Scope) -> Compiled:
    """A member quantifier (any_member, count_members ...), the costliest part of most tests (a loop over the
    members), run once per profile for every policy in the pack that uses it: its value and the facts it
    found missing are kept in ``env.outcomes`` under the closure itself. Its value does not depend on the
    member being looked at outside it (it sets ``env.member`` for each member), only on the counted incomes."""
    key = (node, scope.income_kinds)
    found = scope.interned.get(key)
    if found is not None:
        return found
    inner = compile_call(node.value, tuple(compile_node(a, scope) for a in node.args), scope)

    def quantifier(env: Env) -> Value:
        if env.explain:  # the comparisons inside are wanted again
            return inner(env)
        kept = env.outcomes.get(quantifier)
        if kept is None:
            mark = len(env.missing)
            value = inner(env)
            env.outcomes[quantifier] = (value, tuple(env.missing[mark:]))
            return value
        if kept[1]:
            env.missing.extend(kept[1])
        return kept[0]

    scope.interned[key] = quantifier
    return quantifier


def _flatten(node: Node, op: str, scope: Scope) -> tuple[Compiled, ...]:
    """The operands of a chain of one operator, nested or not ("(a and b) and c" -> a, b, c), compiled in order:
    one Kleene and/or over all of them, so one decided part drops the missing facts of every other."""
    parts: list[Compiled] = []
    stack = [node]
    order: list[Node] = []
    while stack:
        n = stack.pop()
        if n.kind == "op" and n.value == op:
            stack.extend(reversed(n.args))
        else:
            order.append(n)
    parts = [compile_node(n, scope) for n in order]
    return tuple(parts)


def _compile_var(name: str, scope: Scope) -> Compiled:
    """A lookup in the entity the registry gives the name (household, member or enterprise), recording the fact
    as missing when the profile has no value; a derived variable runs its formula, memoised per profile."""
    entity = scope.entity_of.get(name, "household")
    derived = scope.derived

    if name in scope.derived_names:
        key = f"@{name}"  # memo in the member's (or household's) dict: one value per profile and day

        def derived_var(env: Env) -> Value:
            holder = env.member if entity == "member" else env.memo
            if holder is None:
                return None
            if env.explain:  # the comparisons inside are wanted again
                return derived[name](env)
            found = holder.get(key)
            if found is None:
                mark = len(env.missing)
                value = derived[name](env)
                holder[key] = (value, tuple(env.missing[mark:]) if value is None else ())
                return value
            if found[0] is None:
                env.missing.extend(found[1])
            return found[0]

        return derived_var
    if entity == "member":
        fact = f"member.{name}"

        def member_var(env: Env) -> Value:
            m = env.member
            if m is None:
                return None
            v = m.get(name)
            if v is None:
                env.missing.append(fact)
            return v

        return member_var
    if entity == "enterprise":
        efact = f"enterprise.{name}"

        def enterprise_var(env: Env) -> Value:
            e = env.enterprise
            v = None if e is None else e.get(name)
            if v is None:
                env.missing.append(efact)
            return v

        return enterprise_var

    def household_var(env: Env) -> Value:
        v = env.household.get(name)
        if v is None:
            env.missing.append(name)
        return v

    return household_var
