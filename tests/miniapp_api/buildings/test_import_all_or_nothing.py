"""An import writes all of its good rows or none: one stopped part-way leaves no building behind
(SQLite and PostgreSQL alike)."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import httpx

from miniapp_api.buildings.models import Building
from qr.models import Credential
from server.settings import Settings
from tests.factories import load_demo_hierarchy
from tests.miniapp_api.buildings.conftest import row, write_csv
from tests.support.cli import GMID, gmid, gmid_env

ROWS = 4000  # four chunks of 1,000: the old importer committed each chunk on its own


async def test_an_import_stopped_part_way_leaves_nothing_and_running_it_again_imports_all(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "b.csv", [row(n) for n in range(1, ROWS + 1)])
    await load_demo_hierarchy()
    proc = await asyncio.create_subprocess_exec(
        str(GMID),
        *("import", "buildings", str(path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=gmid_env(settings),
        cwd=str(tmp_path),
    )
    assert proc.stderr is not None
    seen = b""
    # The progress bar says rows are done: stop the import there.
    while True:
        chunk = await asyncio.wait_for(proc.stderr.read(256), timeout=120)
        assert chunk, seen.decode()
        seen += chunk
        done = [int(n.replace(b",", b"")) for n in re.findall(rb"\] ([\d,]+)/", seen)]
        if done and 1000 <= done[-1] < ROWS:
            break
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 130, (seen + err).decode()
    lines = [line for line in (seen + err).decode().replace("\r", "\n").splitlines() if line.startswith("gmid:")]
    assert lines == ["gmid: interrupted; nothing was imported"], (seen + err).decode()
    assert "Traceback" not in err.decode()
    assert await Building.all().count() == 0
    assert await Credential.filter(kind="building").count() == 0

    code, out_text, err_text = await gmid(settings, "import", "buildings", str(path), "--quiet")
    assert code == 0, out_text + err_text
    assert f"{ROWS:,} imported ({ROWS:,} created" in out_text
    assert await Building.all().count() == ROWS
