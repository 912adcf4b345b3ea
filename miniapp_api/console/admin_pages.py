"""The administrators' console pages: staff accounts, QR signing keys, sticker sheets, notification
dead letters and the building import.

Each page is a shell; its script reads and acts through the admin API routes (same guards, same
scoping by the administrator's node), and the page may be opened by exactly the roles of those routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from identity import routes as identity_routes
from identity.roles import STAFF_ROLES, Role
from miniapp_api.console import pages
from miniapp_api.console.render import page
from notify import routes as notify_routes
from qr import admin_routes as qr_admin_routes
from server.auth import requires
from server.validation import errors, responds

bp = Blueprint("console_admin", url_prefix="/console/admin")


def api_roles(*handlers: object) -> tuple[Role, ...]:
    # Sanic's route decorators hide the handlers' callable type from mypy: they are the handlers.
    return pages.roles_of(*cast("tuple[Callable[..., Any], ...]", handlers))


ACCOUNT_ROLES = api_roles(identity_routes.list_accounts, identity_routes.create_staff, identity_routes.update_account)
KEY_ROLES = api_roles(qr_admin_routes.list_keys, qr_admin_routes.rotate_key, qr_admin_routes.retire_key)
NOTIFICATION_ROLES = api_roles(notify_routes.list_notifications, notify_routes.retry_notification)

pages.add_nav("员工账号", "/console/admin/accounts", ACCOUNT_ROLES, order=80)
pages.add_nav("二维码密钥", "/console/admin/qr-keys", KEY_ROLES, order=82)
pages.add_nav("通知死信", "/console/admin/notifications", NOTIFICATION_ROLES, order=84)

# The staff roles an administrator may create, in the order the form lists them.
CREATABLE = [(role.value, name) for role, name in pages.ROLE_NAMES.items() if role in STAFF_ROLES]


@bp.get("/accounts", name="console.admin.accounts")
@requires(*ACCOUNT_ROLES)
@responds(200, None, "The staff accounts page", media="text/html")
@errors(401, 403)
async def accounts(request: Request) -> HTTPResponse:
    """Staff accounts of the administrator's part of the hierarchy: list, create, disable and enable (HTML)."""
    return page(request, "admin_accounts.html", title="员工账号", roles=CREATABLE)


@bp.get("/qr-keys", name="console.admin.qr_keys")
@requires(*KEY_ROLES)
@responds(200, None, "The QR signing keys page", media="text/html")
@errors(401, 403)
async def qr_keys(request: Request) -> HTTPResponse:
    """The QR signing keys: list, rotate, retire (HTML; the district administration only)."""
    qr_admin_routes.district_admin(request)
    return page(request, "admin_qr_keys.html", title="二维码密钥")


@bp.get("/notifications", name="console.admin.notifications")
@requires(*NOTIFICATION_ROLES)
@responds(200, None, "The notification dead letters page", media="text/html")
@errors(401, 403)
async def notifications(request: Request) -> HTTPResponse:
    """Notifications of the administrator's scope, the dead letters first, with retry (HTML)."""
    return page(request, "admin_notifications.html", title="通知死信")
