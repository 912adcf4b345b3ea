"""Dated parameters (parameters/*.yaml): a standard or a rate that changes over time, each value with the date it
applies from and the document that sets it, so an answer can say which figure it used and where it comes from.
"""

from __future__ import annotations

from pathlib import Path

from miniapp_api.welfare.pack.model import Parameter
from miniapp_api.welfare.pack.reading import number_problem, parse_date, parse_source, read, unsafe_folder


def load_parameters(root: Path, problems: list[str]) -> dict[str, Parameter]:
    """Every parameter of parameters/*.yaml, its values sorted by start date."""
    parameters: dict[str, Parameter] = {}
    linked = unsafe_folder(root / "parameters", "parameters/")
    if linked is not None:
        problems.append(linked)
        return parameters
    for path in sorted((root / "parameters").glob("*.yaml")):
        raw = read(path, root, problems)
        rel = str(path.relative_to(root))
        if raw is None:
            continue
        if not isinstance(raw, dict):
            problems.append(f"{rel}: expected a mapping of parameter names")
            continue
        for name, spec in raw.items():
            where = f"{rel}: {name}"
            if not isinstance(spec, dict) or not isinstance(spec.get("values"), list) or not spec["values"]:
                problems.append(f"{where}: a parameter needs a list of dated values")
                continue
            if name in parameters:
                problems.append(f"{where}: defined twice")
                continue
            rows = []
            for row in spec["values"]:
                start = parse_date(row.get("from")) if isinstance(row, dict) else None
                if start is None:
                    problems.append(f"{where}: each value needs a 'from' date (YYYY-MM-DD, 1900 to 2100)")
                    continue
                value = row.get("value")
                if value is not None and not isinstance(value, int | float | str):
                    problems.append(f"{where}: the value from {start} is not a number or text")
                    continue
                wrong = number_problem(value)
                if wrong is not None:
                    problems.append(f"{where}: the value from {start} {wrong}")
                    continue
                source = parse_source(row.get("source"))
                if source is None:
                    problems.append(f"{where}: the value from {start} has no source (title and url)")
                    continue
                rows.append((start, value, source))
            rows.sort(key=lambda r: r[0])
            parameters[name] = Parameter(
                name=name,
                label=str(spec.get("label") or name),
                unit=str(spec.get("unit") or ""),
                starts=[r[0] for r in rows],
                values=[r[1] for r in rows],
                sources=[r[2] for r in rows],
            )
    return parameters
