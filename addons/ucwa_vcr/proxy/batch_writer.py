"""Writing recorded exchanges from the event loop: batched onto a thread, each caller resumed once on disk."""

from __future__ import annotations

import asyncio
import logging

from ..cassette.writer import CassetteWriter

logger = logging.getLogger(__name__)


class BatchWriter:
    """Hands dumped exchanges to a CassetteWriter on a thread, one write at a time; exchanges that arrive
    during a write all go in the next one."""

    def __init__(self, writer: CassetteWriter) -> None:
        self.writer = writer
        self._pending: list[bytes] = []  # dumped, not yet handed to the writer
        self._next_write: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def write(self, chunk: bytes) -> None:
        """Return once `chunk` is in the file (or its write failed, which is logged)."""
        self._pending.append(chunk)
        if self._next_write is None:
            self._next_write = asyncio.get_running_loop().create_future()
        written = self._next_write
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        await asyncio.shield(written)

    async def _drain(self) -> None:
        while self._next_write is not None:
            written, self._next_write = self._next_write, None
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self.writer.write, batch)
            except OSError as e:
                logger.error("ucwa-vcr: cannot write %s: %s (retried with the next exchange)", self.writer.path, e)
            written.set_result(None)

    async def drain(self) -> None:
        """Wait for the write in progress, if any."""
        if self._task is not None:
            await self._task

    def finish(self) -> None:
        """Write what is pending and leave the file in its final form.

        Blocks until the writer thread is done with its batch: runs only when the cassette is switched or
        the proxy stops.
        """
        batch, self._pending, written, self._next_write = self._pending, [], self._next_write, None
        try:
            if batch:
                self.writer.write(batch)
            self.writer.finish()
        except OSError as e:
            logger.error("ucwa-vcr: cannot write %s: %s", self.writer.path, e)
        if written is not None:
            written.set_result(None)
