"""The built-in functions of the language, compiled: ``all``/``any`` (Kleene, as and/or), the member quantifiers
``any_member``/``all_members``/``count_members``/``sum_members``, ``household_size``, ``income_per_head``, ``if``,
``min``/``max`` and ``floor``.

Each takes its arguments already compiled, so this module needs nothing from the compiler (and the compiler
imports it without a cycle). The argument counts are checked by the parser (nodes.FUNCTIONS).
"""

from __future__ import annotations

import math
from typing import Any

from miniapp_api.welfare.expr.logic import kleene_and, kleene_or
from miniapp_api.welfare.expr.runtime import Compiled, Env, Scope, Value


def _members(env: Env) -> list[dict[str, Any]] | None:
    """The members, or None (unknown, asked) when the profile gives none."""
    if not env.members:
        env.missing.append("members")
        return None
    return env.members


def compile_call(fname: str, args: tuple[Compiled, ...], scope: Scope) -> Compiled:
    """The closure for ``fname(args...)``; ``args`` are the compiled arguments, in order."""
    if fname == "all":
        return kleene_and(args)
    if fname == "any":
        return kleene_or(args)
    if fname in ("any_member", "all_members", "count_members", "sum_members"):
        cond = args[0]
        value = args[1] if fname == "sum_members" else None

        def over_members(env: Env) -> Value:
            members = _members(env)
            if members is None:
                return None
            mark = len(env.missing)
            outer = env.member
            passed = 0
            total = 0.0
            unknown = False
            try:
                for m in members:
                    env.member = m
                    v = cond(env)
                    if v is None:
                        unknown = True
                        if fname == "all_members" or fname == "any_member":
                            continue
                    elif v:
                        passed += 1
                        if fname == "any_member":
                            del env.missing[mark:]
                            return True
                        if value is not None:
                            x = value(env)
                            if x is None:
                                unknown = True
                            else:
                                total += x
                    elif fname == "all_members":
                        del env.missing[mark:]
                        return False
            finally:
                env.member = outer
            if unknown:
                return None
            if fname == "any_member":
                return False
            if fname == "all_members":
                return True
            if fname == "count_members":
                return passed
            return total

        return over_members
    if fname == "household_size":

        def household_size(env: Env) -> Value:
            members = _members(env)
            return None if members is None else len(members)

        return household_size
    if fname == "income_per_head":
        kinds = scope.income_kinds

        memo_key = "@income:" + ",".join(kinds)

        def income_per_head(env: Env) -> Value:
            found = env.memo.get(memo_key)
            if found is not None:
                if found[0] is None:
                    env.missing.extend(found[1])
                return found[0]
            value = _income_per_head(env)
            env.memo[memo_key] = (value, ("members",) if not env.members else ("member.incomes",))
            return value

        def _income_per_head(env: Env) -> Value:
            members = _members(env)
            if not members:  # no one in the household: ask who lives there
                env.missing.append("members")
                return None
            total = 0.0
            unknown = False
            for m in members:
                incomes = m.get("incomes")
                if incomes is None:
                    env.missing.append("member.incomes")
                    unknown = True
                    continue
                for kind in kinds:
                    total += incomes.get(kind, 0) or 0
            return None if unknown else round(total / len(members), 2)

        return income_per_head
    if fname == "if":
        cond, then, else_ = args

        def if_(env: Env) -> Value:
            c = cond(env)
            if c is None:
                return None
            return then(env) if c else else_(env)

        return if_
    if fname in ("min", "max"):
        pick = min if fname == "min" else max

        def minmax(env: Env) -> Value:
            values = [a(env) for a in args]
            if any(v is None for v in values):
                return None
            return pick(values)

        return minmax
    (inner,) = args

    def floor(env: Env) -> Value:
        v = inner(env)
        return None if v is None else math.floor(v)

    return floor
