"""Run the `gmid` command line as a subprocess against a test's own settings."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from server.settings import Settings

GMID = Path(sys.executable).parent / "gmid"


def gmid_env(settings: Settings) -> dict[str, str]:
    # Only this test's settings: nothing GMID_* from the caller's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMID_")}
    env.update(
        GMID_DATABASE_URL=settings.database_url or "",
        GMID_VAR_DIR=settings.var_dir,
        GMID_REDIS_URL=settings.redis_url or "",
        GMID_PUBLIC_BASE_URL=settings.public_base_url,
        GMID_LOG_LEVEL="WARNING",
    )
    if settings.mqtt_url:
        env["GMID_MQTT_URL"] = settings.mqtt_url
    return env


async def gmid(settings: Settings, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr); run outside the repository so a developer's .env stays out."""
    proc = await asyncio.create_subprocess_exec(
        str(GMID),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=gmid_env(settings),
        cwd=str(Path(settings.var_dir).parent),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
