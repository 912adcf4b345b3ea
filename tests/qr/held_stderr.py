"""Interrupting a `gmid` process at a point the test knows it has reached, without a timing race.

The process gets as its standard error a pipe that is already full: it runs until its first write
there (its progress bar, written after each committed batch or page) and then waits until the test
reads. A signal sent meanwhile cannot arrive "too late", after the work is done: the work cannot go
on past that write until the test drains the pipe.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from server.settings import Settings
from tests.support.cli import GMID, gmid_env


class HeldGmid:
    def __init__(self, settings: Settings, *args: str) -> None:
        self.settings = settings
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self._read_fd, self._write_fd = os.pipe()
        self._filler = self._fill(self._write_fd)

    @staticmethod
    def _fill(fd: int) -> int:
        """Fill the pipe to the last byte (its capacity depends on the kernel): any write now waits."""
        os.set_blocking(fd, False)
        filled = 0
        for size in (65536, 4096, 1):
            while True:
                try:
                    filled += os.write(fd, b"." * size)
                except BlockingIOError:
                    break
        os.set_blocking(fd, True)  # the child shares this file description: its writes must wait, not fail
        return filled

    async def start(self) -> HeldGmid:
        self.proc = await asyncio.create_subprocess_exec(
            str(GMID),
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._write_fd,
            env=gmid_env(self.settings),
            cwd=str(Path(self.settings.var_dir).parent),
        )
        os.close(self._write_fd)  # the child (and its workers) hold the only write ends now
        return self

    def _read_all(self) -> bytes:
        chunks = []
        while chunk := os.read(self._read_fd, 65536):
            chunks.append(chunk)
        os.close(self._read_fd)
        return b"".join(chunks)

    async def interrupt_and_finish(self) -> tuple[int, str, str]:
        """SIGINT, then let the process write (and so go on to see the signal) until it exits."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return await self.finish()

    async def finish(self) -> tuple[int, str, str]:
        assert self.proc is not None
        err_task = asyncio.get_running_loop().run_in_executor(None, self._read_all)
        out, _ = await asyncio.wait_for(self.proc.communicate(), timeout=120)
        err = await asyncio.wait_for(err_task, timeout=120)
        assert self.proc.returncode is not None
        return self.proc.returncode, out.decode(), err[self._filler :].decode()

    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None
