"""Run the `gmid` command line as a subprocess against a test's own settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from server.settings import Settings
from tests.support import cli_zygote

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
    """(exit code, stdout, stderr); run outside the repository so a developer's .env stays out. The
    command is a process of its own, forked from a zygote that has imported the libraries every command
    loads (tests/support/cli_zygote.py): the same code as the script, without 0.6 s of start-up each."""
    return await cli_zygote.run(
        str(GMID), list(args), gmid_env(settings), str(Path(settings.var_dir).parent), kill_after=120
    )
