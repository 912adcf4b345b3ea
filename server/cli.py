"""The ``gmid`` command line.

Every command reads the same ``GMID_*`` settings as the server. Commands that scripts use are
non-interactive (passwords come on standard input) and exit non-zero with one clear line on error.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import shutil
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from server.settings import Settings, SettingsError

Command = Callable[[argparse.Namespace, Settings], int]


class CLIError(Exception):
    pass


def _run(
    coro_factory: Callable[[], Awaitable[int]], settings: Settings, *, needs_db: bool = True, scan_cache: bool = False
) -> int:
    """Run a coroutine with the database (and the PII vault) open; with ``scan_cache``, also with the
    Redis of the running servers, so that what the command changes is seen by their next scan."""

    async def wrapper() -> int:
        from identity import pii
        from server import db

        if not needs_db:
            return await coro_factory()
        await db.open_db(settings)
        client = await _scan_cache_client(settings) if scan_cache else None
        try:
            pii.set_vault(pii.Vault(pii.PiiKeyRing.from_settings(settings)))
            return await coro_factory()
        finally:
            pii.set_vault(None)
            if client is not None:
                from qr import scancache

                scancache.set_client(None)
                await client.aclose()
            await db.close_db()

    return asyncio.run(wrapper())


async def _scan_cache_client(settings: Settings) -> Any:
    """The servers' Redis, when one answers (an embedded one only while a server runs): the scan
    cache's entries of what a command changes must not outlive the change."""
    from redis.exceptions import RedisError

    from qr import scancache
    from server import redis as gmid_redis

    if settings.uses_embedded_redis and not gmid_redis.embedded_for(settings).is_running():
        return None  # no server, no cache
    client = gmid_redis.make_client(gmid_redis.redis_url_for(settings))
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        print("gmid: warning: Redis does not answer; scans may show the old state for a minute", file=sys.stderr)
        return None
    scancache.set_client(client)
    return client


# serve / migrate / keys -------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    changes: dict[str, Any] = {}
    if args.workers:
        changes["workers"] = args.workers
    if args.host:
        changes["host"] = args.host
    if args.port:
        changes["port"] = args.port
    settings = settings.replace(**changes)
    _check_keys(settings)
    # With several workers, metrics are merged through files in this folder (set before any import);
    # one worker keeps them in memory, which is cheaper per request.
    metrics_dir = settings.var_path / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    if settings.workers > 1:
        metrics_dir.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    else:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

    from server.app import create_app

    _stop_cleanly_during_startup()
    loader = AppLoader(factory=partial(create_app, settings))
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=settings.access_log,
        motd=False,
        dev=args.dev,
    )
    print(
        f"gmid: serving on http://{settings.host}:{settings.port} (docs at /docs); "
        f"QR codes point at {settings.public_base_url}/q/"
        + (" (GMID_PUBLIC_BASE_URL unset)" if settings.public_base_url_derived else ""),
        flush=True,
    )
    Sanic.serve(primary=app, app_loader=loader)
    return 0


def _stop_cleanly_during_startup() -> None:
    """Sanic 25.12's manager spins forever when SIGTERM arrives before every worker has said it is
    ready (its wait loop re-queues the stop message). Count a stopping manager as acknowledged, so
    the stop goes through: workers end and the embedded Redis is stopped."""
    from sanic.worker.manager import WorkerManager

    original = WorkerManager._all_workers_ack
    if getattr(original, "__gmid_patched__", False):
        return

    def all_acked_or_stopping(self: WorkerManager) -> bool:
        return bool(self._shutting_down or original(self))

    all_acked_or_stopping.__gmid_patched__ = True  # type: ignore[attr-defined]
    WorkerManager._all_workers_ack = all_acked_or_stopping  # type: ignore[method-assign]


def _check_keys(settings: Settings) -> None:
    from identity.pii import PiiKeyRing
    from qr import keys as qr_keys
    from server.app import load_access_token_secret

    load_access_token_secret(settings)
    PiiKeyRing.from_settings(settings)
    qr_keys.load(settings.keys_path)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from server import db

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            print(f"applied {app_label}.{name}", flush=True)

    asyncio.run(db.migrate(settings, progress=progress))
    print("database is at the current schema")
    if not args.no_hierarchy:
        asyncio.run(_first_hierarchy(settings))
    return 0


