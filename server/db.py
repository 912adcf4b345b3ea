"""Tortoise ORM: the one configuration, the lifecycle, and the migration entry point.

The schema comes only from ``migrations/`` (Tortoise 1.x's own migration system); the app never
creates tables. All models live in one Tortoise app, ``models``, whose modules are listed here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url

from server.settings import Settings

log = logging.getLogger("gmid.db")

# Each package that owns tables adds its models module here (and a migration for it). Each model class
# sets ``_no_comments = True``: we write none of Tortoise's ``#:`` field comments, and without it Tortoise
# parses the class's module source again for every class, in every process (0.2 s of CPU for each gmid
# command and server worker).
MODEL_MODULES: list[str] = [
    "identity.models",
    "identity.audit",
    "qr.models",
    "notify.models",
    "miniapp_api.ebikes.models",
    "miniapp_api.buildings.models",
    "miniapp_api.reports.models",
    "miniapp_api.reports.photo_models",
    "miniapp_api.boards.models",
    "miniapp_api.devices.models",
    "miniapp_api.open311.models",
    "miniapp_api.clinic.models",
    "miniapp_api.wristbands.models",
    "miniapp_api.welfare.models",
    "miniapp_api.jobs.models",
]


def tortoise_config(database_url: str, *, sqlite_busy_timeout: int = 10) -> dict[str, Any]:
    """Tortoise's configuration; ``sqlite_busy_timeout`` is how many seconds a write on the SQLite
    file waits for another process's write before it gives up (DatabaseBusy)."""
    url = database_url
    if url.startswith("postgresql://"):
        url = "postgres://" + url[len("postgresql://") :]
    if url.startswith("postgres://") and "maxsize=" not in url:
        # Tortoise's asyncpg pool defaults to 5 connections: fewer than the requests one worker serves
        # at once (and the notification dispatcher's sends). The URL's own maxsize wins.
        url += ("&" if "?" in url else "?") + "maxsize=20"
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    connection: str | dict[str, Any] = url
    if url.startswith("postgres://"):
        connection = expand_db_url(url)
        connection["engine"] = "server.pgpool"  # asyncpg without the reset round trip on every release
    elif url.startswith("sqlite://"):
        # Every connection of every process (web workers, the background worker, the CLI) gets WAL,
        # the busy timeout and BEGIN IMMEDIATE: see server/sqlite.py. The URL's own pragmas win.
        connection = expand_db_url(url)
        connection["engine"] = "server.sqlite"
        credentials = connection["credentials"]
        credentials.setdefault("busy_timeout", sqlite_busy_timeout * 1000)
        credentials.setdefault("foreign_keys", "ON")
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def settings_tortoise_config(settings: Settings) -> dict[str, Any]:
    return tortoise_config(settings.effective_database_url, sqlite_busy_timeout=settings.sqlite_busy_timeout)


def _tortoise_orm_from_env() -> dict[str, Any]:
    # For the stock `tortoise -c server.db.TORTOISE_ORM makemigrations` command line.
    return settings_tortoise_config(Settings.from_env())


def __getattr__(name: str) -> Any:
    if name == "TORTOISE_ORM":
        return _tortoise_orm_from_env()
    raise AttributeError(name)


async def open_db(settings: Settings) -> None:
    # Global fallback: Sanic runs handlers in tasks that do not inherit the listener's context.
    # SQLite's pragmas (WAL, busy timeout, foreign keys) are set by its client on every connection.
    await Tortoise.init(config=settings_tortoise_config(settings), _enable_global_fallback=True)


async def close_db() -> None:
    await Tortoise.close_connections()


def is_sqlite(settings: Settings) -> bool:
    return settings.effective_database_url.startswith("sqlite://")


async def ping_db() -> None:
    conn = connections.get("default")
    await conn.execute_query("SELECT 1")


async def migrate(settings: Settings, *, progress: Callable[[str, str, str], object] | None = None) -> None:
    """Bring the database to the current schema (what `gmid migrate` runs)."""
    from tortoise.migrations.api.migrate import migrate as run_migrations

    from server import migration_state

    migration_state.install()
    try:
        await run_migrations(config=settings_tortoise_config(settings), progress=progress)
    finally:
        await Tortoise.close_connections()
