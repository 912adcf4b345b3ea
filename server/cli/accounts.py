"""Accounts and the hierarchy they sit in: ``gmid create-staff``, ``seed-demo``, ``load-hierarchy``, ``token``."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from datetime import date
from typing import TYPE_CHECKING

from server.cli.common import CLIError, run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from identity.hierarchy import LoadResult
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    p = commands.add_parser("create-staff", help="create a staff account")
    p.add_argument("username")
    p.add_argument("--role", required=True)
    p.add_argument("--node", required=True, help="hierarchy node code, e.g. GM01")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_create_staff)

    p = commands.add_parser(
        "seed-demo", help="demo grids (4 per community), one staff account of each role, a few residents"
    )
    p.add_argument("--password-stdin", action="store_true", help="one password for every demo staff account")
    p.set_defaults(func=cmd_seed_demo)

    p = commands.add_parser("load-hierarchy", help="load or update the hierarchy from a JSON or CSV file")
    p.add_argument("file", nargs="?", help="default: Guangming District's official district, streets and communities")
    p.set_defaults(func=cmd_load_hierarchy)

    p = commands.add_parser("token", help="print an access token for an existing account")
    p.add_argument("account", help="username, account id or WeChat openid (demo residents: demo-openid-1..3)")
    p.add_argument("--ttl", type=int, help="lifetime in seconds")
    p.set_defaults(func=cmd_token)


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

    return run_with_db(go, settings)


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

    return run_with_db(go, settings)


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
        print(_loaded(result))
        return 0

    return run_with_db(go, settings)


def _loaded(result: LoadResult) -> str:
    return f"hierarchy: {result.created} created, {result.updated} updated, {result.unchanged} unchanged"


DEMO_STAFF = [
    ("admin", "admin", "GM"),
    ("street.admin", "admin", "GM01"),
    ("police", "police", "GM01"),
    ("officer", "officer", "GM0101"),
    ("grid.worker", "grid_staff", "GM010101"),
    ("party.member", "party_member", "GM010101"),
    ("health.worker", "health_staff", "GM0101"),
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
        print(_loaded(result))
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
        from miniapp_api.jobs.demo_seed import seed_jobs

        for line in await seed_jobs(password=password):
            print(f"jobs: {line}")
        return 0

    return run_with_db(go, settings)
