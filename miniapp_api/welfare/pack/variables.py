"""The variable registry (variables.yaml): each fact a profile can hold (type, entity, label, the question that
asks for it) or a derived variable's formula, and the check that derived variables do not depend on themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

from miniapp_api.welfare import expr
from miniapp_api.welfare.pack.model import ENTITIES, TYPES, Variable
from miniapp_api.welfare.pack.reading import read


def load_variables(root: Path, problems: list[str]) -> tuple[dict[str, Variable], dict[str, str]]:
    """The registry's variables and income kinds (kind -> Chinese name) from variables.yaml."""
    raw = read(root / "variables.yaml", root, problems) if os.path.lexists(root / "variables.yaml") else None
    if raw is None:
        if not (root / "variables.yaml").exists():
            problems.append("variables.yaml: missing (the registry of variables)")
        return {}, {}
    if not isinstance(raw, dict) or not isinstance(raw.get("variables"), dict):
        problems.append("variables.yaml: expected a mapping with 'variables' (and 'income_kinds')")
        return {}, {}
    kinds = raw.get("income_kinds") or {}
    if not isinstance(kinds, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in kinds.items()):
        problems.append("variables.yaml: income_kinds must map a kind to its Chinese name")
        kinds = {}
    variables: dict[str, Variable] = {}
    for name, spec in raw["variables"].items():
        where = f"variables.yaml: {name}"
        if not isinstance(name, str) or not name.isidentifier() or not isinstance(spec, dict):
            problems.append(f"{where}: a variable is a name and a mapping")
            continue
        vtype, entity = spec.get("type"), spec.get("entity")
        if vtype not in TYPES:
            problems.append(f"{where}: type must be one of {', '.join(TYPES)}")
            continue
        if entity not in ENTITIES:
            problems.append(f"{where}: entity must be one of {', '.join(ENTITIES)}")
            continue
        formula = None
        if "formula" in spec:
            try:
                formula = expr.parse(spec["formula"])
            except expr.ExprError as exc:
                problems.append(f"{where}: malformed formula: {exc}")
                continue
        question = spec.get("question")
        if formula is None and not (isinstance(question, str) and question.strip()):
            problems.append(f"{where}: an input variable needs its Chinese question")
            continue
        variables[name] = Variable(
            name=name,
            type=vtype,
            entity=entity,
            label=str(spec.get("label") or name),
            question=str(question or ""),
            unit=str(spec.get("unit") or ""),
            formula=formula,
        )
    return variables, dict(kinds)


def derived_graph(variables: dict[str, Variable]) -> dict[str, set[str]]:
    """Derived variable -> the variables its formula reads."""
    return {
        name: {n for k, n, _ in expr.names(var.formula) if k == "var" and n in variables}
        for name, var in variables.items()
        if var.formula is not None
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle as a path that ends where it starts (a -> b -> a): a formula that depends on itself never
    finishes, so the linter refuses it."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        path.append(name)
        for nxt in sorted(graph.get(name, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt in graph and state.get(nxt) is None:
                visit(nxt, path)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if state.get(name) is None:
            visit(name, [])
    return found