async def _first_hierarchy(settings: Settings) -> None:
    """On a first start, Guangming's official hierarchy, so residents can register at once; an
    existing hierarchy is never touched. Nodes hold no personal data: no vault needed."""
    from identity import hierarchy
    from identity.models import Node
    from server import db

    await db.open_db(settings)
    try:
        loaded = await hierarchy.load_official_if_empty()
        if loaded is None:
            print(f"hierarchy: {await Node.all().count()} nodes present, left as they are")
        else:
            print(f"hierarchy: loaded Guangming District's official hierarchy, {loaded.created} nodes")
    finally:
        await db.close_db()


def cmd_keys_init(args: argparse.Namespace, settings: Settings) -> int:
    created = init_keys(settings)
    for path in created:
        print(f"created {path}")
    if not created:
        print("all keys present")
    return 0


def init_keys(settings: Settings) -> list[str]:
    """Create every missing key under VAR_DIR/keys (never replaces one)."""
    from identity.pii import ensure_pii_keys
    from qr.keys import ensure_keyring
    from server.keyfiles import ensure_b64_secret

    keys = settings.keys_path
    created: list[str] = []
    if not settings.access_token_secret and ensure_b64_secret(keys / "access-token.key"):
        created.append(str(keys / "access-token.key"))
    if not settings.pii_keys or not settings.pii_index_key:
        created += ensure_pii_keys(keys)
    created += ensure_keyring(keys)
    return created


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from qr import keys as qr_keys

    kid = qr_keys.rotate(settings.keys_path)
    print(f"new QR signing key {kid} signs from now on; earlier keys keep verifying until retired")
    return 0


def cmd_keys_retire(args: argparse.Namespace, settings: Settings) -> int:
    from qr import keys as qr_keys
    from qr import service as qr_service

    try:
        info = qr_keys.resolve_kid(settings.keys_path, args.kid)
    except qr_keys.KeyringError as exc:
        raise CLIError(str(exc)) from None
    if info.status == qr_keys.ACTIVE:
        raise CLIError(f"{info.kid} is the active key: rotate first, then retire it")

    async def count() -> int:
        return await qr_service.signed_by(info.kid).count()

    # Retiring refuses every code the key signed: not while active codes still carry it, unless forced.
    remaining = _run(count, settings) if info.status != qr_keys.RETIRED else 0
    if remaining and not args.force:
        raise CLIError(
            f"{remaining:,} active codes are still signed by {info.kid}: reissue them first "
            f"(gmid qr reissue --kid {info.kid}), or retire with --force to refuse them"
        )
    try:
        qr_keys.retire(settings.keys_path, info.kid)
    except qr_keys.KeyringError as exc:
        raise CLIError(str(exc)) from None
    if remaining:
        print(
            f"QR signing key {info.kid} is retired: the {remaining:,} active codes it signed are refused from now "
            f"on (reissue them: gmid qr reissue --kid {info.kid})"
        )
    else:
        print(f"QR signing key {info.kid} is retired: codes it signed are refused")
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from qr import keys as qr_keys

    ring = qr_keys.load(settings.keys_path)
    for info in sorted(ring.keys.values(), key=lambda k: k.created_at):
        print(
            f"{info.kid}  {info.status:9}  created {info.created_at}"
            + (f"  retired {info.retired_at}" if info.retired_at else "")
        )
    return 0


def cmd_keys_rotate_pii(args: argparse.Namespace, settings: Settings) -> int:
    from identity.pii import rotate_pii_key

    if settings.pii_keys:
        raise CLIError("PII keys come from GMID_PII_KEYS: add the new key there instead")
    kid = rotate_pii_key(settings.keys_path)
    print(f"new PII key {kid} is active; restart the workers to use it")
    return 0


# accounts ---------------------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        raise CLIError("give the password on standard input with --password-stdin")
    if not password:
        raise CLIError("the password is empty")
    return password


