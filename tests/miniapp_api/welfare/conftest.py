"""Welfare API tests: each test's database starts without loaded packs, so the served pack is re-read."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from miniapp_api.welfare import pack, versions


@pytest.fixture(autouse=True)
def fresh_served_pack() -> Iterator[None]:
    versions.forget()
    yield
    versions.forget()


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    """A copy of the shipped pack, to change and load."""
    root = tmp_path / "pack"
    root.mkdir()
    shutil.copy(pack.SHIPPED / "variables.yaml", root / "variables.yaml")
    shutil.copytree(pack.SHIPPED / "parameters", root / "parameters")
    shutil.copytree(pack.SHIPPED / "policies", root / "policies")
    return root
