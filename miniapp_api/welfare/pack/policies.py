"""One policy (policies/<file>.yaml), checked and compiled: who issues it and under which document, when it is in
force, whom it targets, its conditions (each compiled to a closure), the policies it cannot be combined with
(turned into conditions too) and its amount.

Every problem is reported, not only the first: the pack author fixes a file in one go.
"""

from __future__ import annotations

import re
from typing import Any

from miniapp_api.welfare import expr
from miniapp_api.welfare.pack.checks import check_names, parameter_gaps, params_used
from miniapp_api.welfare.pack.describe import describer
from miniapp_api.welfare.pack.model import PERIODS, TARGETS, Amount, Condition, Parameter, Policy, Source, Variable
from miniapp_api.welfare.pack.reading import parse_date, parse_source

# Policy ids appear in URLs, saved results and exclusions: short, lower-case, stable.
_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")


def load_policy(
    raw: Any,
    rel: str,
    variables: dict[str, Variable],
    parameters: dict[str, Parameter],
    income_kinds: dict[str, str],
    derived_names: frozenset[str],
    derived: dict[str, expr.Compiled],
    problems: list[str],
    interned: dict[Any, expr.Compiled] | None = None,
) -> Policy | None:
    """The policy in ``raw`` (the YAML of policies/<file>), compiled, or None with its problems added."""
    if not isinstance(raw, dict):
        problems.append(f"{rel}: a policy file holds one mapping")
        return None
    before = len(problems)
    pid = raw.get("id")
    if not isinstance(pid, str) or not _ID.fullmatch(pid):
        problems.append(f"{rel}: id must be lower-case letters, digits and _ (at most 64, a letter first)")
        return None
    where = f"{rel} ({pid})"
    for key in ("name", "issuer", "summary", "channel"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            problems.append(f"{where}: {key} is required")
    basis = raw.get("legal_basis")
    if (
        not isinstance(basis, dict)
        or not str(basis.get("document") or "").strip()
        or not str(basis.get("url") or "").strip()
    ):
        problems.append(f"{where}: no source: legal_basis needs a document (number or title) and a url")
        basis = {}
    raw_sources = raw.get("sources") or []
    if not isinstance(raw_sources, list):
        problems.append(f"{where}: sources must be a list of {{title, url}}")
        raw_sources = []
    sources = [s for s in (parse_source(r) for r in raw_sources) if s is not None]
    if basis and not sources:
        sources = [Source(str(basis["document"]), str(basis["url"]))]
    start = parse_date(raw.get("effective_from"))
    until = parse_date(raw.get("effective_until")) if raw.get("effective_until") is not None else None
    if start is None:
        problems.append(f"{where}: effective_from must be a date (YYYY-MM-DD, 1900 to 2100)")
    if raw.get("effective_until") is not None and until is None:
        problems.append(f"{where}: effective_until must be a date (YYYY-MM-DD, 1900 to 2100)")
    if start and until and until < start:
        problems.append(f"{where}: effective_until is before effective_from")
    target = raw.get("target")
    if target not in TARGETS:
        problems.append(f"{where}: target must be one of {', '.join(TARGETS)}")
    counts = raw.get("income_counts") or []
    if not isinstance(counts, list) or any(not isinstance(k, str) or k not in income_kinds for k in counts):
        unknown = (
            [k for k in counts if not isinstance(k, str) or k not in income_kinds]
            if isinstance(counts, list)
            else counts
        )
        problems.append(f"{where}: unknown income kinds in income_counts: {unknown}")
        counts = []
    scope = expr.Scope(
        entity_of={n: v.entity for n, v in variables.items()},
        derived_names=derived_names,
        derived=derived,
        income_kinds=tuple(counts),
        interned={} if interned is None else interned,
    )
    conditions: list[Condition] = []
    used_params: set[str] = set()
    raw_conditions = raw.get("conditions")
    if not isinstance(raw_conditions, list) or not raw_conditions:
        problems.append(f"{where}: conditions must be a non-empty list")
        raw_conditions = []
    seen_ids: set[str] = set()
    for i, c in enumerate(raw_conditions):
        if not isinstance(c, dict) or not isinstance(c.get("id"), str) or not isinstance(c.get("label"), str):
            problems.append(f"{where}: condition #{i + 1} needs an id, a Chinese label and a test")
            continue
        cwhere = f"{where}: condition {c['id']}"
        if c["id"] in seen_ids:
            problems.append(f"{cwhere}: duplicate id")
        seen_ids.add(c["id"])
        try:
            node = expr.parse(c.get("test"))  # type: ignore[arg-type]
        except expr.ExprError as exc:
            problems.append(f"{cwhere}: malformed expression: {exc}")
            continue
        check_names(node, cwhere, variables, parameters, problems, in_policy=True)
        used_params |= params_used(node, variables)
        if len(problems) == before:
            conditions.append(
                Condition(
                    c["id"], c["label"], c["test"], node, expr.compile_node(node, scope), key=(node, scope.income_kinds)
                )
            )
    exclusions = raw.get("exclusions") or {}
    not_with = exclusions.get("not_with") or [] if isinstance(exclusions, dict) else []
    if not isinstance(not_with, list) or not all(isinstance(x, str) and _ID.fullmatch(x) for x in not_with):
        problems.append(f"{where}: exclusions.not_with must be a list of policy ids")
        not_with = []
    receiving = "enterprise_receiving" if target == "enterprise" else "receiving"
    if receiving not in variables:
        problems.append(f"{where}: exclusions need the variable {receiving!r} in variables.yaml")
    elif len(problems) == before:
        for other in [pid, *not_with]:
            node = expr.parse(f'"{other}" not in {receiving}')
            label = "目前未在享受本项" if other == pid else f"未在享受「{other}」（不可同时享受）"
            conditions.append(
                Condition(
                    f"not_receiving_{other}",
                    label,
                    expr.render(node),
                    node,
                    expr.compile_node(node, scope),
                    True,
                    key=(node, scope.income_kinds),
                )
            )
    amount = None
    raw_amount = raw.get("amount")
    if raw_amount is not None:
        period = raw_amount.get("period") if isinstance(raw_amount, dict) else None
        if not isinstance(period, str) or period not in PERIODS:
            problems.append(f"{where}: amount needs a formula and a period ({', '.join(PERIODS)})")
        else:
            try:
                node = expr.parse(raw_amount.get("formula"))
                months_node = expr.parse(raw_amount["months"]) if raw_amount.get("months") is not None else None
            except expr.ExprError as exc:
                problems.append(f"{where}: amount: malformed expression: {exc}")
            else:
                check_names(node, f"{where}: amount", variables, parameters, problems, in_policy=True)
                used_params |= params_used(node, variables)
                if months_node is not None:
                    check_names(months_node, f"{where}: amount months", variables, parameters, problems, in_policy=True)
                    used_params |= params_used(months_node, variables)
                if len(problems) == before:
                    amount = Amount(
                        formula=node,
                        run=expr.compile_node(node, scope),
                        describe=describer(node, scope, variables, parameters),
                        period=raw_amount["period"],
                        months=expr.compile_node(months_node, scope) if months_node else None,
                        months_text=expr.render(months_node) if months_node else None,
                        months_formula=months_node,
                        note=str(raw_amount.get("note") or ""),
                        key=(node, months_node, scope.income_kinds),
                    )
    documents = raw.get("documents") or []
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        problems.append(f"{where}: documents must be a list of texts")
    if not isinstance(raw.get("no_application", False), bool):
        problems.append(f"{where}: no_application is true or false")
    # Every parameter must have a value over the whole effective period.
    if start is not None:
        parameter_gaps(where, used_params, parameters, start, until, problems)
    if len(problems) > before:
        return None
    assert start is not None and isinstance(target, str)
    return Policy(
        id=pid,
        name=raw["name"],
        issuer=raw["issuer"],
        legal_basis={k: str(v) for k, v in basis.items()},
        sources=sources,
        effective_from=start,
        effective_until=until,
        target=target,
        summary=raw["summary"],
        conditions=conditions,
        not_with=list(not_with),
        income_counts=tuple(counts),
        amount=amount,
        documents=list(documents),
        channel=raw["channel"],
        no_application=bool(raw.get("no_application", False)),
        params=frozenset(used_params),
        path=rel,
    )
