"""The 1+6+31+N hierarchy: district, streets, communities, grids.

Loaded from a JSON file (``{"nodes": [{code, name, level, parent}]}``, parents before children
or not: the loader orders them) or a CSV with the same columns. Loading is idempotent: a node is
found by its code and updated. Each node keeps its ``path`` of codes from the root (``/GM/GM01/``),
so "everything under this node" is one indexed prefix match.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from identity.models import Node
from identity.roles import LEVEL_ORDER, NodeLevel

DEMO_FILE = "hierarchy-demo.json"


class HierarchyError(ValueError):
    pass


@dataclass(frozen=True)
class NodeSpec:
    code: str
    name: str
    level: NodeLevel
    parent: str | None


@dataclass(frozen=True)
class LoadResult:
    created: int
    updated: int
    unchanged: int


def demo_file() -> Path:
    return Path(str(resources.files("identity") / "data" / DEMO_FILE))


def read_specs(path: Path) -> list[NodeSpec]:
    rows: list[dict[str, Any]]
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    else:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rows = doc["nodes"] if isinstance(doc, dict) else doc
    specs = []
    for number, row in enumerate(rows, start=1):
        try:
            code = str(row["code"]).strip()
            name = str(row["name"]).strip()
            level = NodeLevel(str(row["level"]).strip())
            parent = (str(row.get("parent") or "").strip()) or None
        except (KeyError, ValueError) as exc:
            raise HierarchyError(f"row {number}: {exc}") from None
        if not code or not name or len(code) > 32 or "/" in code:
            raise HierarchyError(f"row {number}: code and name are required; codes have at most 32 characters")
        specs.append(NodeSpec(code, name, level, parent))
    return order_specs(specs)


def order_specs(specs: list[NodeSpec]) -> list[NodeSpec]:
    """Check the tree's shape and return parents before children."""
    by_code: dict[str, NodeSpec] = {}
    for spec in specs:
        if spec.code in by_code:
            raise HierarchyError(f"node {spec.code} appears twice")
        by_code[spec.code] = spec
    roots = [s for s in specs if s.parent is None]
    if len(roots) != 1 or roots[0].level is not NodeLevel.DISTRICT:
        raise HierarchyError("the hierarchy needs exactly one root, of level district")
    for spec in specs:
        if spec.parent is None:
            continue
        parent = by_code.get(spec.parent)
        if parent is None:
            raise HierarchyError(f"node {spec.code}: parent {spec.parent} is not in the file")
        if LEVEL_ORDER.index(spec.level) != LEVEL_ORDER.index(parent.level) + 1:
            raise HierarchyError(f"node {spec.code}: a {spec.level} cannot sit under a {parent.level}")
    ordered: list[NodeSpec] = []
    for level in LEVEL_ORDER:
        ordered.extend(s for s in specs if s.level is level)
    return ordered


async def load(specs: list[NodeSpec]) -> LoadResult:
    created = updated = unchanged = 0
    async with in_transaction() as conn:
        existing = {n.code: n for n in await Node.all().using_db(conn)}
        for spec in specs:
            parent = existing.get(spec.parent) if spec.parent else None
            path = f"{parent.path if parent else '/'}{spec.code}/"
            node = existing.get(spec.code)
            if node is None:
                node = await Node.create(
                    code=spec.code, name=spec.name, level=spec.level, parent=parent, path=path, using_db=conn
                )
                existing[spec.code] = node
                created += 1
            elif (node.name, node.level, node.parent_id, node.path) != (  # type: ignore[attr-defined]
                spec.name,
                spec.level,
                parent.id if parent else None,
                path,
            ):
                if node.path != path:
                    raise HierarchyError(f"node {spec.code} would move to another parent; move it by hand")
                node.name, node.level = spec.name, spec.level
                await node.save(using_db=conn)
                updated += 1
            else:
                unchanged += 1
    return LoadResult(created, updated, unchanged)


async def load_file(path: Path) -> LoadResult:
    return await load(read_specs(path))


async def get_by_code(code: str) -> Node | None:
    if not 0 < len(code) <= 32:  # longer than any code: Tortoise would refuse the query itself
        return None
    return await Node.get_or_none(code=code)


async def list_nodes(*, under: str | None = None, level: NodeLevel | None = None, limit: int = 1000) -> list[Node]:
    query = Node.all()
    if under is not None:
        root = await get_by_code(under)
        if root is None:
            return []
        query = query.filter(path__startswith=root.path)
    if level is not None:
        query = query.filter(level=level)
    return await query.order_by("path").limit(limit)


def common_path(paths: list[str | None]) -> str:
    """The deepest node holding every path (``/GM/GM01/`` for two communities of GM01); "" for no
    paths, or when one of them is unknown."""
    split = [[part for part in (path or "").split("/") if part] for path in paths]
    if not split or any(not parts for parts in split):
        return ""
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/" + "/".join(common) + "/" if common else ""
