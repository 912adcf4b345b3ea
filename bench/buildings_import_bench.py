"""Import of the 15,016-building demo file with the real command line (target: well under 60 s).

Generates the demo file (``gmid buildings demo-file``), migrates a fresh database, loads the demo
hierarchy, then times ``gmid import buildings FILE`` three times as a subprocess, wall clock, process
start included:

- first import: every building created, each with its QR e-ID (signed Ed25519 code);
- re-import of the same file: every building found by its code and left alone (nothing to write);
- re-import of a file where every building changed (residents + 1 and a new landlord phone): every
  row updated, the phone re-encrypted and re-indexed.

    .venv/bin/python bench/buildings_import_bench.py                         # SQLite in a temporary folder
    .venv/bin/python bench/buildings_import_bench.py --database-url postgres://gmid@127.0.0.1:55432/postgres

With ``--database-url`` (PostgreSQL), the bench creates its own database on that server
(``gmid_buildings_bench_<pid>``) and drops it afterwards; the URL's own database is only used to
connect. Keys, the demo file and the SQLite file live in a temporary ``GMID_VAR_DIR`` (``--keep``
keeps it). The figures describe this machine and this run only.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.postgres import pg_admin, pg_url  # noqa: E402  (one way to run CREATE/DROP DATABASE)

GMID = Path(sys.executable).parent / "gmid"
TARGET_SECONDS = 60.0


def run(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run([str(GMID), *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"gmid {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def changed_copy(source: Path, target: Path) -> None:
    with source.open(encoding="utf-8", newline="") as inp, target.open("w", encoding="utf-8", newline="") as out:
        reader = csv.DictReader(inp)
        assert reader.fieldnames is not None
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
        writer.writeheader()
        for n, row in enumerate(reader):
            row["residents"] = str(int(row["residents"]) + 1)
            row["landlord_phone"] = f"139{n:08d}"
            writer.writerow(row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL server (postgres://user@host:port/db); default SQLite")
    parser.add_argument("--count", type=int, default=15_016, help="buildings in the demo file (default 15,016)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="gmid-bbench-"))
    pg_database = None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMID_")}
    env.update(GMID_VAR_DIR=str(var), GMID_LOG_LEVEL="WARNING")
    if args.database_url:
        if not args.database_url.startswith(("postgres://", "postgresql://")):
            sys.exit("--database-url must be a PostgreSQL URL")
        pg_database = f"gmid_buildings_bench_{os.getpid()}"
        asyncio.run(pg_admin(args.database_url, f"CREATE DATABASE {pg_database}"))
        env["GMID_DATABASE_URL"] = pg_url(args.database_url, pg_database)
        backend = f"PostgreSQL ({urlparse(args.database_url).hostname}:{urlparse(args.database_url).port})"
    else:
        backend = "SQLite (WAL)"
    try:
        demo = var / "buildings-demo.csv"
        changed = var / "buildings-changed.csv"
        seconds, _ = run(env, "buildings", "demo-file", str(demo), "--count", str(args.count))
        print(f"demo file: {args.count:,} buildings, {demo.stat().st_size / 1e6:.1f} MB, generated in {seconds:.1f} s")
        changed_copy(demo, changed)
        run(env, "keys", "init")
        run(env, "migrate")
        run(env, "load-hierarchy")
        print(f"backend: {backend}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
        worst = 0.0
        for label, path in (
            ("first import (all created)", demo),
            ("re-import, same file (all unchanged)", demo),
            ("re-import, every row changed (all updated)", changed),
        ):
            seconds, out = run(env, "import", "buildings", str(path), "--quiet")
            summary = next((line for line in out.splitlines() if line.startswith("buildings:")), out.strip())
            inner = re.search(r"in ([0-9.]+) s", summary)
            worst = max(worst, seconds)
            print(f"{label}: {seconds:.2f} s wall, {args.count / seconds:,.0f} rows/s")
            print(f"    gmid: {summary}" + (f" [import itself {inner.group(1)} s]" if inner else ""))
        verdict = "OK" if worst < TARGET_SECONDS else "OVER TARGET"
        print(f"slowest run {worst:.2f} s against the target of {TARGET_SECONDS:.0f} s: {verdict}")
        return 0 if worst < TARGET_SECONDS else 1
    finally:
        if pg_database and args.database_url:
            asyncio.run(pg_admin(args.database_url, f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)"))
        if args.keep:
            print(f"kept {var}")
        else:
            shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
