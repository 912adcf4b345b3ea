"""SIGTERM or SIGINT stops `gmid serve` at any moment of its life, start-up included.

Sanic 25.12's manager does the whole stop inside the signal handler: it talks to the worker-state
manager process and to the workers' pipes from there. A signal that lands while the main thread is
itself in the middle of such an exchange (it polls the workers' states ten times a second while they
start) interleaves two messages on one connection: the manager then dies with a traceback, or waits
for ever. A signal that lands between two ``process.start()`` calls stops the workers started so far
and lets the next one start and serve, and ``join`` then waits for ever on it.

So the handler here only records the request; the manager acts on it at the points where it is
between exchanges (each turn of its wait for the workers' acknowledgements and of its monitor loop,
each process it is about to start). A watchdog thread kills what still runs when the graceful stop has
not ended in time; a second signal kills at once, as Sanic's does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from typing import Any

log = logging.getLogger("gmid.serve")

# The longest a graceful stop may take before the workers still alive are killed: Sanic's own
# graceful shutdown (15 s by default) and a margin for the listeners after it.
KILL_AFTER_SECONDS = 25.0

_PATCHED = "__gmid_graceful_stop__"

# A signal that came before Sanic's manager existed (while the app loads, the embedded Redis and
# Sanic's state-sharing process start): the manager stops as soon as it exists, so nothing it or
# Sanic started is left running (the default action would end this process alone).
_early_signal: int | None = None


def _record_early(signum: int, frame: Any) -> None:
    global _early_signal
    _early_signal = signum


def install(kill_after: float = KILL_AFTER_SECONDS) -> None:
    """Take SIGTERM and SIGINT now, and patch Sanic's WorkerManager (before it is created: it binds
    its handler in __init__) to act on them at safe points."""
    from sanic.worker.manager import WorkerManager

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _record_early)
    if getattr(WorkerManager, _PATCHED, False):
        return
    original_ack = WorkerManager._all_workers_ack
    original_poll = WorkerManager._poll_monitor

    def shutdown_signal(self: WorkerManager, signum: int, frame: Any) -> None:
        # Runs between any two bytecodes of the main thread: no logging, no IPC here.
        if getattr(self, "_gmid_stop_requested", False):
            _kill_alive(self)
            return
        self._gmid_stop_requested = True  # type: ignore[attr-defined]
        self._gmid_stop_signal = signum  # type: ignore[attr-defined]

    def act_on_stop(self: WorkerManager) -> bool:
        """At a safe point: begin the stop once. True when stopping."""
        if _early_signal is not None and not getattr(self, "_gmid_stop_requested", False):
            self._gmid_stop_requested = True  # type: ignore[attr-defined]
            self._gmid_stop_signal = _early_signal  # type: ignore[attr-defined]
        if not getattr(self, "_gmid_stop_requested", False):
            return False
        if not self._shutting_down and not getattr(self, "_gmid_stop_begun", False):
            self._gmid_stop_begun = True  # type: ignore[attr-defined]
            log.info("received %s: stopping", signal.Signals(self._gmid_stop_signal).name)  # type: ignore[attr-defined]
            self.monitor_publisher.send(None)  # the monitor loop's "stop"
            self.shutdown()
            _arm_watchdog(self, kill_after)
        return True

    def start(self: WorkerManager) -> None:
        from sanic.worker.process import ProcessState

        for worker in self.workers:
            for process in worker.processes:
                if act_on_stop(self) or not worker.auto_start:
                    process.set_state(ProcessState.NONE, True)
                    continue
                process.start()
        act_on_stop(self)  # a signal during the last start: stop what was started

    def all_workers_ack(self: WorkerManager) -> bool:
        return act_on_stop(self) or self._shutting_down or bool(original_ack(self))

    def poll_monitor(self: WorkerManager) -> Any:
        act_on_stop(self)
        return original_poll(self)

    WorkerManager.shutdown_signal = shutdown_signal  # type: ignore[method-assign]
    WorkerManager.start = start  # type: ignore[method-assign]
    WorkerManager._all_workers_ack = all_workers_ack  # type: ignore[method-assign]
    WorkerManager._poll_monitor = poll_monitor  # type: ignore[method-assign]
    setattr(WorkerManager, _PATCHED, True)


def _kill_alive(manager: Any) -> None:
    for process in list(manager.processes):
        pid = process.pid
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _arm_watchdog(manager: Any, after: float) -> None:
    def watch() -> None:
        time.sleep(after)
        left = [p.pid for p in list(manager.processes) if p.pid and _running(p.pid)]
        if left:
            log.warning("graceful stop took over %.0f s: killing %d process(es) still running", after, len(left))
            _kill_alive(manager)

    threading.Thread(target=watch, name="gmid-stop-watchdog", daemon=True).start()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A child that ended but is not yet reaped still answers: look at its state.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
