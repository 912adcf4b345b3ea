"""``gmid backup`` / ``gmid restore``: the database to one file and back into an empty database.

PostgreSQL: ``pg_dump -Fc`` / ``pg_restore`` with the configured URL (the password goes in the
environment, never on a command line that ``ps`` shows). SQLite: the online backup API, safe while
servers write. A restore ends with the migrations and a new revocation-feed epoch: offline verifiers
drop what they hold and resync from zero (the restored counters may repeat numbers they have already
seen with other entries). The key files under ``var/keys`` are not in the database: back them up apart.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from server.cli.common import CLIError, run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers

# Query parameters libpq understands; Tortoise's own (maxsize, minsize ...) would make pg_dump fail.
_LIBPQ_PARAMS = frozenset(
    {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options"}
)


def register(commands: Subparsers) -> None:
    p = commands.add_parser("backup", help="the database to one file (pg_dump -Fc, or SQLite's online backup)")
    p.add_argument("--out", required=True, help="the file to write (refused if it exists)")
    p.set_defaults(func=cmd_backup)
    p = commands.add_parser(
        "restore",
        help="a backup into an EMPTY database, then the migrations and a new revocation-feed epoch",
    )
    p.add_argument("file", help="a file made by gmid backup")
    p.set_defaults(func=cmd_restore)


def libpq_target(url: str) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump / pg_restore without its password, and the environment that carries it."""
    parts = urlsplit(url)
    scheme = "postgresql"
    env = dict(os.environ)
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k in _LIBPQ_PARAMS])
    return urlunsplit((scheme, netloc, parts.path, query, "")), env


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def _sqlite_path(url: str) -> Path:
    path = url[len("sqlite://") :].split("?", 1)[0]
    if not path or path == ":memory:":
        raise CLIError("an in-memory SQLite database has nothing to back up")
    return Path(path)


def _run(argv: list[str], env: dict[str, str]) -> None:
    tool = argv[0]
    if shutil.which(tool) is None:
        raise CLIError(f"{tool} is not installed (Debian: apt install postgresql-client)")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise CLIError(f"{tool} failed: {last[:300]}")


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    out = Path(args.out)
    if out.exists():
        raise CLIError(f"{out} exists: a backup never overwrites a file")
    url = settings.effective_database_url
    if _is_postgres(url):
        target, env = libpq_target(url)
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={out}", f"--dbname={target}"], env)
    else:
        source = _sqlite_path(url)
        if not source.is_file():
            raise CLIError(f"no database at {source}")
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(out)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    print(f"backup written to {out} ({out.stat().st_size} bytes); back up var/keys apart, it is not in it")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    source = Path(args.file)
    if not source.is_file():
        raise CLIError(f"no backup file at {source}")
    url = settings.effective_database_url
    if _is_postgres(url):
        if _pg_has_tables(settings):
            raise CLIError("the database is not empty: restore into a new, empty database")
        target, env = libpq_target(url)
        _run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={target}", str(source)], env)
    else:
        dest = _sqlite_path(url)
        if _sqlite_has_tables(dest):
            raise CLIError(f"{dest} is not empty: restore into a new, empty database")
        try:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CLIError(f"{source} is not a SQLite backup: {exc}") from exc
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    print(f"restored {source}")
    from server.cli.migrate import cmd_migrate

    cmd_migrate(argparse.Namespace(no_hierarchy=True), settings)
    return announce_new_epoch(settings)


def announce_new_epoch(settings: Settings) -> int:
    async def run() -> int:
        from qr import feed

        epoch = await feed.new_epoch()
        print(f"revocation feed epoch {epoch}: offline verifiers resync from zero at their next sync")
        return 0

    return run_with_db(run, settings)


def _sqlite_has_tables(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return bool(conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0])
    finally:
        conn.close()


def _pg_has_tables(settings: Settings) -> bool:
    async def run() -> int:
        from tortoise import connections

        _, rows = await connections.get("default").execute_query(
            "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'"
        )
        return int(rows[0]["n"])

    import asyncio

    async def wrapper() -> int:
        from server import db

        await db.open_db(settings)
        try:
            return await run()
        finally:
            await db.close_db()

    return asyncio.run(wrapper()) > 0
