"""The condition and amount language of a welfare pack: parsed by hand, compiled once to closures, never eval'd.

Grammar (precedence from low to high)::

    expr  := or
    or    := and ("or" and)*
    and   := not ("and" not)*
    not   := "not" not | cmp
    cmp   := sum (("<" | "<=" | ">" | ">=" | "==" | "!=" | "in" | "not in") sum)?
    sum   := term (("+" | "-") term)*
    term  := unary (("*" | "/") unary)*
    unary := "-" unary | atom
    atom  := NUMBER | STRING | "true" | "false" | "[" items "]" | "(" expr ")"
           | NAME | param.NAME.NAME... | FUNC "(" args ")"

Values are three-valued: ``None`` is *unknown*. ``and``/``or``/``all``/``any`` follow Kleene's logic (a fail
decides ``and`` even when other parts are unknown; a pass decides ``or``); a comparison or arithmetic with an
unknown operand is unknown. A variable missing from the profile is unknown and is recorded in
``Env.missing``; nothing missing ever becomes a pass or a fail.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 32
MAX_LENGTH = 2_000

Value = Any  # bool | float | int | str | list | None (unknown)


class ExprError(ValueError):
    """A malformed expression: the message says where."""


# ---------------------------------------------------------------- AST


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
MEMBER_FUNCTIONS = frozenset({"any_member", "all_members", "count_members", "sum_members"})
COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!=", "in", "not in"})

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>\"[^\"\\]*\")|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)"
    r"|(?P<op><=|>=|==|!=|[<>+\-*/(),\[\]]))"
)


def tokenize(text: str) -> list[tuple[str, str, int]]:
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ExprError(f"unexpected character {text[pos:].lstrip()[:1]!r} at position {pos}")
        kind = m.lastgroup
        assert kind is not None
        tokens.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def at(self, *values: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] in ("op", "name") and tok[1] in values

    def take(self, value: str) -> None:
        tok = self.peek()
        if tok is None or tok[1] != value:
            where = f"at position {tok[2]}" if tok else "at the end"
            raise ExprError(f"expected {value!r} {where}")
        self.i += 1

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_DEPTH}")

    def parse(self) -> Node:
        if not self.tokens:
            raise ExprError("empty expression")
        node = self.or_()
        tok = self.peek()
        if tok is not None:
            raise ExprError(f"unexpected {tok[1]!r} at position {tok[2]}")
        return node

    def or_(self) -> Node:
        self.enter()
        parts = [self.and_()]
        while self.at("or"):
            self.i += 1
            parts.append(self.and_())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else Node("op", "or", tuple(parts))

    def and_(self) -> Node:
        parts = [self.not_()]
        while self.at("and"):
            self.i += 1
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else Node("op", "and", tuple(parts))

    def not_(self) -> Node:
        if self.at("not"):
            self.i += 1
            self.enter()
            node = Node("not", None, (self.not_(),))
            self.depth -= 1
            return node
        return self.cmp()

    def cmp(self) -> Node:
        left = self.sum_()
        tok = self.peek()
        if tok is not None and tok[1] in ("<", "<=", ">", ">=", "==", "!=", "in"):
            self.i += 1
            return Node("op", tok[1], (left, self.sum_()))
        if self.at("not") and self.i + 1 < len(self.tokens) and self.tokens[self.i + 1][1] == "in":
            self.i += 2
            return Node("op", "not in", (left, self.sum_()))
        return left

    def sum_(self) -> Node:
        node = self.term()
        while self.at("+", "-"):
            op = self.tokens[self.i][1]
            self.i += 1
            node = Node("op", op, (node, self.term()))
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at("*", "/"):
            op = self.tokens[self.i][1]
            self.i += 1
            node = Node("op", op, (node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.at("-"):
            self.i += 1
            self.enter()
            node = Node("neg", None, (self.unary(),))
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise ExprError("expression ends too early")
        kind, text, pos = tok
        self.i += 1
        if kind == "num":
            return Node("num", float(text) if "." in text else int(text))
        if kind == "str":
            return Node("str", text[1:-1])
        if kind == "op" and text == "(":
            self.enter()
            node = self.or_()
            self.depth -= 1
            self.take(")")
            return node
        if kind == "op" and text == "[":
            self.enter()
            items: list[Node] = []
            while not self.at("]"):
                items.append(self.atom())
                if not self.at("]"):
                    self.take(",")
            self.take("]")
            self.depth -= 1
            if any(item.kind not in ("num", "str") for item in items):
                raise ExprError(f"a list holds numbers or strings only (at position {pos})")
            return Node("list", tuple(item.value for item in items))
        if kind != "name":
            raise ExprError(f"unexpected {text!r} at position {pos}")
        if text in ("true", "false"):
            return Node("bool", text == "true")
        if text in ("and", "or", "not", "in"):
            raise ExprError(f"unexpected {text!r} at position {pos}")
        if text.startswith("param."):
            return Node("param", text[len("param.") :])
        if self.at("("):
            if text not in FUNCTIONS:
                raise ExprError(f"unknown function {text!r} at position {pos}")
            self.i += 1
            self.enter()
            args: list[Node] = []
            while not self.at(")"):
                args.append(self.or_())
                if self.at(","):
                    self.i += 1
                elif not self.at(")"):
                    self.take(")")
            self.take(")")
            self.depth -= 1
            low, high = FUNCTIONS[text]
            if len(args) < low or (high >= 0 and len(args) > high):
                raise ExprError(f"{text}() takes {low if low == high else f'{low} or more'} arguments, not {len(args)}")
            return Node("call", text, tuple(args))
        if "." in text:
            raise ExprError(f"unknown name {text!r} at position {pos} (parameters are written param.NAME)")
        return Node("var", text)


def parse(text: str) -> Node:
    if not isinstance(text, str):
        raise ExprError("an expression must be a string")
    node = _Parser(text).parse()
    # The tree's own depth too (a chain "1 + 1 + 1 ..." nests without any parenthesis): compiling and
    # rendering recurse over it.
    stack = [(node, 1)]
    while stack:
        n, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_DEPTH}")
        stack.extend((a, depth + 1) for a in n.args)
    return node


def names(node: Node, *, in_member: bool = False) -> list[tuple[str, str, bool]]:
    """Every (kind, name, inside a member quantifier) the expression refers to: kind is var, param or call."""
    out: list[tuple[str, str, bool]] = []
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


# ---------------------------------------------------------------- evaluation


@dataclass(slots=True)
class Comparison:
    """A comparison that failed: what was compared with what, for "why not"."""

    text: str
    op: str
    value: Value
    limit: Value

    @property
    def gap(self) -> float | None:
        a, b = self.value, self.limit
        numbers = isinstance(a, int | float) and isinstance(b, int | float)
        if numbers and not isinstance(a, bool) and not isinstance(b, bool):
            return round(abs(b - a), 2)
        return None


@dataclass(slots=True)
class Env:
    household: dict[str, Any]
    members: list[dict[str, Any]] | None
    enterprise: dict[str, Any] | None
    params: dict[str, Any]
    member: dict[str, Any] | None = None
    # Facts looked for and not found, in order (may repeat); a decided and/or/quantifier drops what its
    # undecided parts added, so that only facts that could change the answer are asked.
    missing: list[str] = field(default_factory=list)
    failed: Comparison | None = None
    memo: dict[str, Any] = field(default_factory=dict)  # derived household and enterprise values
    explain: bool = False  # record the closest failed comparison (slower; for the failed conditions only)


Compiled = Callable[[Env], Value]


@dataclass(frozen=True, slots=True)
class Scope:
    """What names mean when compiling: entity of each variable, derived formulas, the incomes that count."""

    entity_of: dict[str, str]  # variable -> household | member | enterprise
    derived_names: frozenset[str]
    derived: dict[str, Compiled]  # derived variable -> compiled formula (filled after compiling, read at run time)
    income_kinds: tuple[str, ...] = ()


def _kleene_and(parts: tuple[Compiled, ...]) -> Compiled:
    def run(env: Env) -> Value:
        mark = len(env.missing)
        unknown = False
        for part in parts:
            v = part(env)
            if v is None:
                unknown = True
            elif not v:
                del env.missing[mark:]
                return False
        return None if unknown else True

    return run


def _kleene_or(parts: tuple[Compiled, ...]) -> Compiled:
    def run(env: Env) -> Value:
        mark = len(env.missing)
        unknown = False
        for part in parts:
            v = part(env)
            if v is None:
                unknown = True
            elif v:
                del env.missing[mark:]
                return True
        return None if unknown else False

    return run


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
    if node.value in ("and", "or"):
        return "(" + f" {node.value} ".join(render(a) for a in node.args) + ")"
    left, right = node.args
    return f"({render(left)} {node.value} {render(right)})"


def compile_node(node: Node, scope: Scope) -> Compiled:
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
        return _compile_call(node, scope)
    op = node.value
    if op == "and":
        return _kleene_and(_flatten(node, "and", scope))
    if op == "or":
        return _kleene_or(_flatten(node, "or", scope))
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


def _flatten(node: Node, op: str, scope: Scope) -> tuple[Compiled, ...]:
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


def _members(env: Env) -> list[dict[str, Any]] | None:
    """The members, or None (unknown, asked) when the profile gives none."""
    if not env.members:
        env.missing.append("members")
        return None
    return env.members


def _compile_call(node: Node, scope: Scope) -> Compiled:
    fname = node.value
    args = tuple(compile_node(a, scope) for a in node.args)
    if fname == "all":
        return _kleene_and(args)
    if fname == "any":
        return _kleene_or(args)
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
