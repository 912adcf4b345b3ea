"""Expression text -> tokens: numbers, "double-quoted strings", names (dotted for ``param.x.y``) and operators.

One regular expression, anchored at each position: anything it does not match is an error naming the character
and where it is, so a pack author sees the mistake rather than a parse error further on.
"""

from __future__ import annotations

import re

from miniapp_api.welfare.expr.nodes import MAX_LENGTH, ExprError

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>\"[^\"\\]*\")|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)"
    r"|(?P<op><=|>=|==|!=|[<>+\-*/(),\[\]]))"
)


def tokenize(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, position) for each token; kind is num, str, name or op."""
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
