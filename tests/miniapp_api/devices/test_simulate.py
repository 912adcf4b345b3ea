"""`gmid devices simulate`: simulated devices registered once and reused, signed readings over real HTTP
to the test app in gateway batches, and the gas-leak scenario's warning then critical alarm with the
demo household's notifications, and the same over MQTT through a real Mosquitto."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from identity.models import Account
from identity.roles import Role
from miniapp_api.buildings.models import Building
from miniapp_api.devices.models import Device, DeviceAlarm, DeviceCommand, DeviceMember
from notify.models import Notification
from server.settings import Settings
from tests.miniapp_api.devices.conftest import buildings, user
from tests.support.cli import gmid
from tests.support.mosquitto import Mosquitto


async def test_gas_leak_raises_a_warning_then_a_critical_alarm_and_tells_the_household(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    resident = await user(app, Role.RESIDENT, phone="13900003001", openid="demo-openid-1")
    args = ("devices", "simulate", "--count", "6", "--rate", "6", "--scenario", "gas-leak")
    code, out, err = await gmid(settings, *args, "--building", "GM0101010001", "--url", str(client.base_url))
    assert code == 0, out + err
    assert "building GM0101010001: 6 devices behind 1 gateways (8 registered now" in out
    assert "gas leak on SIM-GM0101010001-00001, bound to 1 demo resident(s)" in out
    changes = [line for line in out.splitlines() if line.startswith("alarm ")]
    assert [c.split(" (")[0] for c in changes] == [
        "alarm raise: gas warning on SIM-GM0101010001-00001",
        "alarm severity: gas critical on SIM-GM0101010001-00001",
    ]
    assert " 0 refused, 0 requests failed; 2 alarm changes; valve commands confirmed: 1" in out
    # The critical alarm shut the valve: the command came in the gateway's answer and was confirmed.
    [command] = await DeviceCommand.all()
    assert (command.action, command.state) == ("close", "confirmed")
    assert any(line.startswith("valve SIM-GM0101010001-V00001: close done, confirmed") for line in out.splitlines())

    detector = await Device.get(serial="SIM-GM0101010001-00001")
    valve = await Device.get(serial="SIM-GM0101010001-V00001")
    gateway = await Device.get(serial="SIM-GM0101010001-GW001")
    assert (detector.valve_id, detector.gateway_id, valve.type) == (valve.id, gateway.id, "valve")
    [alarm] = await DeviceAlarm.filter(device_id=detector.id)
    assert (alarm.alarm_type, alarm.severity, alarm.cleared_at) == ("gas", "critical", None)
    assert await DeviceMember.exists(device_id=detector.id, account_id=resident.account.id)
    notices = await Notification.filter(account_id=resident.account.id).order_by("id")
    assert [n.template for n in notices][:2] == ["device.alarm", "device.alarm"]
    assert any("sms" in n.channels for n in notices)  # critical gas: by SMS too
    # Only the leak alarmed: the other devices' readings were quiet, and all reached the service.
    assert await DeviceAlarm.all().count() == 1
    # Nine seconds (the ramp and the valve's answer), one gateway batch a second: the leak's reading and five
    # quiet ones, and once the valve's confirmation with its shut state.
    assert "sent 56 readings in 9 requests" in out and ": 56 accepted, 0 duplicates" in out, out
    # No secret was printed or kept in the state file.
    state = (Path(settings.var_dir) / "device-simulator.json").read_text(encoding="utf-8")
    assert json.loads(state)["buildings"]["GM0101010001"]["leak"] == "SIM-GM0101010001-00001"
    from miniapp_api.devices.registry import secret_of

    for device in await Device.filter(serial__startswith="SIM-"):
        assert secret_of(device) not in out + err + state


async def test_a_second_run_reuses_the_devices_and_without_buildings_makes_a_demo_one(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    args = ("devices", "simulate", "--count", "3", "--rate", "9", "--seconds", "1", "--url", str(client.base_url))
    code, out, err = await gmid(settings, *args)
    assert code == 0, out + err
    [building] = await Building.all()
    assert f"building {building.code}: 3 devices behind 1 gateways (4 registered now" in out
    assert "sent 9 readings in 1 requests" in out and "9 accepted" in out, out

    code, out, err = await gmid(settings, *args)
    assert code == 0, out + err
    assert f"building {building.code}: 3 devices behind 1 gateways (0 registered now" in out
    assert "9 duplicates" not in out  # new readings, new times
    assert await Device.all().count() == 4 and await Building.all().count() == 1


async def test_bad_arguments_and_a_service_that_refuses_are_one_line_each(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    code, _, err = await gmid(settings, "devices", "simulate", "--count", "0")
    assert code == 2 and err.strip() == "gmid: --count is from 1 to 100,000"
    code, _, err = await gmid(settings, "devices", "simulate", "--building", "GM0101019999")
    assert code == 2 and "no building with this code" in err
    assert await Device.all().count() == 0
    # Nobody answers on this port: the requests fail, said once each, exit 1.
    code, out, err = await gmid(
        settings, "devices", "simulate", "--count", "2", "--seconds", "1", "--url", "http://127.0.0.1:9"
    )
    assert code == 1, out + err
    assert "no answer (ConnectError)" in out and "1 requests failed" in out and "Traceback" not in err
    assert not await Account.filter(wechat_openid="demo-openid-1").exists()


@pytest.mark.usefixtures("service")
async def test_the_gas_leak_over_mqtt_ends_with_the_valve_shut(
    app: Sanic, client: httpx.AsyncClient, notify_settings: Settings, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    await user(app, Role.RESIDENT, phone="13900003002", openid="demo-openid-1")
    over_mqtt = dataclasses.replace(notify_settings, mqtt_url=mosquitto.url)
    args = ("devices", "simulate", "--count", "3", "--rate", "3", "--scenario", "gas-leak", "--building")
    code, out, err = await gmid(over_mqtt, *args, "GM0101010001", "--url", str(client.base_url))
    assert code == 0, out + err
    changes = [line.split(" (")[0] for line in out.splitlines() if line.startswith("alarm ")]
    assert changes == [
        "alarm raise: gas warning on SIM-GM0101010001-00001",
        "alarm severity: gas critical on SIM-GM0101010001-00001",
    ]
    assert "requests to the MQTT broker" in out and "valve commands confirmed: 1" in out, out
    [command] = await DeviceCommand.all()
    assert (command.action, command.state) == ("close", "confirmed")


async def test_without_building_it_never_picks_a_real_one(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await buildings(tmp_path)  # real buildings of the register
    args = ("devices", "simulate", "--count", "2", "--rate", "2", "--seconds", "1", "--url", str(client.base_url))
    code, out, err = await gmid(settings, *args)
    assert code == 0, out + err
    demo = await Building.get(address="光明区演示楼栋（设备模拟）")
    assert f"building {demo.code}:" in out
    real = await Building.filter(code__in=["GM0101010001", "GM0101020001"]).values_list("id", flat=True)
    assert not await Device.filter(building_id__in=list(real)).exists()
