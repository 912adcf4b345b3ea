"""What people read about devices and alarms (Chinese): names of device types, alarm types and
severities. Imports nothing of the package, so every module may use it."""

from __future__ import annotations

from miniapp_api.devices.rules import DeviceType, Severity

SEVERITY_ZH = {Severity.WARNING: "预警", Severity.MAJOR: "重要", Severity.CRITICAL: "紧急"}
TYPE_ZH = {
    DeviceType.GAS.value: "燃气报警器",
    DeviceType.SMOKE.value: "烟感报警器",
    DeviceType.WATER.value: "水质监测仪",
    DeviceType.NOISE.value: "噪声监测仪",
    DeviceType.AIR.value: "空气监测仪",
    DeviceType.VALVE.value: "燃气阀门",
    DeviceType.GATEWAY.value: "网关",
}
ALARM_ZH = {
    "gas": "燃气浓度超标",
    "smoke": "烟雾报警",
    "ph_low": "水质pH偏低",
    "ph_high": "水质pH偏高",
    "turbidity": "水质浑浊度超标",
    "chlorine_low": "余氯偏低",
    "chlorine_high": "余氯偏高",
    "noise": "噪声超标",
    "pm25": "PM2.5超标",
    "battery_low": "电量低",
    "low_battery": "电量低",
    "tamper": "设备被拆动",
    "fault": "设备故障",
    "offline": "设备离线",
    "valve_failed": "阀门关闭失败",
}
