"""The console channel: the default when no real channel is configured, so ``make run`` works.

It logs that a message would go out (template, title, channel it stands in for) and counts it sent.
The data and the recipient are personal: they are not logged.
"""

from __future__ import annotations

import logging

from notify import templates
from notify.channels.base import Message, Result

log = logging.getLogger("gmid.notify.console")


class ConsoleChannel:
    name = "console"

    def reaches(self, message: Message) -> bool:
        return True

    async def send(self, message: Message) -> Result:
        title = templates.get(message.template).title
        log.info("console notification id=%s template=%s title=%s", message.notification_id, message.template, title)
        return Result.sent(f"console-{message.notification_id}", "logged to the console (no channel configured)")

    async def aclose(self) -> None:
        return None
