"""SLA timers: when a report stays too long in a state, it is escalated one level up the hierarchy.

Timers are rows (they survive restarts). A scheduler claims due ones with a lease in one UPDATE, as the
notification dispatcher does, and fires each inside a transaction that re-checks it: a timer fires
once however many instances run, and a timer whose report has moved on is cancelled instead. Each
breach marks the report overdue, records an ``escalate`` event, notifies the staff of the next level
up (grid -> community -> street -> district) and sets the next timer, until the district level.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from identity.models import Account, Node
from identity.roles import Role
from miniapp_api.reports import events
from miniapp_api.reports.models import Category, Report, ReportEvent, SlaTimer
from miniapp_api.reports.service import STATE_NAMES, utcnow
from notify import outbox
from server import timers
from server.wire import wire_time

log = logging.getLogger("gmid.reports.sla")

ESCALATION_ROLES = (Role.GRID_STAFF, Role.ADMIN)
_MINUTES = {
    "dispatch": "dispatch_minutes",
    "start": "start_minutes",
    "resolve": "resolve_minutes",
    "feedback": "feedback_minutes",
}


def ancestors(node_path: str) -> list[str]:
    """``/GM/GM01/GM0101/GM010101/`` -> the paths above it, nearest first."""
    parts = [p for p in node_path.split("/") if p]
    return ["/" + "/".join(parts[:i]) + "/" for i in range(len(parts) - 1, 0, -1)]


class SlaScheduler:
    def __init__(self, *, worker: str | None = None, lease_seconds: int = 60, batch: int = 100) -> None:
        self.worker = worker or f"{socket.gethostname()[:40]}:{os.getpid()}:sla"
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.batch = batch
        self.fired = 0

    async def claim(self, now: dt.datetime) -> list[int]:
        return await timers.claim_due(
            table="report_sla_timer", worker=self.worker, lease=self.lease, now=now, batch=self.batch
        )

    async def run_once(self, *, now: dt.datetime | None = None) -> int:
        """Fire every timer due at ``now`` (a test passes a later clock); the number fired."""
        moment = now or utcnow()
        fired = 0
        for timer_id in await self.claim(moment):
            try:
                fired += await self.fire(timer_id, moment)
            except Exception:  # the lease runs out and another run takes it again
                log.exception("sla timer failed id=%s", timer_id)
        self.fired += fired
        return fired

    async def fire(self, timer_id: int, now: dt.datetime) -> int:
        async with in_transaction() as conn:
            timer = await SlaTimer.filter(id=timer_id).using_db(conn).select_for_update().first()
            if timer is None or timer.fired_at is not None or timer.cancelled or timer.lease_owner != self.worker:
                return 0
            report = await Report.filter(id=timer.report_id).using_db(conn).select_for_update().first()
            if report is None or report.state != timer.state:
                await SlaTimer.filter(id=timer.id).using_db(conn).update(cancelled=True)
                return 0
            await SlaTimer.filter(id=timer.id).using_db(conn).update(fired_at=now)
            above = ancestors(report.node_path)
            level = min(report.escalation_level + 1, len(above)) if above else 0
            target = above[level - 1] if level else report.node_path
            node = await Node.get_or_none(path=target, using_db=conn)
            report.overdue = True
            report.escalation_level = level
            await report.save(using_db=conn, update_fields=["overdue", "escalation_level"])
            await ReportEvent.create(
                report_id=report.id,
                at=now,
                actor="system",
                role="system",
                action="escalate",
                from_state=report.state,
                to_state=report.state,
                note=f"{timer.kind} deadline passed: escalated to {node.code if node else target}",
                using_db=conn,
            )
            if node is not None:
                await self._tell(report, node, timer, now, conn)
            category = await Category.get(id=report.category_id, using_db=conn)
            if level < len(above):  # not yet at the district: the next level after the same time again
                minutes = int(getattr(category, _MINUTES.get(timer.kind, "dispatch_minutes")))
                await SlaTimer.create(
                    report_id=report.id,
                    state=report.state,
                    kind=timer.kind,
                    due_at=now + dt.timedelta(minutes=max(1, minutes)),
                    using_db=conn,
                )
        await events.publish(report, "escalate")
        log.info("report escalated id=%s level=%s kind=%s", report.public_id, level, timer.kind)
        return 1

    async def _tell(
        self, report: Report, node: Node, timer: SlaTimer, now: dt.datetime, conn: BaseDBAsyncClient
    ) -> None:
        staff = await Account.filter(node_id=node.id, role__in=list(ESCALATION_ROLES), is_active=True).using_db(conn)
        for account in staff:
            if not outbox.reachable(account, "report.overdue"):
                continue
            await outbox.enqueue(
                template="report.overdue",
                data={
                    "report_no": report.report_no,
                    "state": STATE_NAMES[report.state],
                    "deadline": wire_time(timer.due_at),
                    "node": node.name,
                    "report_id": report.public_id,
                },
                idempotency_key=f"sla:{timer.id}:{account.public_id}",
                account=account,
                using_db=conn,
            )
