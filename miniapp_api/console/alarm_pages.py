"""The alarm board and a device's page: open sensor alarms of the caller's area by severity, kept live by
``GET /api/v1/device-alarms/stream``, acknowledged, cleared and silenced through the alarm API; and a
device's readings as a chart (``GET /api/v1/devices/<id>/readings``). Every row comes from the API, so
its area scoping is the API's."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from miniapp_api.console import pages
from miniapp_api.console.render import page
from miniapp_api.devices import labels, reading_routes, registry, silence_routes
from miniapp_api.devices import routes as device_routes
from miniapp_api.devices.rules import METRICS_BY_TYPE, DeviceType
from server.auth import require_principal, requires
from server.validation import errors, responds

bp = Blueprint("console_alarms", url_prefix="/console")


BOARD_ROLES = pages.roles_of(
    device_routes.list_alarms,
    device_routes.alarms_stream,
    device_routes.acknowledge_alarm,
    device_routes.clear_alarm,
    silence_routes.create_silence,
)
DEVICE_ROLES = pages.roles_of(device_routes.get_device, reading_routes.chart)
pages.add_nav("报警看板", "/console/alarms", BOARD_ROLES, order=40)

METRIC_ZH = {
    "gas_lel_pct": "燃气浓度（%LEL）",
    "smoke": "烟雾（1 为有烟）",
    "ph": "pH 值",
    "turbidity_ntu": "浑浊度（NTU）",
    "free_chlorine_mg_l": "余氯（mg/L）",
    "noise_dba": "噪声（dB(A)）",
    "pm25_ugm3": "PM2.5（μg/m³）",
    "battery_pct": "电量（%）",
    "valve_state": "阀门（1 开 0 关）",
    "temperature_c": "温度（℃）",
    "humidity_pct": "湿度（%）",
    "signal_dbm": "信号强度（dBm）",
}
# The metric a chart of each device type opens with.
MAIN_METRIC = {
    DeviceType.GAS: "gas_lel_pct",
    DeviceType.SMOKE: "smoke",
    DeviceType.WATER: "ph",
    DeviceType.NOISE: "noise_dba",
    DeviceType.AIR: "pm25_ugm3",
    DeviceType.VALVE: "valve_state",
    DeviceType.GATEWAY: "signal_dbm",
}


def _labels() -> dict[str, dict[str, str]]:
    return {
        "severity": {k.value: v for k, v in labels.SEVERITY_ZH.items()},
        "device_type": dict(labels.TYPE_ZH),
        "alarm_type": dict(labels.ALARM_ZH),
        "metric": dict(METRIC_ZH),
    }


@bp.get("/alarms", name="console.alarms")
@requires(*BOARD_ROLES)
@responds(200, None, "The alarm board", media="text/html")
@errors(401, 403)
async def alarms(request: Request) -> HTTPResponse:
    """Open sensor alarms of your area by severity, updated live; acknowledge, clear, silence (HTML)."""
    return page(request, "alarms.html", title="报警看板", labels=_labels())


@bp.get("/devices/<device_id:str>", name="console.device")
@requires(*DEVICE_ROLES)
@responds(200, None, "A device's page with its readings chart", media="text/html")
@errors(401, 403, 404)
async def device(request: Request, device_id: str) -> HTTPResponse:
    """A device of your area and a chart of its readings (HTML; 404 for a device elsewhere, as the API)."""
    found = await registry.staff_device(viewer=require_principal(request), public_id=device_id)
    kind = DeviceType(found.type)
    metrics = sorted(METRICS_BY_TYPE[kind], key=lambda m: (m != MAIN_METRIC[kind], m))
    return page(
        request,
        "device.html",
        title=f"设备 {found.serial}",
        device_id=found.public_id,
        metrics=[(m, METRIC_ZH.get(m, m)) for m in metrics],
        labels=_labels(),
    )
