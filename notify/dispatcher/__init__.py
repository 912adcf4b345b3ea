"""The dispatcher: claims due notifications with a lease, sends them, records what happened.

Several dispatchers may run at once, on several machines; each row is sent by one of them at a time,
and a row whose dispatcher died is taken again when its lease runs out. Per row the channels are tried
in order (WeChat -> SMS -> email), with retries, a dedup window, per-recipient limits and care for
sends that may have gone out although no answer said so ("in doubt").

Where things are:

- :mod:`~notify.dispatcher.loop`: :class:`Dispatcher`, the loop: batches, concurrency, wake-ups, polling;
- :mod:`~notify.dispatcher.leases`: claiming rows, their leases, and the writes guarded by them;
- :mod:`~notify.dispatcher.sending`: the send of one row across its channels, fallback and doubts;
- :mod:`~notify.dispatcher.dedup`: the window in which one event goes to one recipient once per channel;
- :mod:`~notify.dispatcher.policy`: :class:`Policy` (the knobs, from settings) and :func:`backoff`;
- :mod:`~notify.dispatcher.history`: the attempt rows that say what happened;
- :mod:`~notify.dispatcher.durable`: writes retried through a busy database.
"""

from __future__ import annotations

from notify.dispatcher.leases import LeaseLost, worker_name
from notify.dispatcher.loop import Dispatcher
from notify.dispatcher.policy import Policy, backoff, parse_limits

__all__ = ["Dispatcher", "LeaseLost", "Policy", "backoff", "parse_limits", "worker_name"]
