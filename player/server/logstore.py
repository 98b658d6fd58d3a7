"""The interaction log behind one interface, and the one place that picks its implementation.

Everything in the log — listeners, sessions, events, speaker baselines, interleaved queues, the
private flags and the erased sessions — is read and written through :class:`LogStore`. Two
implementations give the same answers to the same calls (the store tests run on both):

- :class:`player.server.log.InteractionLog` — SQLite (WAL) in ``HOME/log.db``: the default,
  embedded, one server process writing it (other processes may read it and run `cadence forget`).
- :class:`player.server.log_pg.PgInteractionLog` — a PostgreSQL database at a ``postgresql://``
  URL (``--log``), through a psycopg 3 connection pool: several `cadence serve` processes, and
  `cadence train`/`eval`/`forget`/`listeners`/`mixes`, share one log (docs/scale.md). Needs the
  ``[postgres]`` extra; without it :class:`LogBackendMissingError` says what to install.

:func:`open_log_at` takes a location (a path or a URL, :attr:`Settings.log_location`) and returns
the right one; :func:`log_present` tells whether there is a log to read without creating one.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from player.core.interleave import QueueRecord
from player.core.records import LogEvent
from player.errors import StoreError
from player.server.log import InteractionLog, ListenerRow, LogItem
from player.settings import LOG_URL_SCHEMES, LogSync

__all__ = [
    "LogBackendMissingError",
    "LogStore",
    "display_location",
    "is_log_url",
    "log_present",
    "open_log_at",
]


class LogBackendMissingError(StoreError):
    """A ``postgresql://`` log was asked for but psycopg 3 and psycopg-pool are not installed; the
    message says how to install the ``[postgres]`` extra."""

    code = "log_backend_missing"


class LogStore(Protocol):
    """The interaction log, whatever holds it. Thread-safe: the server's writer thread, its history
    loads and its erasure watcher call one store at once.

    Durability: every write method returns only once its transaction is committed (durable as the
    store defines it: see each implementation). Erasure: :meth:`forget` remembers one-way hashes of
    the listener's sessions; later writes from those sessions are refused (:meth:`record_many`
    returns them, :meth:`save_baseline` raises ``ListenerErasedError``), and :meth:`erased_since`
    lets a server close such sessions, even when another process erased them.
    """

    @property
    def location(self) -> str:
        """Where the log is, for messages (a path, or a URL without its password)."""
        ...

    def close(self) -> None:
        """Release the connections (idempotent)."""
        ...

    def checkpoint(self) -> None:
        """Housekeeping the owner runs off the commit path once a second (SQLite: a WAL checkpoint)."""
        ...

    def __enter__(self) -> LogStore: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    # writing
    def record(self, event: LogEvent, evidence: dict[str, Any] | None = None) -> None:
        """Append one event (and a mood's evidence, numbers only); durable when this returns."""
        ...

    def record_queue(self, queue: QueueRecord) -> None:
        """Append a logged queue with its picks; durable when this returns."""
        ...

    def record_many(self, items: Sequence[LogItem]) -> set[str]:
        """Append events and queues in one transaction; returns the sessions refused as erased."""
        ...

    def save_baseline(
        self, listener_id: str, data: dict[str, Any], *, at_s: float, session_id: str | None = None
    ) -> None:
        """Keep a listener's speaker baseline (numbers only), unless ``session_id`` was erased."""
        ...

    def set_private(self, listener_id: str, private: bool) -> bool:
        """Set a listener's private flag; False if there is no such listener."""
        ...

    def forget(self, listener_id: str) -> int:
        """Erase everything about a listener; the number of rows erased."""
        ...

    # reading
    def erased_since(self, after: int = 0) -> tuple[list[str], int]:
        """Hashes of the sessions erased after the mark ``after``, and the next mark."""
        ...

    def listeners(self) -> list[str]:
        """Every listener id, sorted by code point."""
        ...

    def events(self, listener_id: str | None = None, *, playback_limit: int | None = None) -> list[LogEvent]:
        """Events, oldest first (``playback_limit``: only a listener's recent history)."""
        ...

    def events_with_evidence(
        self, listener_id: str | None = None, *, playback_limit: int | None = None
    ) -> list[tuple[LogEvent, dict[str, Any] | None]]:
        """Like :meth:`events`, each with its stored evidence or None."""
        ...

    def queues(self, listener_id: str | None = None) -> list[QueueRecord]:
        """Logged queues with their picks, oldest first."""
        ...

    def listener_rows(self) -> list[ListenerRow]:
        """Every listener with their event count, first and last seen and private flag."""
        ...

    def private_listeners(self) -> set[str]:
        """The ids of the listeners marked private."""
        ...

    def baseline(self, listener_id: str) -> dict[str, Any] | None:
        """A listener's stored speaker baseline, or None."""
        ...

    def count(self) -> int:
        """Number of events."""
        ...


def is_log_url(location: Path | str) -> bool:
    """Whether ``location`` names a PostgreSQL log (a ``postgresql://`` URL) rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(LOG_URL_SCHEMES)


def display_location(location: Path | str) -> str:
    """``location`` fit for a message or a log line: a URL's password replaced by ``***``."""
    if not is_log_url(location):
        return str(location)
    parts = urllib.parse.urlsplit(str(location))
    if parts.password is None:
        return str(location)
    user = urllib.parse.quote(parts.username or "", safe="")
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def log_present(location: Path | str) -> bool:
    """Whether there is a log at ``location`` to read: a SQLite file that exists, or any PostgreSQL
    URL (the database is the operator's; opening it creates the tables if they are missing)."""
    return is_log_url(location) or Path(location).exists()


def open_log_at(
    location: Path | str, *, synchronous: LogSync = "full", autocheckpoint: bool = True, check: bool = True
) -> LogStore:
    """The interaction log at ``location``: PostgreSQL for a ``postgresql://`` URL, else SQLite at the path.

    ``synchronous``, ``autocheckpoint`` and ``check`` are SQLite's (:class:`InteractionLog`); a
    PostgreSQL log's durability is the PostgreSQL server's ``synchronous_commit``.

    Raises:
        LogBackendMissingError: If ``location`` is a URL and psycopg 3 / psycopg-pool are not installed.
        StoreError: If the log cannot be opened (SQLite: the file; PostgreSQL: the server cannot be
            reached, the login is refused, or the schema is newer than this Cadence).
        DatabaseCorruptError: If a SQLite log is damaged.
    """
    if not is_log_url(location):
        return InteractionLog(
            Path(location), synchronous=synchronous, autocheckpoint=autocheckpoint, check=check
        )
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise LogBackendMissingError(
            f"the log {display_location(location)} is in PostgreSQL, which needs {exc.name or 'psycopg'}: "
            'install the extra with `.venv/bin/pip install -e ".[postgres]"` (psycopg 3 and psycopg-pool), '
            "or leave out --log to use the SQLite log in HOME/log.db"
        ) from exc
    from player.server.log_pg import PgInteractionLog

    return PgInteractionLog(str(location))
