"""The 1+6+31+N hierarchy: district, streets, communities, grids.

Loaded from a JSON file (``{"nodes": [{code, name, level, parent, division_code}]}``, parents before
children or not: the loader orders them) or a CSV with the same columns (``division_code`` optional).
Loading is idempotent: a node is found by its code and updated. Each node keeps its ``path`` of
codes from the root (``/GM/GM01/``), so "everything under this node" is one indexed prefix match.

Two files ship: Guangming District's official hierarchy (the district, 6 streets and 31 communities
with their official codes, ``hierarchy-guangming.json``), which ``gmid migrate`` loads into an empty
hierarchy, and the demo file (the same nodes and 4 illustrative grids per community) for
``gmid seed-demo`` and the tests.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from identity.models import Node
from identity.roles import LEVEL_ORDER, NodeLevel

DEMO_FILE = "hierarchy-demo.json"
OFFICIAL_FILE = "hierarchy-guangming.json"

# GB/T 2260 (6 digits, county level and above) or the statistical division code (12 digits:
# province 2, prefecture 2, county 2, township 3, village 3).
DIVISION_CODE = re.compile(r"^(?:[0-9]{6}|[0-9]{12})$")
_DIVISION_SEGMENTS = (2, 2, 2, 3, 3)


class HierarchyError(ValueError):
    pass


def code_of(path: str) -> str:
    """The node's own code, the last of its path: "/GM/GM01/GM0101/" -> "GM0101"."""
    return path.strip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class NodeSpec:
    code: str
    name: str
    level: NodeLevel
    parent: str | None
    # None: the file does not say (an existing node keeps the code it has).
    division_code: str | None = None


@dataclass(frozen=True)
class LoadResult:
    created: int
    updated: int
    unchanged: int


def demo_file() -> Path:
    return Path(str(resources.files("identity") / "data" / DEMO_FILE))


def official_file() -> Path:
    """Guangming District's district, streets and communities with their official codes."""
    return Path(str(resources.files("identity") / "data" / OFFICIAL_FILE))


def read_specs(path: Path) -> list[NodeSpec]:
    rows: list[dict[str, Any]]
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    else:
        doc = json.loads(path.read_text(encoding="utf-8"))
        listed = doc.get("nodes") if isinstance(doc, dict) else doc
        if not isinstance(listed, list):
            raise HierarchyError('a JSON hierarchy is {"nodes": [...]} or a list of nodes')
        rows = listed
    specs = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise HierarchyError(f"row {number}: a node is an object with code, name, level and parent")
        try:
            code = str(row["code"]).strip()
            name = str(row["name"]).strip()
            level = NodeLevel(str(row["level"]).strip())
            parent = (str(row.get("parent") or "").strip()) or None
            division_code = (str(row.get("division_code") or "").strip()) or None
        except (KeyError, ValueError) as exc:
            raise HierarchyError(f"row {number}: {exc}") from None
        if not code or not name or len(code) > 32 or "/" in code:
            raise HierarchyError(f"row {number}: code and name are required; codes have at most 32 characters")
        if len(name) > 64:
            raise HierarchyError(f"row {number}: names have at most 64 characters")
        if division_code is not None and not DIVISION_CODE.match(division_code):
            raise HierarchyError(f"row {number}: a division code has 6 digits (GB/T 2260) or 12 (统计用区划代码)")
        specs.append(NodeSpec(code, name, level, parent, division_code))
    return order_specs(specs)


def _padded(division_code: str) -> str:
    return division_code.ljust(12, "0")


def _division_prefix(division_code: str) -> str:
    """The digits that every division inside this one starts with: ``440311001000`` -> ``440311001``."""
    padded = _padded(division_code)
    end = 0
    start = 0
    for width in _DIVISION_SEGMENTS:
        if padded[start : start + width].strip("0"):
            end = start + width
        start += width
    return padded[:end]


def _within(child: str, parent: str) -> bool:
    child_padded, parent_padded = _padded(child), _padded(parent)
    return child_padded != parent_padded and child_padded.startswith(_division_prefix(parent))


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
        if spec.division_code and parent.division_code and not _within(spec.division_code, parent.division_code):
            raise HierarchyError(
                f"node {spec.code}: division code {spec.division_code} is not inside "
                f"its parent's {parent.division_code}"
            )
    owners: dict[str, str] = {}
    for spec in specs:
        if spec.division_code is None:
            continue
        key = _padded(spec.division_code)
        if key in owners:
            raise HierarchyError(f"division code {spec.division_code} is given to both {owners[key]} and {spec.code}")
        owners[key] = spec.code
    ordered: list[NodeSpec] = []
    for level in LEVEL_ORDER:
        ordered.extend(s for s in specs if s.level is level)
    return ordered


async def load(specs: list[NodeSpec]) -> LoadResult:
    created = updated = unchanged = 0
    async with in_transaction() as conn:
        existing = {n.code: n for n in await Node.all().using_db(conn)}
        # By the 12-digit form: 440311 and 440311000000 are the same division.
        division_owner = {_padded(n.division_code): n.code for n in existing.values() if n.division_code}
        for spec in specs:
            owner = division_owner.get(_padded(spec.division_code)) if spec.division_code else None
            if owner is not None and owner != spec.code:
                raise HierarchyError(f"division code {spec.division_code} already belongs to node {owner}")
            parent = existing.get(spec.parent) if spec.parent else None
            path = f"{parent.path if parent else '/'}{spec.code}/"
            node = existing.get(spec.code)
            if node is None:
                node = await Node.create(
                    code=spec.code,
                    name=spec.name,
                    level=spec.level,
                    parent=parent,
                    path=path,
                    division_code=spec.division_code,
                    using_db=conn,
                )
                existing[spec.code] = node
                if spec.division_code:
                    division_owner[_padded(spec.division_code)] = spec.code
                created += 1
                continue
            division_code = spec.division_code if spec.division_code is not None else node.division_code
            if (node.name, node.level, node.parent_id, node.path, node.division_code) != (  # type: ignore[attr-defined]
                spec.name,
                spec.level,
                parent.id if parent else None,
                path,
                division_code,
            ):
                if node.path != path:
                    raise HierarchyError(f"node {spec.code} would move to another parent; move it by hand")
                if node.division_code:
                    division_owner.pop(_padded(node.division_code), None)
                node.name, node.level, node.division_code = spec.name, spec.level, division_code
                await node.save(using_db=conn)
                updated += 1
            else:
                unchanged += 1
            if division_code:
                division_owner[_padded(division_code)] = spec.code
    return LoadResult(created, updated, unchanged)


async def load_file(path: Path) -> LoadResult:
    return await load(read_specs(path))


async def load_official_if_empty() -> LoadResult | None:
    """First start: load Guangming's official hierarchy when there is no node at all.

    Any existing hierarchy (the demo's, a customised or another district's) is left exactly as it
    is: None then. Two first starts at once: the one that loses the race finds the nodes there."""
    if await Node.exists():
        return None
    specs = read_specs(official_file())
    try:
        return await load(specs)
    except IntegrityError:
        if await Node.exists():
            return None
        raise


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
