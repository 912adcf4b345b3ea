"""What a compiled expression runs against, and what it leaves behind.

``Env`` holds one profile (household, members, enterprise), the parameters of the day, and the run's by-products:
the facts that were missing and (when explaining) the closest failed comparison. ``Scope`` is what the compiler
needs to know about names. ``Compiled`` is the type of every closure the compiler returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from miniapp_api.welfare.expr.nodes import Value


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
    # Whole conditions and amounts already run against this profile and day (engine.py), by their key.
    outcomes: dict[Any, Any] = field(default_factory=dict)
    explain: bool = False  # record the closest failed comparison (slower; for the failed conditions only)


Compiled = Callable[[Env], Value]


@dataclass(frozen=True, slots=True)
class Scope:
    """What names mean when compiling: entity of each variable, derived formulas, the incomes that count."""

    entity_of: dict[str, str]  # variable -> household | member | enterprise
    derived_names: frozenset[str]
    derived: dict[str, Compiled]  # derived variable -> compiled formula (filled after compiling, read at run time)
    income_kinds: tuple[str, ...] = ()
    # Member quantifiers compiled so far in the pack, by (syntax tree, counted incomes): the same quantifier in
    # two policies is one closure, whose result a screening keeps (compiler.py).
    interned: dict[Any, Compiled] = field(default_factory=dict)
