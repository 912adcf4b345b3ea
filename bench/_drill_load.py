"""The drill's clients: what they record, and the load they drive through nginx."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

GRID = "GM010101"
RETRY_STATUSES = {502, 503, 504}


# The clients' records --------------------------------------------------------------------------------------


@dataclass
class Records:
    t0: float = 0.0
    marks: list[tuple[float, str]] = field(default_factory=list)  # (time, phase that starts)
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    retried: Counter[str] = field(default_factory=Counter)
    error_times: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))

    def error(self, op: str, why: str) -> None:
        self.errors[op][why] += 1
        self.error_times[op, why].append(time.perf_counter())

    def phase(self, at: float) -> str:
        return max(((t, name) for t, name in self.marks if t <= at), default=(0.0, "set-up"))[1]

    def mark(self, phase: str) -> None:
        self.marks.append((time.perf_counter(), phase))
        print(f"  t={time.perf_counter() - self.t0:6.1f} s  {phase}", file=sys.stderr, flush=True)


@dataclass
class World:
    base: str  # nginx
    app_ports: list[int]
    bikes: list[tuple[str, str, str, str]]  # (bike id, scan URL, owner token, frame number)
    spare: tuple[str, str, str, str]  # a bike kept out of the load: revoked at the end
    limited: str  # a resident's token for the rate-limit check
    staff: dict[str, str]  # username -> token
    scopes: dict[str, str]  # username -> node path
    other_grid: str
    filed: dict[str, str] = field(default_factory=dict)  # text -> report id (201 seen)
    failed_texts: set[str] = field(default_factory=set)  # a POST /reports that never got an answer it could use
    sse_seen: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sse_connects: Counter[str] = field(default_factory=Counter)
    until: float = 0.0  # the load's end: after the last fault's recovery, at least --seconds
    sse_final: dict[str, list[str]] = field(default_factory=dict)  # what each follower should have seen
    alarms_raised: set[str] = field(default_factory=set)  # e-bike alarms answered 201 (their ids)
    alarms_unheard: int = 0  # alarm presses that never got an answer (in flight on a killed instance)
    gateway: tuple[str, str] = ("", "")  # the sensors' gateway: serial, secret
    sensors: list[str] = field(default_factory=list)  # gas detectors' serials, in the order they cross
    crossed: set[str] = field(default_factory=set)  # detectors whose crossing reading was accepted
    checkpoints: list[str] = field(default_factory=list)
    gate_tokens: list[str] = field(default_factory=list)  # one gate account per checkpoint
    bands: list[str] = field(default_factory=list)  # BLE ids of the seeded wristbands
    checked_in: set[str] = field(default_factory=set)  # check-in ids answered 200
    checkins_unheard: set[str] = field(default_factory=set)  # ids that never got an answer


ATTEMPTS = 3  # a client's first try and two retries


def retry_delay(answer: httpx.Response | None, attempt: int) -> float | None:
    """How long a client waits before trying a POST again, or None when it does not: on no answer, a
    502/503/504, or 409 ``idempotency_in_progress`` (the first try still runs, or died with its instance
    and its claim has not run out yet), after ``Retry-After`` (at most 5 s) or a short backoff."""
    if attempt >= ATTEMPTS:
        return None
    if answer is not None:
        code = error_code(answer)
        if answer.status_code not in RETRY_STATUSES and code != "idempotency_in_progress":
            return None
        with contextlib.suppress(ValueError):
            return min(5.0, float(answer.headers.get("retry-after", "")))
    return 0.2 * attempt


def error_code(answer: httpx.Response) -> str:
    if answer.status_code < 400:
        return ""
    try:
        return str(answer.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "?"


async def call(
    http: httpx.AsyncClient,
    rec: Records,
    op: str,
    method: str,
    url: str,
    token: str | None,
    body: Any = None,
    *,
    sign: Callable[[bytes], dict[str, str]] | None = None,
) -> httpx.Response | None:
    """One request, recorded; a POST carries an Idempotency-Key and is retried with it (``retry_delay``).
    ``sign``: headers made afresh for each try from the body's bytes (a device's signature and nonce).
    None when no answer came."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "POST":
        headers["Idempotency-Key"] = f"drill-{random.getrandbits(64):016x}"
    content = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if content is not None:
        headers["Content-Type"] = "application/json"
    for attempt in range(1, ATTEMPTS + 1):
        started = time.perf_counter()
        answer: httpx.Response | None = None
        try:
            extra = sign(content or b"") if sign else {}
            answer = await http.request(method, url, content=content, headers={**headers, **extra})
        except httpx.HTTPError as exc:
            rec.error(op, f"exception {type(exc).__name__}")
        else:
            rec.samples[op].append((started, (time.perf_counter() - started) * 1000))
            if answer.status_code >= 400:
                rec.error(op, f"{answer.status_code} {error_code(answer)}")
        delay = retry_delay(answer, attempt) if method == "POST" else None
        if delay is None:
            return answer
        rec.retried[op] += 1
        await asyncio.sleep(delay)
    return None


# The load ---------------------------------------------------------------------------------------------------


async def scanner(http: httpx.AsyncClient, rec: Records, w: World) -> None:
    while time.perf_counter() < w.until:
        _, url, _, _ = random.choice(w.bikes)
        await call(http, rec, "POST /scan", "POST", "/api/v1/scan", None, {"payload": url})


