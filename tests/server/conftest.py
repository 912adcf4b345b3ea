"""Fixtures shared by the server package's tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.redis import EmbeddedRedis


@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    """A Redis of the test's own, to stop and start while the app runs (an outage, a restart)."""
    folder = Path(tempfile.mkdtemp(prefix="grr", dir="/tmp"))  # a short path: unix sockets
    server = EmbeddedRedis(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
