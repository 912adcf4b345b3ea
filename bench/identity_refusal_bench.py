"""How long an ID-number refusal takes, by its cause: is the time a tell of whether a number is registered?

``update_profile`` refuses a number the account may not take with one answer whatever the cause; this
prints the time of each path through it, straight on the service (no HTTP: the network and the rate
limits would only add noise), on a fresh SQLite file (or ``--database-url``):

- ``taken``: a fresh account asks for a number another account holds (the oracle case);
- ``bound``: an account whose number is bound to a bike asks for a number nobody holds;
- ``bound+taken``: the same account asks for a number another account holds (the same answer as
  ``bound``: the time should not tell them apart either);
- ``free``: a fresh account asks for a number nobody holds, and gets it (the write included).

``taken`` and ``bound`` run the same two queries before deciding; ``free`` succeeds, which its answer says
anyway. Figures are per call, median and 90th percentile, for this machine and this run only.

    .venv/bin/python bench/identity_refusal_bench.py --rounds 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity import pii, service
from identity.models import Account
from identity.roles import Role
from identity.validators import make_id_number
from server import db
from server.cli import init_keys
from server.errors import Conflict
from server.settings import Settings


def number(n: int) -> str:
    return make_id_number("440311", dt.date(1980, 1, 1) + dt.timedelta(days=n % 9000), f"{n % 1000:03d}")


async def resident() -> Account:
    return await Account.create(public_id=service.new_public_id(), role=Role.RESIDENT)


async def timed(call: object) -> float:
    start = time.perf_counter()
    with contextlib.suppress(Conflict):  # the refusals: their time is what is measured
        await call  # type: ignore[misc]
    return (time.perf_counter() - start) * 1000


async def run(settings: Settings, rounds: int) -> None:
    await db.migrate(settings)
    pii.set_vault(pii.Vault(pii.PiiKeyRing.from_settings(settings)))
    await db.open_db(settings)
    from miniapp_api.ebikes import service as ebikes  # registers bikes as bound property
    from miniapp_api.ebikes.models import BikeStatus, EBike

    holder = await resident()
    await service.update_profile(account=holder, name=None, phone=None, id_number=number(1))
    bound = await resident()
    await service.update_profile(account=bound, name=None, phone=None, id_number=number(2))
    now = dt.datetime.now(dt.UTC)
    await EBike.create(
        public_id="eb_bench0000001", owner_id=bound.id, node_path="/GM/", brand="b", colour="c",
        frame_no="BENCH0001", status=BikeStatus.ACTIVE, credential_id="cr_bench00001",
        registered_at=now, updated_at=now,
    )  # fmt: skip
    assert callable(ebikes.bike_label)  # the import's side effect is what matters
    figures: dict[str, list[float]] = {"taken": [], "bound": [], "bound+taken": [], "free": []}
    for i in range(rounds):
        for case in figures:  # interleaved: a slow moment hits every case alike
            if case == "taken":
                who, asked = await resident(), number(1)
            elif case == "bound":
                who, asked = await Account.get(id=bound.id), number(100_000 + i)
            elif case == "bound+taken":
                who, asked = await Account.get(id=bound.id), number(1)
            else:
                who, asked = await resident(), number(200_000 + i)
            figures[case].append(
                await timed(service.update_profile(account=who, name=None, phone=None, id_number=asked))
            )
    print(f"update_profile, {rounds} calls each ({settings.effective_database_url.split(':', 1)[0]}):")
    for case, values in figures.items():
        values.sort()
        p90 = values[int(len(values) * 0.9) - 1]
        print(f"  {case:11} median {statistics.median(values):6.2f} ms   p90 {p90:6.2f} ms")
    await db.close_db()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gmid-idbench-") as tmp:
        settings = Settings(var_dir=tmp, database_url=args.database_url or f"sqlite://{tmp}/bench.sqlite3")
        init_keys(settings)
        asyncio.run(run(settings, args.rounds))


if __name__ == "__main__":
    main()