def cmd_create_staff(args: argparse.Namespace, settings: Settings) -> int:
    from identity import service
    from identity.roles import Role

    try:
        role = Role(args.role)
    except ValueError:
        raise CLIError(f"unknown role {args.role!r}; one of: {', '.join(r.value for r in Role)}") from None
    password = _read_password(args)

    async def go() -> int:
        account = await service.create_staff(username=args.username, role=role, node_code=args.node, password=password)
        print(f"created {role.value} {account.username} ({account.public_id}) at node {args.node}")
        return 0

    return _run(go, settings)


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from identity import tokens
    from identity.models import Account
    from server.app import load_access_token_secret

    async def go() -> int:
        account = await Account.get_or_none(public_id=args.account)
        if account is None:
            account = await Account.get_or_none(username=args.account.lower())
        if account is None:
            account = await Account.get_or_none(wechat_openid=args.account)
        if account is None:
            raise CLIError(f"no account {args.account!r} (give a username, an account id or a WeChat openid)")
        if not account.is_active:
            raise CLIError("that account is disabled")
        await account.fetch_related("node")
        token, _ = tokens.issue_access_token(
            secret=load_access_token_secret(settings),
            account_id=account.public_id,
            role=account.role,
            node_path=account.node.path if account.node else None,
            ttl=args.ttl or settings.access_token_ttl,
        )
        print(token)
        return 0

    return _run(go, settings)


