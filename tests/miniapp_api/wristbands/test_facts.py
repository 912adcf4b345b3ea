"""Facts read back from the database open from the vault and feed the same rules."""

from __future__ import annotations

import datetime as dt

from identity.roles import Role
from miniapp_api.wristbands import engine, facts
from miniapp_api.wristbands.models import HealthStatus, Trip
from tests.factories import make_account
from tests.miniapp_api.wristbands import seed


async def test_a_persons_facts_open_and_give_their_windows(running: object) -> None:
    resident = await make_account(Role.RESIDENT)
    await seed.status(resident, "red")
    await seed.trip(resident, "420106", dt.date(2026, 11, 15), dt.date(2026, 11, 18))
    await seed.key_area("420100", dt.date(2026, 11, 1), dt.date(2026, 11, 20))
    read = await facts.person(resident.id)
    assert read.status is not None and read.status.status == "red"
    assert [t.place_code for t in read.trips] == ["420106"]
    windows = await facts.person_windows(resident.id, rules=engine.DEFAULT_RULES)
    assert len(windows) == 2
    # Nothing of it is readable in the rows themselves.
    row = await HealthStatus.get(account_id=resident.id)
    trip = await Trip.get(account_id=resident.id)
    assert "red" not in row.status_enc and "420106" not in trip.place_enc
