"""Tokens -> syntax tree: a hand-written recursive-descent parser, one method per grammar rule (see the package
docstring for the grammar, lowest precedence first).

Hand-written rather than a parser generator or Python's own ``ast``: the language is small, error messages can
name the position, and nothing a pack author writes can ever reach ``eval``.
"""

from __future__ import annotations

from miniapp_api.welfare.expr.lexer import tokenize
from miniapp_api.welfare.expr.nodes import FUNCTIONS, MAX_DEPTH, ExprError, Node


class _Parser:
    """One instance per expression; ``depth`` counts nesting as it parses, so a hostile expression fails with
    a message instead of exhausting Python's stack."""

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
    """The syntax tree of ``text``; raises ``ExprError`` saying what is wrong and where."""
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
