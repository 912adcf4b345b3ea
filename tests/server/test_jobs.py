"""The background-job host: periodic jobs and services, leases across hosts, failures that never end
the host, wake-ups, metrics; the features' jobs registered in one place; `gmid worker`."""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from server.jobs import Job, JobContext, JobHost
from server.settings import Settings
from server.worker import all_jobs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def ctx(settings: Settings, redis_url: str) -> AsyncIterator[JobContext]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield JobContext(settings=settings, redis=client, redis_url=redis_url)
    finally:
        await client.aclose()


async def run_for(host: JobHost, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(500):  # 10 s
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def runs_metric(job: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("gmid_job_runs_total", {"job": job, "outcome": outcome}) or 0.0


async def test_a_failing_job_is_retried_and_never_stops_the_others(
    ctx: JobContext, caplog: pytest.LogCaptureFixture
) -> None:
    calls = {"flaky": 0, "steady": 0}

    async def flaky(_: JobContext) -> int:
        calls["flaky"] += 1
        if calls["flaky"] <= 2:
            raise ValueError("13800000001 should never reach the log")
        return 1

    async def steady(_: JobContext) -> int:
        calls["steady"] += 1
        return 0

    errors_before = runs_metric("test.flaky", "error")
    host = JobHost(
        [Job("test.flaky", run=flaky, every=0.02), Job("test.steady", run=steady, every=0.02)], ctx, backoff=0.02
    )
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="gmid.jobs"):
        task = asyncio.create_task(host.run(stop))
        await wait_until(lambda: calls["flaky"] >= 4 and calls["steady"] >= 4)
        stop.set()
        await asyncio.wait_for(task, timeout=10)
    assert runs_metric("test.flaky", "error") - errors_before == 2
    assert host.runs["test.flaky"] >= 2  # it went on after its failures
    failures = [r.getMessage() for r in caplog.records if "job run failed" in r.getMessage()]
    assert len(failures) == 2 and all("error=ValueError" in line for line in failures)
    assert "13800000001" not in caplog.text  # the error's text (possibly personal data) is not logged


async def test_a_service_that_crashes_is_started_again(ctx: JobContext) -> None:
    starts: list[int] = []

    async def serve(_: JobContext, stop: asyncio.Event) -> None:
        starts.append(1)
        if len(starts) < 3:
            raise ConnectionError("gone")
        await stop.wait()

    host = JobHost([Job("test.service", serve=serve)], ctx, backoff=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    await wait_until(lambda: len(starts) == 3)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert len(starts) == 3


async def test_an_exclusive_job_runs_on_one_host_at_a_time(ctx: JobContext, redis_url: str) -> None:
    running = 0
    most = 0
    total = 0

    async def body(_: JobContext) -> int:
        nonlocal running, most, total
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        total += 1
        return 1

    other = aioredis.Redis.from_url(redis_url)
    try:
        hosts = [
            JobHost([Job("test.exclusive", run=body, every=0.01, exclusive=True)], context)
            for context in (ctx, JobContext(settings=ctx.settings, redis=other, redis_url=redis_url))
        ]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(host.run(stop)) for host in hosts]
        await wait_until(lambda: total >= 8)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    finally:
        await other.aclose()
    assert most == 1
    assert runs_metric("test.exclusive", "skipped") > 0  # the other host found the lease taken
    assert await ctx.redis.exists("gmid:job-lease:test.exclusive") == 0  # released after each run


async def test_a_lease_left_by_a_dead_host_runs_out(ctx: JobContext) -> None:
    ran = asyncio.Event()

    async def body(_: JobContext) -> int:
        ran.set()
        return 1

    await ctx.redis.set("gmid:job-lease:test.orphan", "dead-host", px=300)  # a host killed mid-run
    host = JobHost([Job("test.orphan", run=body, every=0.05, exclusive=True, lease_seconds=1)], ctx)
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    await asyncio.wait_for(ran.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def test_a_message_on_its_channel_wakes_a_job_at_once(ctx: JobContext) -> None:
    runs: list[float] = []

    async def body(_: JobContext) -> int:
        runs.append(asyncio.get_running_loop().time())
        return 0

    host = JobHost([Job("test.woken", run=body, every=60, wake="gmid:test:wake")], ctx)
    stop = asyncio.Event()
    task = asyncio.create_task(host.run(stop))
    await wait_until(lambda: len(runs) == 1)
    for _ in range(100):  # the listener subscribes in the background: publish until it hears
        if await ctx.redis.publish("gmid:test:wake", "1") and len(runs) > 1:
            break
        await asyncio.sleep(0.05)
    await wait_until(lambda: len(runs) >= 2)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert runs[1] - runs[0] < 30  # long before its 60 s interval


async def test_jobs_are_declared_sanely() -> None:
    async def body(_: JobContext) -> int:
        return 0

    with pytest.raises(ValueError, match="not both"):
        Job("both", run=body, serve=lambda c, s: body(c))
    with pytest.raises(ValueError, match="not both"):
        Job("neither")
    with pytest.raises(ValueError, match="positive"):
        Job("never", run=body, every=0)


def test_the_features_register_their_jobs(settings: Settings) -> None:
    names = [job.name for job in all_jobs(settings)]
    assert names == [
        "notify.dispatcher",
        "reports.sla",
        "clinic.sweep",
        "devices.escalation",
        "devices.notices",
        "devices.commands",
        "devices.rollups",
        "devices.heartbeat",
        "wristbands.stoplist",
        "wristbands.compact",
        "wristbands.purge",
        "welfare.rescreen",
        "jobs.push",
    ]
    assert [job.name for job in all_jobs(settings, {"reports.sla"})] == ["reports.sla"]
    with pytest.raises(ValueError, match="no such job: nope"):
        all_jobs(settings, {"nope"})


def _imports(package: Path) -> set[str]:
    found: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("package", ["notify", "identity", "qr"])
def test_the_shared_packages_know_no_feature(package: str) -> None:
    """Features use notify, identity and qr; never the reverse (DESIGN.md's layering)."""
    features = sorted(m for m in _imports(ROOT / package) if m == "miniapp_api" or m.startswith("miniapp_api."))
    assert features == [], f"{package}/ imports feature packages: {features}"


async def test_the_host_runs_the_sla_timers_of_the_reports(
    ctx: JobContext, running: object, caplog: pytest.LogCaptureFixture
) -> None:
    """The registered jobs, run once by the host as `gmid worker --once` does: a report past its
    dispatch deadline is escalated."""
    from identity.roles import Role
    from miniapp_api.reports import service as reports
    from miniapp_api.reports.models import Report, SlaTimer
    from tests.factories import make_account

    await reports.catalogue.ensure_defaults()
    resident = await make_account(Role.RESIDENT)
    report = await reports.submit(
        reporter=resident,
        principal=None,
        category_key="environment",
        text="垃圾堆了三天没人清理",
        node_code="GM010101",
        channel="miniapp",
    )
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await SlaTimer.filter(report_id=report.id).update(due_at=past)
    host = JobHost(all_jobs(ctx.settings, {"reports.sla"}), ctx)
    done = await host.run_once()
    assert done == {"reports.sla": 1}
    assert (await Report.get(id=report.id)).overdue is True


async def test_gmid_worker_once_and_its_refusals(settings: Settings, running: object) -> None:
    from tests.support.cli import gmid

    code, out, err = await gmid(settings, "worker", "--once")
    assert code == 0, err
    ran = (
        "notify.dispatcher, reports.sla, clinic.sweep, devices.escalation, devices.notices, devices.commands, "
        "devices.rollups, devices.heartbeat, wristbands.stoplist, wristbands.compact, wristbands.purge, "
        "welfare.rescreen, jobs.push"
    )
    assert out.strip() == f"gmid: ran {ran} once"
    code, _, err = await gmid(settings, "worker", "--once", "--job", "nope")
    assert code == 2
    assert err.strip().startswith("gmid: no such job: nope")
