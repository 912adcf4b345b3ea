"""The administrators' console pages: staff accounts, QR signing keys, sticker sheets, notification
dead letters and the building import.

Each page is a shell; its script reads and acts through the admin API routes (same guards, same
scoping by the administrator's node), and the page may be opened by exactly the roles of those routes.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from identity import routes as identity_routes
from identity.hierarchy import code_of
from identity.roles import STAFF_ROLES
from identity.scope import is_district_level
from miniapp_api.buildings import routes as building_routes
from miniapp_api.console import pages
from miniapp_api.console.render import page
from notify import routes as notify_routes
from qr import admin_routes as qr_admin_routes
from qr import kinds
from server.auth import require_principal, requires
from server.validation import errors, responds

bp = Blueprint("console_admin", url_prefix="/console/admin")


ACCOUNT_ROLES = pages.roles_of(
    identity_routes.list_accounts, identity_routes.create_staff, identity_routes.update_account
)
KEY_ROLES = pages.roles_of(qr_admin_routes.list_keys, qr_admin_routes.rotate_key, qr_admin_routes.retire_key)
SHEET_ROLES = pages.roles_of(qr_admin_routes.start_sheets, qr_admin_routes.get_sheets, qr_admin_routes.sheets_pdf)
IMPORT_ROLES = pages.roles_of(building_routes.import_buildings)
NOTIFICATION_ROLES = pages.roles_of(notify_routes.list_notifications, notify_routes.retry_notification)

pages.add_nav("员工账号", "/console/admin/accounts", ACCOUNT_ROLES, order=80)
pages.add_nav("二维码密钥", "/console/admin/qr-keys", KEY_ROLES, order=82, when=is_district_level)
pages.add_nav("贴纸打印", "/console/admin/sheets", SHEET_ROLES, order=83)
pages.add_nav("出租屋导入", "/console/admin/buildings", IMPORT_ROLES, order=85, when=is_district_level)
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


@bp.get("/sheets", name="console.admin.sheets")
@requires(*SHEET_ROLES)
@responds(200, None, "The sticker sheets page", media="text/html")
@errors(401, 403)
async def sheets(request: Request) -> HTTPResponse:
    """Sticker sheets of the administrator's part of the hierarchy: start a print job, follow it,
    download the PDF (HTML)."""
    principal = require_principal(request)
    node = code_of(principal.node_path) if principal.node_path else ""
    choices = [(kind.name, kind.title) for kind in kinds.all_kinds()]
    return page(request, "admin_sheets.html", title="贴纸打印", kinds=choices, node=node)


@bp.get("/notifications", name="console.admin.notifications")
@requires(*NOTIFICATION_ROLES)
@responds(200, None, "The notification dead letters page", media="text/html")
@errors(401, 403)
async def notifications(request: Request) -> HTTPResponse:
    """Notifications of the administrator's scope, the dead letters first, with retry (HTML)."""
    return page(request, "admin_notifications.html", title="通知死信")


@bp.get("/buildings", name="console.admin.buildings")
@requires(*IMPORT_ROLES)
@responds(200, None, "The building import page", media="text/html")
@errors(401, 403)
async def buildings(request: Request) -> HTTPResponse:
    """Upload a buildings file and see its report (HTML; the district administration only)."""
    building_routes.district_importer(request)
    return page(request, "admin_buildings.html", title="出租屋导入")
