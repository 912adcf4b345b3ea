"""An amount's formula written out with the values it used, in Chinese, for the answer's "how much and why":
"(低保标准 1,483 − 人均月收入 800) × 家庭人数 3".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from miniapp_api.welfare import expr
from miniapp_api.welfare.pack.model import Parameter, Variable

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


def describer(
    node: expr.Node, scope: expr.Scope, pack_vars: dict[str, Variable], params: dict[str, Parameter]
) -> Callable[[expr.Env], str]:
    """A closure that writes an amount formula with the values it used:
    "(低保标准 1,483 − 人均月收入 800) × 家庭人数 3"."""
    if node.kind == "op" and node.value in _OP_SIGNS:
        left = describer(node.args[0], scope, pack_vars, params)
        right = describer(node.args[1], scope, pack_vars, params)
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
