"""Sensor devices: ``gmid import devices`` (a file of devices, new ones' secrets to a file of the
operator's) and ``gmid devices simulate`` (simulated devices sending signed readings)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from server.cli.common import CLIError, group, qr_keyring, run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from miniapp_api.devices.importer import NewDevice
    from server.cli.common import Subparsers

SHOWN_REJECTIONS = 200  # on the terminal; --report FILE has them all


def register(commands: Subparsers) -> None:
    imports = group(commands, "import", "import district files")
    p = imports.add_parser(
        "devices", help="sensor devices from CSV (UTF-8) or XLSX; re-import updates by serial (secret kept)"
    )
    p.add_argument("file", help="the .csv or .xlsx file (header on line 1)")
    p.add_argument(
        "--secrets-out",
        metavar="PATH",
        help="a new file (mode 0600) for the new devices' secrets and binding codes (needed for new devices)",
    )
    p.add_argument("--report", help="also write the rejected rows (line, column, reason) to this CSV file")
    p.set_defaults(func=cmd_import_devices)

    devices = group(commands, "devices", "sensor devices")
    p = devices.add_parser("simulate", help="simulated devices sending signed readings to the ingest (demo, tests)")
    p.add_argument("--count", type=int, default=20, help="how many devices (default 20)")
    p.add_argument("--rate", type=float, default=10.0, help="readings a second (default 10)")
    p.add_argument("--seconds", type=float, help="how long to send (default 10; a scenario runs at least its course)")
    p.add_argument("--scenario", choices=["gas-leak"], help="gas-leak: one detector's gas rises from 0 to 30 %%LEL")
    p.add_argument(
        "--building", help="the building's code (default: the simulator's own demo building, made on first use)"
    )
    p.add_argument("--url", help="the service's base URL (default GMID_PUBLIC_BASE_URL)")
    p.add_argument(
        "--via",
        choices=["http", "mqtt"],
        help="how the gateways send: mqtt (to GMID_MQTT_URL's broker) when it is set, else http",
    )
    p.set_defaults(func=cmd_devices_simulate)


def _open_secrets(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CLIError(f"{path} exists: the secrets go to a new file (nothing was imported)") from None
    except OSError as exc:
        raise CLIError(f"cannot create {path}: {exc.strerror or exc} (nothing was imported)") from None


def _write_secrets(fd: int, new: list[NewDevice]) -> None:
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["serial", "id", "type", "secret", "binding_code"])
    for item in new:
        writer.writerow([item.serial, item.id, item.type, item.secret, item.binding_code])
    data = text.getvalue().encode("utf-8")
    while data:
        data = data[os.write(fd, data) :]
    os.fsync(fd)


def cmd_import_devices(args: argparse.Namespace, settings: Settings) -> int:
    """Exit codes as ``gmid import buildings``: 0 all imported, 1 some rows rejected (the good ones
    imported), 2 the file cannot be used, 3 the database failed (in the last two, nothing imported)."""
    from tortoise.exceptions import BaseORMException

    from identity.roles import Role
    from miniapp_api.buildings.importer import write_report
    from miniapp_api.devices import importer
    from server.auth import Principal
    from server.sqlite import DatabaseBusy

    secrets_path = Path(args.secrets_out) if args.secrets_out else None
    fd = _open_secrets(secrets_path) if secrets_path else None
    viewer = Principal("cli", Role.ADMIN, "/")  # the operator: the whole hierarchy
    wrote = False

    def keep(new: list[NewDevice]) -> None:
        nonlocal wrote
        assert fd is not None
        _write_secrets(fd, new)
        wrote = True

    async def go() -> int:
        try:
            with qr_keyring(settings):  # each new device's sticker code is signed as it is created
                result = await importer.import_file(
                    Path(args.file), viewer=viewer, keep=keep if fd is not None else None
                )
        except importer.ImportFileError as exc:
            for problem in exc.problems:
                print(problem)
            hint = "; give --secrets-out PATH" if "secrets" in exc.message else ""
            print(f"gmid: {exc.message}{hint}; nothing was imported", file=sys.stderr)
            return 2
        for rejected in result.rejected[:SHOWN_REJECTIONS]:
            print(rejected)
        if len(result.rejected) > SHOWN_REJECTIONS:
            more = len(result.rejected) - SHOWN_REJECTIONS
            print(f"... and {more:,} more ({f'all in {args.report}' if args.report else 'all of them: --report FILE'})")
        if args.report:
            write_report(Path(args.report), result.rejected)
        if result.ignored_columns:
            print(f"ignored columns: {', '.join(result.ignored_columns)}")
        print(
            f"devices: {result.rows:,} rows, {result.imported:,} imported ({result.created:,} created, "
            f"{result.updated:,} updated, {result.unchanged:,} unchanged), {result.rejected_lines:,} rejected"
        )
        if result.created:
            print(
                f"secrets and binding codes of the {result.created:,} new devices: {secrets_path} (shown nowhere else)"
            )
        return 1 if result.rejected else 0

    def failed(why: str) -> int:
        print(f"gmid: {why}; nothing was imported", file=sys.stderr)
        return 3

    code = 130  # interrupted, unless the import says otherwise
    try:
        code = run_with_db(go, settings)
    except DatabaseBusy:
        code = failed(f"the database stayed busy for {settings.sqlite_busy_timeout} s (GMID_SQLITE_BUSY_TIMEOUT)")
    except (BaseORMException, OSError) as exc:
        # The kind of failure only: a database's message may quote a row's values.
        code = failed(f"the database failed ({type(exc).__name__})")
    finally:
        if fd is not None:
            os.close(fd)
        if secrets_path is not None and (code not in (0, 1) or not wrote):
            # No secrets of devices that were not created (failed, refused or interrupted); no empty file.
            secrets_path.unlink(missing_ok=True)
    return code


def cmd_devices_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from miniapp_api.devices import simulator

    if args.count < 1 or args.count > 100_000:
        raise CLIError("--count is from 1 to 100,000")
    if not 0 < args.rate <= 100_000:
        raise CLIError("--rate is more than 0 and at most 100,000 readings a second")
    url = (args.url or settings.public_base_url).rstrip("/")
    via = args.via or ("mqtt" if settings.mqtt_url else "http")
    if via == "mqtt" and not settings.mqtt_url:
        raise CLIError("--via mqtt needs GMID_MQTT_URL (the broker the service's worker listens to)")
    seconds = args.seconds if args.seconds is not None else (0 if args.scenario else 10)

    def say(line: str) -> None:
        print(line, flush=True)

    async def go() -> int:
        with qr_keyring(settings):  # a demo building, when one is made, gets its e-ID
            try:
                fleet = await simulator.prepare(
                    count=args.count,
                    building=args.building,
                    var_dir=Path(settings.var_dir),
                    leak=args.scenario == "gas-leak",
                )
            except simulator.SimulatorError as exc:
                raise CLIError(str(exc)) from None
        say(
            f"building {fleet.building}: {len(fleet.devices):,} devices behind {len(fleet.gateways)} gateways "
            f"({fleet.registered} registered now, state in {Path(settings.var_dir) / simulator.STATE_FILE})"
        )
        if fleet.leak is not None:
            bound = f"bound to {fleet.bound} demo resident(s)" if fleet.bound else "no demo resident (gmid seed-demo)"
            say(f"gas leak on {fleet.leak.serial}, {bound}")
        mqtt_url = settings.mqtt_url if via == "mqtt" else None
        totals = await simulator.run(fleet=fleet, url=url, rate=args.rate, seconds=seconds, say=say, mqtt_url=mqtt_url)
        target = url if mqtt_url is None else "the MQTT broker"
        say(
            f"sent {totals.readings:,} readings in {totals.requests:,} requests to {target}: "
            f"{totals.accepted:,} accepted, "
            f"{totals.duplicates:,} duplicates, {totals.refused:,} refused, {totals.failed:,} requests failed; "
            f"{len(totals.alarms)} alarm changes"
            + (f"; valve commands confirmed: {totals.confirmed}" if fleet.leak is not None else "")
        )
        return 1 if totals.failed or totals.refused else 0

    return run_with_db(go, settings)
