"""What a loaded pack is made of: the registry's variables, dated parameters, policies with their compiled
conditions and amount, and the ``Pack`` that holds them. Plain data, no loading: the other modules fill it in.

The allowed values of the registry's and the policies' enumerations (entity, type, target, period) live here too,
since the linter's messages and the API's answers both quote them.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from miniapp_api.welfare import expr

ENTITIES = ("household", "member", "enterprise")
TYPES = ("int", "number", "bool", "str", "list", "mapping", "date")
TARGETS = ("person", "household", "enterprise")
PERIODS = {"monthly": "月", "yearly": "年", "one_off": "次"}
# Facts every profile has a place for, whatever the registry says.
BUILTIN_FACTS = {"members": "家里一共有哪些成员（关系、年龄或出生日期）？"}


class PackError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    url: str


@dataclass(slots=True)
class Variable:
    name: str
    type: str
    entity: str
    label: str
    question: str
    unit: str = ""
    formula: expr.Node | None = None


@dataclass(slots=True)
class Parameter:
    name: str
    label: str
    unit: str
    starts: list[dt.date]
    values: list[Any]  # None: no value from that date on
    sources: list[Source]

    def at(self, day: dt.date) -> tuple[Any, dt.date | None, Source | None]:
        i = bisect.bisect_right(self.starts, day) - 1
        if i < 0:
            return None, None, None
        return self.values[i], self.starts[i], self.sources[i]


@dataclass(slots=True)
class Condition:
    id: str
    label: str
    text: str
    node: expr.Node
    run: expr.Compiled
    exclusion: bool = False
    # What the result depends on besides the profile and the day: the test and the incomes the policy counts.
    # Policies sharing a test (hukou, district, an age band) are evaluated once per screening under this key.
    key: Hashable = ()  # the pack loader numbers the keys (the same number for the same test)


@dataclass(slots=True)
class Amount:
    formula: expr.Node
    run: expr.Compiled
    describe: Callable[[expr.Env], str]
    period: str
    months: expr.Compiled | None = None
    months_text: str | None = None
    months_formula: expr.Node | None = None
    note: str = ""
    key: Hashable = ()  # as Condition.key: formula, months formula, counted incomes


@dataclass(slots=True)
class Policy:
    id: str
    name: str
    issuer: str
    legal_basis: dict[str, str]
    sources: list[Source]
    effective_from: dt.date
    effective_until: dt.date | None
    target: str
    summary: str
    conditions: list[Condition]
    not_with: list[str]
    income_counts: tuple[str, ...]
    amount: Amount | None
    documents: list[str]
    channel: str
    no_application: bool
    params: frozenset[str]
    path: str

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)


@dataclass(slots=True)
class Pack:
    variables: dict[str, Variable]
    parameters: dict[str, Parameter]
    policies: dict[str, Policy]
    income_kinds: dict[str, str]
    derived: dict[str, expr.Compiled] = field(default_factory=dict)
    _params_by_day: dict[dt.date, dict[str, Any]] = field(default_factory=dict)

    def params_on(self, day: dt.date) -> dict[str, Any]:
        found = self._params_by_day.get(day)
        if found is None:
            found = {name: p.at(day)[0] for name, p in self.parameters.items()}
            if len(self._params_by_day) > 512:
                self._params_by_day.clear()
            self._params_by_day[day] = found
        return found

    def question(self, fact: str) -> str:
        if fact in BUILTIN_FACTS:
            return BUILTIN_FACTS[fact]
        name = fact.split(".", 1)[1] if "." in fact else fact
        var = self.variables.get(name)
        return var.question if var is not None else fact