async def alarmer(http: httpx.AsyncClient, rec: Records, w: World) -> None:
    while time.perf_counter() < w.until:
        bike, _, owner, _ = random.choice(w.bikes)
        body = {"lost_at": dt.datetime.now(dt.UTC).isoformat(), "location": "光明大街与华夏路口"}
        answer = await call(http, rec, "POST /ebikes/{id}/alarm", "POST", f"/api/v1/ebikes/{bike}/alarm", owner, body)
        if answer is None or answer.status_code >= 500:
            w.alarms_unheard += 1
        elif answer.status_code == 201:
            w.alarms_raised.add(str(answer.json()["alarm"]["id"]))
        await asyncio.sleep(0.2)
        await call(http, rec, "DELETE /ebikes/{id}/alarm", "DELETE", f"/api/v1/ebikes/{bike}/alarm", owner)
        await asyncio.sleep(0.3)


async def reporter(http: httpx.AsyncClient, rec: Records, w: World, who: int) -> None:
    n = 0
    grid = w.staff["grid.worker"]
    while time.perf_counter() < w.until:
        n += 1
        text = f"楼道灯坏了，晚上很黑，请尽快处理 编号{who}x{n}"
        node = GRID if n % 3 else w.other_grid
        _, _, resident, _ = w.bikes[(who * 7 + n) % len(w.bikes)]
        body = {"category": "urban_construction", "text": text, "node": node}
        answer = await call(http, rec, "POST /reports", "POST", "/api/v1/reports", resident, body)
        if answer is None or answer.status_code != 201:
            w.failed_texts.add(text)
            continue
        rid = str(answer.json()["id"])
        w.filed[text] = rid
        if node == GRID:
            for action in ("accept", "dispatch"):
                url = f"/api/v1/reports/{rid}/transitions"
                await call(http, rec, "POST /reports/{id}/transitions", "POST", url, grid, {"action": action})


async def police(http: httpx.AsyncClient, rec: Records, w: World) -> None:
    token = w.staff["police"]
    while time.perf_counter() < w.until:
        _, _, _, frame = random.choice(w.bikes)
        body = {"frame_no": frame, "reason": "盗窃案件侦查", "case_no": "GM2026-001"}
        await call(http, rec, "POST /police/ebikes/lookup", "POST", "/api/v1/police/ebikes/lookup", token, body)
        await asyncio.sleep(0.1)


async def sse_client(rec: Records, w: World, username: str, start_id: str, stop: asyncio.Event) -> None:
    """Follow /grid/feed/stream through nginx; on any end or error, reconnect with Last-Event-ID."""
    seen = w.sse_seen[username]
    headers = {"Authorization": f"Bearer {w.staff[username]}"}
    async with httpx.AsyncClient(base_url=w.base, timeout=httpx.Timeout(5, read=30), trust_env=False) as http:
        while not stop.is_set():
            w.sse_connects[username] += 1
            try:
                last = seen[-1] if seen else start_id
                async with http.stream(
                    "GET", "/api/v1/grid/feed/stream", headers={**headers, "Last-Event-ID": last}
                ) as answer:
                    if answer.status_code != 200:
                        rec.error("GET /grid/feed/stream", f"{answer.status_code}")
                        await asyncio.sleep(0.5)
                        continue
                    async for line in answer.aiter_lines():
                        if line.startswith("id: "):
                            seen.append(line[4:].strip())
                        if stop.is_set():
                            return
                rec.error("GET /grid/feed/stream", "stream ended (reconnect)")
            except httpx.HTTPError as exc:
                rec.error("GET /grid/feed/stream", f"exception {type(exc).__name__}")
                await asyncio.sleep(0.5)


async def gateway(http: httpx.AsyncClient, rec: Records, w: World) -> None:
    """The sensors' gateway: every second, one signed batch with a reading of each gas detector. The
    detectors cross (30 %LEL, a critical gas alarm: the household hears by WeChat and SMS) one after
    another over the run and stay there: each must end with exactly one alarm."""
    from miniapp_api.devices import signing

    serial, secret = w.gateway
    rounds = max(1, int((w.until - time.perf_counter()) * 0.8))
    first = time.perf_counter()
    n = 0
    while time.perf_counter() < w.until:
        n += 1
        at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        due = {s for i, s in enumerate(w.sensors) if i * rounds // len(w.sensors) < n}
        readings = [
            {"device": s, "metric": "gas_lel_pct", "value": 30.0 if s in due else 1.0, "at": at} for s in w.sensors
        ]

        def sign(body: bytes) -> dict[str, str]:
            headers = signing.headers(serial, secret, "/api/v1/devices/readings", body)
            headers.pop("Content-Type")
            return headers

        answer = await call(
            http, rec, "POST /devices/readings", "POST", "/api/v1/devices/readings", None, {"readings": readings},
            sign=sign,
        )  # fmt: skip
        if answer is not None and answer.status_code == 200:
            w.crossed |= due
        await asyncio.sleep(max(0.0, first + n - time.perf_counter()))


async def gate(http: httpx.AsyncClient, rec: Records, w: World, which: int) -> None:
    """A checkpoint's app: a wristband read about every 0.2 s (1 % a fever), each with its own id; a
    retry sends the same check-in again (the same id answers the first answer)."""
    n = 0
    while time.perf_counter() < w.until:
        n += 1
        body = {
            "id": str(uuid.uuid4()),
            "checkpoint": w.checkpoints[which],
            "ble_id": random.choice(w.bands),
            "temperature": 38.2 if n % 100 == 17 else 36.5,
            "at": dt.datetime.now(dt.UTC).isoformat(),
        }
        token = w.gate_tokens[which]
        answer = await call(http, rec, "POST /checkins", "POST", "/api/v1/checkins", token, body)
        if answer is not None and answer.status_code == 200:
            w.checked_in.add(str(body["id"]))
        elif answer is None or answer.status_code >= 500:
            w.checkins_unheard.add(str(body["id"]))
        await asyncio.sleep(0.2)
