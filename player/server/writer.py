"""The interaction log's writer: one thread, group commits, an awaitable per write.

The server never writes to its log store (:class:`~player.server.logstore.LogStore`: SQLite's
:class:`~player.server.log.InteractionLog` or PostgreSQL's
:class:`~player.server.log_pg.PgInteractionLog`) from the event loop. Each
connection hands its records to :meth:`LogWriter.write` and awaits it; one thread takes everything
waiting and commits it in one transaction (group commit: under ``log_sync="full"`` concurrent
sessions share one fsync), then settles every waiter. A ``Record`` effect is awaited before the next
``Send``, so an ``ack`` is only ever sent for a committed event (with PostgreSQL: after PostgreSQL's
commit). A second thread runs the store's :meth:`~player.server.logstore.LogStore.checkpoint` once a
second (SQLite's WAL checkpoint, so no commit waits for its fsyncs; nothing for PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import TypeAlias

from player.errors import ListenerErasedError
from player.server.log import LogItem, session_of
from player.server.logstore import LogStore

__all__ = ["LogItem", "LogWriter"]

logger = logging.getLogger(__name__)

_Batch: TypeAlias = tuple[list[LogItem], asyncio.Future[None], asyncio.AbstractEventLoop]


class LogWriter:
    """One thread writing to the interaction log; concurrent writes share one commit (group commit)."""

    def __init__(self, log: LogStore, *, max_batch: int = 2000) -> None:
        self.log = log
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()
        self.commits = 0
        self._stop = threading.Event()
        self._checkpoints = threading.Thread(target=self._checkpoint_loop, name="log-checkpoint", daemon=True)
        self._checkpoints.start()

    def _checkpoint_loop(self, every_s: float = 1.0) -> None:
        # The log is opened without automatic checkpoints: they would run inside a commit and put
        # their fsyncs in front of the acks waiting for it.
        while not self._stop.wait(every_s):
            try:
                self.log.checkpoint()
            except Exception:
                logger.exception("interaction log checkpoint failed")

    async def write(self, items: list[LogItem]) -> None:
        """Append ``items``; returns once they are committed (durable).

        Raises:
            sqlite3.Error, psycopg.Error, StoreError: If the commit failed (the items are not in the log).
            ListenerErasedError: If the items' session was open when its listener was erased (they
                are not in the log; other sessions' items of the same commit are).
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put((items, done, loop))
        await done

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batches = [first]
            stop = False
            while len(batches) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batches.append(more)
            items = [item for batch in batches for item in batch[0]]
            error: BaseException | None = None
            refused: set[str] = set()
            try:
                refused = self.log.record_many(items)
                self.commits += 1
            except BaseException as exc:  # reported to every waiting writer
                logger.exception("interaction log write failed")
                error = exc
            for batch_items, done, loop in batches:
                mine = error
                if mine is None and refused:
                    erased = {session_of(item) for item in batch_items} & refused
                    if erased:
                        mine = ListenerErasedError(
                            f"the listener of session {sorted(erased)[0]} was erased while it was open"
                        )
                loop.call_soon_threadsafe(_settle, done, mine)
            if stop:
                return

    def close(self) -> None:
        """Finish the writes already queued, then stop the threads."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._stop.set()
        self._checkpoints.join(timeout=30)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
