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

The way through, one module per step (read them in this order)::

    nodes.py      the syntax tree (Node), the language's limits and function table, names() and render()
    lexer.py      text -> tokens
    parser.py     tokens -> Node (recursive descent, depth-limited)
    runtime.py    what compiled code runs against: Env (profile, parameters, missing facts), Scope, Comparison
    logic.py      three-valued (Kleene) and/or, shared by the operators and all()/any()
    compiler.py   Node -> closure: literals, names, operators, comparisons
    functions.py  the built-in functions: member quantifiers, household_size, income_per_head, if, min/max, floor

Everything a caller needs is importable from here (``from miniapp_api.welfare import expr``; ``expr.parse``,
``expr.compile_node``, ``expr.Env`` ...); the modules above are the layout, not the interface.
"""

from miniapp_api.welfare.expr.compiler import compile_node
from miniapp_api.welfare.expr.lexer import tokenize
from miniapp_api.welfare.expr.nodes import (
    COMPARISONS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    MEMBER_FUNCTIONS,
    ExprError,
    Node,
    Value,
    names,
    render,
)
from miniapp_api.welfare.expr.parser import parse
from miniapp_api.welfare.expr.runtime import Comparison, Compiled, Env, Scope

__all__ = [
    "COMPARISONS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MEMBER_FUNCTIONS",
    "Comparison",
    "Compiled",
    "Env",
    "ExprError",
    "Node",
    "Scope",
    "Value",
    "compile_node",
    "names",
    "parse",
    "render",
    "tokenize",
]
