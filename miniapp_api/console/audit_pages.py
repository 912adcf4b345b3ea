"""The audit log page for administrators: ``GET /api/v1/admin/audit`` with its filters (actor, action,
time range), page by page. The rows an administrator sees are the API's: a street administrator sees
their part of the hierarchy only."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from identity import routes as identity_routes
from identity import scope as identity_scope
from miniapp_api.console import pages
from miniapp_api.console.render import page
from server.auth import require_principal, requires
from server.validation import errors, responds

bp = Blueprint("console_audit", url_prefix="/console")


ROLES = pages.roles_of(identity_routes.list_audit)
pages.add_nav("审计日志", "/console/audit", ROLES, order=90)

# Chinese names of the actions staff look for most; any other action shows as its code.
ACTIONS = {
    "police.ebike_lookup": "民警查询车主",
    "police.building_landlord": "民警查看房东信息",
    "police.building_landlord_search": "民警按手机号查房屋",
    "building.landlord_search": "按房东查房屋",
    "account.create": "创建账号",
    "account.enable": "启用/停用账号",
    "account.read": "查看账号",
    "account.id_number_change": "更正身份证号",
    "credential.revoke": "吊销二维码",
    "credential.reissue": "补发二维码",
    "notification.retry": "重发通知",
    "device.valve_open": "远程开阀",
    "device.building_rules": "修改楼栋报警规则",
    "device.silence_create": "设置报警静默",
    "device.silence_lift": "解除报警静默",
}


@bp.get("/audit", name="console.audit")
@requires(*ROLES)
@responds(200, None, "The audit log page", media="text/html")
@errors(401, 403)
async def audit(request: Request) -> HTTPResponse:
    """Administrators read the hash-chained audit log with filters (HTML; the data is
    GET /api/v1/admin/audit). Filters may be given in the address: ?actor=&action=&since=&until=."""
    district = identity_scope.is_district_level(require_principal(request))
    return page(request, "audit.html", title="审计日志", actions=ACTIONS, can_verify=district)
