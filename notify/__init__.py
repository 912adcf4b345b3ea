"""Notifications that are never lost: ``notify.enqueue`` writes to the outbox in the caller's
transaction; dispatchers (``notify.dispatcher``) deliver over WeChat, SMS and email."""

from notify.outbox import enqueue, reachable

__all__ = ["enqueue", "reachable"]