def cmd_load_hierarchy(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from identity import hierarchy

    async def go() -> int:
        path = Path(args.file) if args.file else hierarchy.official_file()
        try:
            result = await hierarchy.load_file(path)
        except OSError as exc:
            raise CLIError(f"{path}: {exc.strerror or exc}") from None
        except ValueError as exc:  # HierarchyError, and JSON or UTF-8 that does not parse
            raise CLIError(f"{path}: {exc}") from None
        print(f"hierarchy: {result.created} created, {result.updated} updated, {result.unchanged} unchanged")
        return 0

    return _run(go, settings)


DEMO_STAFF = [
    ("admin", "admin", "GM"),
    ("street.admin", "admin", "GM01"),
    ("police", "police", "GM01"),
    ("officer", "officer", "GM0101"),
    ("grid.worker", "grid_staff", "GM010101"),
    ("party.member", "party_member", "GM010101"),
]


DEMO_STAFF_PHONES = {"admin": "13700000000", "police": "13700000001"}


def cmd_seed_demo(args: argparse.Namespace, settings: Settings) -> int:
    from identity import hierarchy, service
    from identity.models import Account
    from identity.roles import Role
    from identity.validators import make_id_number

    password = _read_password(args) if args.password_stdin else None

    async def go() -> int:
        result = await hierarchy.load_file(hierarchy.demo_file())
        print(f"hierarchy: {result.created} created, {result.updated} updated, {result.unchanged} unchanged")
        for username, role, node in DEMO_STAFF:
            if await Account.exists(username=username):
                print(f"staff {username}: exists")
                continue
            chosen = password or secrets.token_urlsafe(12)
            staff = await service.create_staff(username=username, role=Role(role), node_code=node, password=chosen)
            if username in DEMO_STAFF_PHONES:  # so alarms and limits reach someone (console: logged)
                await service.update_profile(
                    account=staff, name=None, phone=DEMO_STAFF_PHONES[username], id_number=None
                )
            shown = "(from stdin)" if password else chosen
            print(f"staff {username}: {role} at {node}, password {shown}")
        demo_residents = [
            ("演示居民甲", "13800000001"),
            ("演示居民乙", "13800000002"),
            ("演示居民丙", "13800000003"),
        ]
        for number, (name, phone) in enumerate(demo_residents, start=1):
            openid = f"demo-openid-{number}"
            if await Account.exists(wechat_openid=openid):
                print(f"resident {openid}: exists")
                continue
            account = await Account.create(public_id=service.new_public_id(), role=Role.RESIDENT, wechat_openid=openid)
            id_number = make_id_number("440311", date(1990, 1, number), f"{number:03d}")
            await service.update_profile(account=account, name=name, phone=phone, id_number=id_number)
            print(f"resident {account.public_id}: demo profile (try: gmid token {openid})")
        return 0

    return _run(go, settings)


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from identity import audit

    async def go() -> int:
        result = await audit.verify()
        if result.ok:
            print(f"audit log intact: {result.checked} entries")
            return 0
        print(f"audit log BROKEN at entry {result.broken_seq}: {result.problem} ({result.checked} entries before it)")
        return 1

    return _run(go, settings)


def cmd_qr_verify(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from qr import codec
    from qr import service as qr_service
    from qr.keys import KeyringCache

    text = args.code
    path = Path(text)
    if len(text) < 400 and path.is_file():
        import zxingcpp
        from PIL import Image

        found = zxingcpp.read_barcodes(Image.open(path))
        if not found:
            raise CLIError(f"no QR code found in {path}")
        text = found[0].text

    async def go() -> int:
        qr_service.set_keyring(KeyringCache(settings.keys_path))
        try:
            resolved = await qr_service.resolve(payload=text, base_url=settings.public_base_url)
        except codec.VerifyError as exc:
            where = f" ({exc.credential.kind} {exc.credential.public_id})" if exc.credential is not None else ""
            print(f"INVALID {exc.code}: {exc.message}{where}")
            return 1
        finally:
            qr_service.set_keyring(None)
        c = resolved.credential
        print(f"VALID {c.kind} {c.public_id} serial {c.serial} status {c.status.value}")
        return 0

    return _run(go, settings)


def cmd_qr_sheet(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from identity import hierarchy
    from qr import kinds, render, sheets

    if kinds.by_name(args.kind) is None:
        raise CLIError(f"unknown kind {args.kind!r}; one of: {', '.join(k.name for k in kinds.all_kinds())}")
    try:
        render.find_cjk_font(settings.qr_font)
    except render.StickerFontError as exc:
        raise CLIError(str(exc)) from None
    reissued_since = None
    if args.reissued_since:
        try:
            reissued_since = datetime.fromisoformat(args.reissued_since)
        except ValueError:
            raise CLIError(f"--reissued-since {args.reissued_since!r} is not an ISO 8601 date or time") from None
        if reissued_since.tzinfo is None:
            reissued_since = reissued_since.replace(tzinfo=UTC)

    async def go() -> int:
        node_path = None
        if args.node:
            node = await hierarchy.get_by_code(args.node)
            if node is None:
                raise CLIError(f"no hierarchy node {args.node}")
            node_path = node.path
        query = sheets.printable(kind=args.kind, node_path=node_path, reissued_since=reissued_since)
        total = await query.count()
        if total == 0:
            raise CLIError("no active credentials match; nothing to print")
        result = await sheets.write_sheets(
            kind=args.kind,
            node_path=node_path,
            reissued_since=reissued_since,
            base_url=settings.public_base_url,
            out=Path(args.out),
            font=settings.qr_font,
            workers=args.workers,
            total=total,
            on_progress=None if args.quiet else sheets.progress_bar,
        )
        if not args.quiet:
            print(file=sys.stderr)
        print(
            f"{result.stickers:,} stickers on {result.pages:,} A4 pages in {result.seconds:.1f} s "
            f"({result.stickers / max(result.seconds, 1e-9):,.0f}/s) -> {result.path}"
        )
        return 0

    return _run(go, settings)


def cmd_qr_reissue(args: argparse.Namespace, settings: Settings) -> int:
    from qr import keys as qr_keys
    from qr import rekey
    from qr import service as qr_service
    from qr.keys import KeyringCache

    if args.batch_size < 1:
        raise CLIError("--batch-size must be at least 1")
    try:
        info = qr_keys.resolve_kid(settings.keys_path, args.kid)
    except qr_keys.KeyringError as exc:
        raise CLIError(str(exc)) from None

    async def go() -> int:
        cache = KeyringCache(settings.keys_path)
        if cache.get().active_kid == info.kid:
            raise CLIError(f"{info.kid} is the active key: rotate first (gmid keys rotate), then reissue its codes")
        qr_service.set_keyring(cache)
        try:
            total = await qr_service.signed_by(info.kid).count()
            result = await rekey.reissue_signed_by(
                kid=info.kid,
                batch_size=args.batch_size,
                total=total,
                on_progress=None if args.quiet else rekey.progress_bar,
            )
            since = await qr_service.rekeyed_since(kid=info.kid)
        finally:
            qr_service.set_keyring(None)
        if not args.quiet and total:
            print(file=sys.stderr)
        for failure in result.failed:
            print(f"not reissued: {failure}")
        print(
            f"{result.reissued:,} codes signed by {info.kid} reissued with {cache.get().active_kid} "
            f"in {result.seconds:.1f} s; {len(result.failed):,} could not be"
        )
        if since is not None:
            # Every old sticker now answers `superseded`: print the new ones.
            for kind in sorted(await _kinds_rekeyed(info.kid)):
                print(f"new stickers: gmid qr sheet --kind {kind} --reissued-since {since.isoformat()} --out FILE.pdf")
        return 1 if result.failed else 0

    return _run(go, settings, scan_cache=True)


async def _kinds_rekeyed(kid: str) -> set[str]:
    from qr import service as qr_service
    from qr.models import RevocationEntry

    rows = await RevocationEntry.filter(reason=qr_service.rekey_reason(kid)).distinct().values_list("kind", flat=True)
    return {str(kind) for kind in rows}


SHOWN_REJECTIONS = 200  # on the terminal; --report FILE has them all


def cmd_import_buildings(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every row was imported, 1 when some were rejected (the good ones are imported),
    2 when the file cannot be used at all, 3 when the database could not take the import; in the
    last two cases nothing was imported (the rows are written in one transaction, all or none)."""
    import tempfile
    from pathlib import Path

    from tortoise.exceptions import BaseORMException

    from identity import hierarchy
    from miniapp_api.buildings import demo, importer
    from qr import service as qr_service
    from qr.keys import KeyringCache
    from server.sqlite import DatabaseBusy

    if bool(args.file) == bool(args.demo):
        raise CLIError("give the FILE to import, or --demo for the generated demo buildings")
    if args.count is not None and not args.demo:
        raise CLIError("--count goes with --demo")
    written = False

    async def go() -> int:
        nonlocal written
        qr_service.set_keyring(KeyringCache(settings.keys_path))
        try:
            with tempfile.TemporaryDirectory(prefix="gmid-buildings-") as tmp:
                if args.demo:
                    loaded = await hierarchy.load_file(hierarchy.demo_file())
                    print(f"hierarchy: {loaded.created} created, {loaded.updated} updated, {loaded.unchanged} same")
                    path = Path(tmp) / "buildings-demo.csv"
                    demo.write_demo_file(path, demo.DEMO_COUNT if args.count is None else args.count)
                else:
                    path = Path(args.file)
                progress = None if args.quiet else importer.progress_bar
                try:
                    result = await importer.import_file(path, progress=progress)
                    written = True
                except importer.ImportFileError as exc:
                    for problem in exc.problems:
                        print(problem)
                    print(f"gmid: {exc.message}; nothing was imported", file=sys.stderr)
                    return 2
        finally:
            qr_service.set_keyring(None)
        if not args.quiet:
            print(file=sys.stderr)
        for rejected in result.rejected[:SHOWN_REJECTIONS]:
            print(rejected)
        if len(result.rejected) > SHOWN_REJECTIONS:
            more = len(result.rejected) - SHOWN_REJECTIONS
            where = f"all in {args.report}" if args.report else "all of them: --report FILE"
            print(f"... and {more:,} more ({where})")
        if args.report:
            importer.write_report(Path(args.report), result.rejected)
        if result.ignored_columns:
            print(f"ignored columns: {', '.join(result.ignored_columns)}")
        print(
            f"buildings: {result.rows:,} rows, {result.imported:,} imported ({result.created:,} created, "
            f"{result.updated:,} updated, {result.unchanged:,} unchanged), {result.rejected_lines:,} rejected "
            f"in {result.seconds:.1f} s ({result.rows / max(result.seconds, 1e-9):,.0f} rows/s)"
        )
        return 1 if result.rejected else 0

    def failed(why: str) -> int:
        # After a progress bar, on a line of its own.
        print(("\n" if not args.quiet else "") + f"gmid: {why}; nothing was imported", file=sys.stderr)
        return 3

    try:
        return _run(go, settings, scan_cache=True)
    except DatabaseBusy:
        return failed(
            f"the database stayed busy with another process's write for {settings.sqlite_busy_timeout} s "
            "(GMID_SQLITE_BUSY_TIMEOUT); run the import again"
        )
    except (BaseORMException, OSError) as exc:
        # The kind of failure only: a database's message may quote a row's values (personal data).
        strerror = getattr(exc, "strerror", None)
        return failed(f"the database failed ({type(exc).__name__}{': ' + strerror if strerror else ''})")
    except KeyboardInterrupt:
        if written:
            raise
        print(("\n" if not args.quiet else "") + "gmid: interrupted; nothing was imported", file=sys.stderr)
        return 130


def cmd_buildings_demo_file(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from miniapp_api.buildings import demo

    count = demo.write_demo_file(Path(args.out), demo.DEMO_COUNT if args.count is None else args.count)
    print(f"{count:,} demo buildings -> {args.out}")
    return 0


def cmd_reports_train(args: argparse.Namespace, settings: Settings) -> int:
    """Retrain the report classifier and save the next version; running apps load it by themselves.
    With --ship: remake the model shipped in the package from the bundled messages alone (`make model`)."""
    import time
    from pathlib import Path

    from miniapp_api.clinic import classifier, training

    if args.ship:
        if args.messages or args.if_missing:
            print("--ship trains on the bundled messages alone (no --messages, no --if-missing)", file=sys.stderr)
            return 2
        started = time.monotonic()
        model = classifier.ship()
        size = sum(p.stat().st_size for p in classifier.SHIPPED.iterdir() if p.is_file())
        print(
            f"shipped {model.version} trained on {model.data['rows']:,} messages "
            f"(SHA-256 {model.data['sha256'][:16]}…) in {time.monotonic() - started:.0f} s, "
            f"cross-validated macro-F1 {model.metadata.get('cv_macro_f1_mean')} -> {classifier.SHIPPED} "
            f"({size / 1e6:.1f} MB)"
        )
        return 0
    if args.if_missing:
        from miniapp_api.clinic import analysis

        present = classifier.load_latest(analysis.model_dir(settings.var_dir))
        if present is not None:
            print(f"classifier {present.version} present; not retrained")
            return 0

    async def go() -> int:
        messages = Path(args.messages) if args.messages else None
        model, path, found = await training.retrain(settings.var_dir, messages)
        print(
            f"trained {model.version} on {len(found.samples):,} texts ({found.public:,} public messages, "
            f"{found.corrected:,} categories confirmed or corrected here, {found.confirmed:,} reports dispatched "
            f"as filed) -> {path}"
        )
        return 0

    return _run(go, settings)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Every feature's background jobs in one process, apart from the web servers (run one or more,
    on any machine, with GMID_NOTIFY_WORKER=false on the web servers)."""
    from server.logs import configure_logging
    from server.worker import all_jobs, run_worker

    only = set(args.job or ())
    try:
        names = [job.name for job in all_jobs(settings, only)]
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    configure_logging(settings.log_level)
    if not args.once:
        print(f"gmid: background jobs running: {', '.join(names)} (Ctrl-C to stop)", flush=True)
    asyncio.run(run_worker(settings, once=args.once, only=only))
    if args.once:
        print(f"gmid: ran {', '.join(names)} once")
    return 0


def cmd_notify_worker(args: argparse.Namespace, settings: Settings) -> int:
    """The notification dispatcher alone (`gmid worker --job notify.dispatcher`, with its own knobs)."""
    from notify.dispatcher import Policy
    from notify.worker import DISPATCHER_JOB, dispatcher_of
    from server.logs import configure_logging
    from server.worker import run_worker

    changes: dict[str, Any] = {}
    for flag, attr, value, most in (
        ("--concurrency", "notify_concurrency", args.concurrency, 256),  # GMID_NOTIFY_CONCURRENCY's range
        ("--batch-size", "notify_batch_size", args.batch_size, 1000),
    ):
        if value is not None:
            if not 1 <= value <= most:
                raise CLIError(f"{flag} must be from 1 to {most}")
            changes[attr] = value
    settings = settings.replace(**changes)
    Policy.from_settings(settings)  # a bad combination stops here with one line
    configure_logging(settings.log_level)
    if not args.once:
        print("gmid: notification dispatcher running (Ctrl-C to stop)", flush=True)
    ctx = asyncio.run(run_worker(settings, once=args.once, only={DISPATCHER_JOB}))
    if args.once:
        print(f"gmid: sent {dispatcher_of(ctx).sent_count} notification(s)")
    return 0


SECRET_SETTINGS = frozenset(
    {
        "wechat_secret",
        "wechat_oa_secret",
        "wechat_oa_token",
        "access_token_secret",
        "pii_keys",
        "pii_index_key",
        "sms_secret_key",
        "sms_callback_token",
        "smtp_password",
    }
)


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    from server.settings import SPECS

    for spec in SPECS:
        value = getattr(settings, spec.attr)
        secret = spec.attr in SECRET_SETTINGS
        shown = "(set)" if secret and value else value
        if spec.attr in {"database_url", "redis_url"} and isinstance(value, str):
            shown = hide_password(value)
        print(f"{spec.env}={shown if shown is not None else ''}")
    return 0


def hide_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# The parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gmid", description="Guangming e-ID service")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP server")
    p.add_argument("--workers", type=int)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--dev", action="store_true", help="auto-reload and debug (never in production)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "migrate",
        help="bring the database to the current schema; into an empty hierarchy, load Guangming District's",
    )
    p.add_argument(
        "--no-hierarchy",
        action="store_true",
        help="schema only: leave an empty hierarchy empty (to load another one with load-hierarchy FILE)",
    )
    p.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="secret keys under VAR_DIR/keys").add_subparsers(dest="keys_cmd", required=True)
    p = keys.add_parser("init", help="create every missing key")
    p.set_defaults(func=cmd_keys_init)
    p = keys.add_parser("rotate", help="a new QR signing key signs from now on (older keys keep verifying)")
    p.set_defaults(func=cmd_keys_rotate)
    p = keys.add_parser("retire", help="stop accepting codes signed by a QR key (reissue them first)")
    p.add_argument("kid", help="the key's kid (or its first 8 characters, for keys made before full kids)")
    p.add_argument("--force", action="store_true", help="retire even while active codes it signed remain")
    p.set_defaults(func=cmd_keys_retire)
    p = keys.add_parser("list", help="the QR signing keys and their status")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("rotate-pii", help="add a PII encryption key and make it the active one")
    p.set_defaults(func=cmd_keys_rotate_pii)

    p = sub.add_parser("create-staff", help="create a staff account")
    p.add_argument("username")
    p.add_argument("--role", required=True)
    p.add_argument("--node", required=True, help="hierarchy node code, e.g. GM01")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_create_staff)

    p = sub.add_parser(
        "seed-demo", help="demo grids (4 per community), one staff account of each role, a few residents"
    )
    p.add_argument("--password-stdin", action="store_true", help="one password for every demo staff account")
    p.set_defaults(func=cmd_seed_demo)

    p = sub.add_parser("load-hierarchy", help="load or update the hierarchy from a JSON or CSV file")
    p.add_argument("file", nargs="?", help="default: Guangming District's official district, streets and communities")
    p.set_defaults(func=cmd_load_hierarchy)

    p = sub.add_parser("token", help="print an access token for an existing account")
    p.add_argument("account", help="username, account id or WeChat openid (demo residents: demo-openid-1..3)")
    p.add_argument("--ttl", type=int, help="lifetime in seconds")
    p.set_defaults(func=cmd_token)

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_cmd", required=True)
    p = audit.add_parser("verify", help="check the hash chain; report the first broken link")
    p.set_defaults(func=cmd_audit_verify)

    qr = sub.add_parser("qr", help="QR e-ID codes").add_subparsers(dest="qr_cmd", required=True)
    p = qr.add_parser("verify", help="verify a code: a PNG/JPEG image, a scanned URL or a bare token")
    p.add_argument("code")
    p.set_defaults(func=cmd_qr_verify)
    p = qr.add_parser("sheet", help="print A4 sticker sheets (PDF) for every active credential of a kind")
    p.add_argument("--kind", required=True)
    p.add_argument("--node", help="only credentials under this hierarchy node")
    p.add_argument(
        "--reissued-since",
        metavar="TIME",
        help="only codes reissued since TIME (ISO 8601; UTC unless it has an offset): the stickers to replace",
    )
    p.add_argument("--out", required=True, help="the PDF file to write")
    p.add_argument("--workers", type=int, help="processes (default: every core)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_qr_sheet)
    p = qr.add_parser("reissue", help="reissue, with the active key, every active code a key signed (resumable)")
    p.add_argument("--kid", required=True, help="the key whose codes to reissue (full kid or legacy 8 characters)")
    p.add_argument("--batch-size", type=int, default=200, help="credentials per transaction (default 200)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_qr_reissue)

    imports = sub.add_parser("import", help="import district files").add_subparsers(dest="import_cmd", required=True)
    p = imports.add_parser("buildings", help="rental buildings from CSV (UTF-8) or XLSX; re-import updates by code")
    p.add_argument("file", nargs="?", help="the .csv or .xlsx file (header on line 1)")
    p.add_argument("--demo", action="store_true", help="generate the 15,016 demo buildings and import them")
    p.add_argument("--count", type=int, help="with --demo: how many buildings (default 15,016)")
    p.add_argument("--report", help="also write the rejected rows (line, column, reason) to this CSV file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import_buildings)

    buildings = sub.add_parser("buildings", help="rental buildings").add_subparsers(dest="buildings_cmd", required=True)
    p = buildings.add_parser("demo-file", help="write the generated demo buildings file (CSV, or .xlsx by suffix)")
    p.add_argument("out")
    p.add_argument("--count", type=int, help="how many buildings (default 15,016)")
    p.set_defaults(func=cmd_buildings_demo_file)

    reports = sub.add_parser("reports", help="明心桥 reports").add_subparsers(dest="reports_cmd", required=True)
    p = reports.add_parser("train", help="retrain the report classifier (a new version under VAR_DIR/models)")
    p.add_argument("--messages", help="the labelled messages CSV (id,title,text,label); default: the bundled one")
    p.add_argument("--if-missing", action="store_true", help="only when no model has been trained here yet")
    p.add_argument(
        "--ship",
        action="store_true",
        help="remake the model shipped in the package from the bundled messages (make model)",
    )
    p.set_defaults(func=cmd_reports_train)

    p = sub.add_parser("worker", help="run the background jobs (notifications, SLA timers, report analysis)")
    p.add_argument("--once", action="store_true", help="run each job once (what is due now), then exit")
    p.add_argument("--job", action="append", metavar="NAME", help="only this job (repeat for several)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("notify-worker", help="run the notification dispatcher (outbox -> WeChat, SMS, email)")
    p.add_argument("--once", action="store_true", help="send what is due now, then exit")
    p.add_argument("--concurrency", type=int, help="sends in flight at once (GMID_NOTIFY_CONCURRENCY)")
    p.add_argument("--batch-size", type=int, help="rows claimed at a time (GMID_NOTIFY_BATCH_SIZE)")
    p.set_defaults(func=cmd_notify_worker)

    p = sub.add_parser("settings", help="print the effective settings (secrets hidden)")
    p.set_defaults(func=cmd_settings)
    return parser


def _kid_not_an_option(argv: list[str]) -> list[str]:
    """A kid is base64url and may start with "-": `gmid keys retire -Ab3xYz9` and
    `gmid qr reissue --kid -Ab3xYz9` must not read it as an option."""
    if argv[:2] == ["keys", "retire"] and "--" not in argv:
        flags = [a for a in argv[2:] if a in ("--force", "-h", "--help")]
        rest = [a for a in argv[2:] if a not in flags]
        if len(rest) == 1 and rest[0].startswith("-"):
            return [*argv[:2], *flags, "--", rest[0]]
    if argv[:2] == ["qr", "reissue"]:
        out = list(argv)
        for i in range(2, len(out) - 1):
            if out[i] == "--kid" and out[i + 1].startswith("-"):
                return [*out[:i], f"--kid={out[i + 1]}", *out[i + 2 :]]
    return argv


def main(argv: list[str] | None = None) -> int:
    # Everything gmid creates (the SQLite file, keys, sockets) is for its owner alone.
    os.umask(0o077)
    parser = build_parser()
    args = parser.parse_args(_kid_not_an_option(list(sys.argv[1:] if argv is None else argv)))
    try:
        settings = Settings.from_env()
        code: int = args.func(args, settings)
        return code
    except (SettingsError, CLIError) as exc:
        print(f"gmid: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gmid: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an operator gets one line; the class name says what kind of failure
        from identity.validators import InvalidIdNumber
        from server.errors import AppError
        from server.keyfiles import KeyFileError

        if isinstance(exc, AppError):
            print(f"gmid: {exc.message}", file=sys.stderr)
            return 1
        if isinstance(exc, KeyFileError | InvalidIdNumber):
            print(f"gmid: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
