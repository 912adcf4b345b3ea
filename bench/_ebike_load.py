"""The load: the requests the bench makes (police lookups, registrations, scans, the hello-world) and the
figures it collects, in order."""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _ebike_measure import CpuProbe, Paced, paced
from _ebike_people import People
from _ebike_register import BRANDS, COLOURS, frame_no, owner_id_number, resident_identity
from _ebike_seed import Seeded
from _load import Figures, Request, expect, measure

BASE_URL = "https://eid.gm.sz.gov.cn/abcdefg"  # as in qr_bench: the size budget's worst case

# The load ------------------------------------------------------------------------------------------


@dataclass
class Load:
    lookup_frame: Figures
    lookup_id: Figures
    lookup_frame_alone: Figures | None  # one client at a time: the service time, without queueing
    lookup_id_alone: Figures | None
    register: Figures
    scan: Figures
    hello: Figures
    paced_lookups: list[Paced] = field(default_factory=list)


async def run_load(
    args: argparse.Namespace,
    gmid_url: str,
    hello_url: str,
    people: People,
    seeded: Seeded,
    probes: tuple[CpuProbe, CpuProbe],
) -> Load:
    ours, bare = probes
    rng = random.Random(20261125)
    police = {"Authorization": f"Bearer {people.police_token}"}
    reason = "盗窃案件侦查"

    def found(body: dict[str, Any]) -> str | None:
        return None if body.get("count", 0) >= 1 else "200 nothing found"

    def by_frame(j: int) -> Request:
        params = {"frame_no": frame_no(rng.randrange(seeded.bikes)), "reason": reason, "case_no": f"GMB-F{j:07d}"}
        return "GET", "/api/v1/police/ebikes", {"params": params, "headers": police}

    def by_id_number(j: int) -> Request:
        value = owner_id_number(rng.randrange(seeded.owners))
        body = {"owner_id_number": value, "reason": reason, "case_no": f"GMB-I{j:07d}"}
        return "POST", "/api/v1/police/ebikes/lookup", {"json": body, "headers": police}  # never in an address

    residents = len(people.resident_tokens)

    def registration(j: int) -> Request:
        r = j % residents  # consecutive requests go to different residents; each makes <= PER_RESIDENT
        body = {
            "owner": resident_identity(r),
            "brand": BRANDS[j % len(BRANDS)],
            "model": "DE2",
            "colour": COLOURS[j % len(COLOURS)],
            "frame_no": f"BENCH-{j:09d}",
            "motor_no": f"R{j:09d}",
            "plate": f"光明R{j:07d}",
            "purchase_date": "2025-03-01",
            "node": people.grid_codes[j % len(people.grid_codes)],
        }
        return (
            "POST",
            "/api/v1/ebikes",
            {"json": body, "headers": {"Authorization": f"Bearer {people.resident_tokens[r]}"}},
        )

    urls = [f"{BASE_URL}/q/{token}" for token in seeded.scan_tokens]

    def scan(j: int) -> Request:
        return "POST", "/api/v1/scan", {"json": {"payload": urls[j % len(urls)]}}

    def registered(body: dict[str, Any]) -> str | None:
        view = body.get("view", {})
        return None if body.get("valid") and view.get("registered") else "200 not a registered bike"

    lookup_frame = await measure("lookup by frame_no", gmid_url, args, by_frame, expect(200, found), ours)
    lookup_id = await measure("lookup by owner ID number", gmid_url, args, by_id_number, expect(200, found), ours)
    paced_lookups = []
    first = args.warmup + args.requests
    for rate in args.rates:
        run = await paced(
            f"lookup by frame_no at {rate:g}/s",
            gmid_url,
            rate,
            args.rate_seconds,
            first,
            by_frame,
            expect(200, found),
            ours,
        )
        paced_lookups.append(run)
        first += int(rate) * (int(args.rate_seconds) + 2)
    frame_alone = id_alone = None
    if args.concurrency > 1:
        # At N clients a request waits for the N - 1 ahead of it: p50 is about N / throughput.
        alone = argparse.Namespace(**{**vars(args), "concurrency": 1, "warmup": 0})
        ok = expect(200, found)
        frame_alone = await measure("lookup by frame_no, 1 client", gmid_url, alone, by_frame, ok, ours)
        id_alone = await measure("lookup by ID number, 1 client", gmid_url, alone, by_id_number, ok, ours)
    register = await measure("registration", gmid_url, args, registration, expect(201), ours)
    # Scan and hello-world back to back: the same machine state for the comparison.
    scan_figures = await measure("scan", gmid_url, args, scan, expect(200, registered), ours)
    hello = await measure("bare Sanic hello-world", hello_url, args, scan, expect(200), bare)
    return Load(lookup_frame, lookup_id, frame_alone, id_alone, register, scan_figures, hello, paced_lookups)
