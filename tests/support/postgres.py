"""A real, throw-away PostgreSQL server for the tests of the shared interaction log, and the two log
stores as the tests see them (:class:`LogBackend`).

:class:`PostgresCluster` runs Debian's ``postgresql`` binaries (``/usr/lib/postgresql/*/bin``, as
scripts/install.sh installs them): ``initdb`` into a temporary directory, then ``postgres`` on a
free loopback port with its unix socket in that directory, and :meth:`PostgresCluster.create_database`
gives each test a database of its own. PostgreSQL refuses to run as root (CI runs as root), so then
both run as an unprivileged user — ``nobody``, or a ``cadence-pg`` system user made with ``useradd``
if there is no ``nobody`` — through ``setpriv``, in a directory chowned to it. Run as another user,
they run as that user. :meth:`PostgresCluster.stop` shuts the server down and removes the directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.ports import free_port

if TYPE_CHECKING:
    from player.server.logstore import LogStore
    from player.settings import Settings

__all__ = ["LogBackend", "PostgresCluster", "PostgresUnavailable", "postgres_bin_dir"]

_SUPERUSER = "postgres"
_FALLBACK_USER = "cadence-pg"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL binaries are missing or the server would not start; the message says why."""


def postgres_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``postgres``.

    Raises:
        PostgresUnavailable: If there is none (``apt-get install postgresql``; scripts/install.sh does).
    """
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        bin_dir = Path(initdb).parent
        version = re.match(r"\d+", bin_dir.parent.name)
        if (bin_dir / "postgres").exists() and version:
            found.append((int(version.group()), bin_dir))
    if not found:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: run scripts/install.sh "
            "(it installs Debian's postgresql package)"
        )
    return max(found)[1]


def _unprivileged_user() -> pwd.struct_passwd:
    """``nobody``, else a ``cadence-pg`` system user (made if missing): who runs postgres under root."""
    for name in ("nobody", _FALLBACK_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _FALLBACK_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(_FALLBACK_USER)


@dataclass
class PostgresCluster:
    """One running PostgreSQL server for a test session (see the module docstring)."""

    root: Path
    """The temporary directory: ``data/`` (the cluster), the unix socket, ``postgres.log``."""
    port: int
    process: subprocess.Popen[bytes]
    bin_dir: Path
    databases: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, *, timeout_s: float = 60.0) -> PostgresCluster:
        """initdb and start a server on a free loopback port.

        Raises:
            PostgresUnavailable: If the binaries are missing, or the server does not accept
                connections within ``timeout_s`` (the message ends with its log).
        """
        bin_dir = postgres_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="cadence-pg-"))
        prefix: list[str] = []
        if os.geteuid() == 0:
            user = _unprivileged_user()
            os.chown(root, user.pw_uid, user.pw_gid)
            prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        try:
            subprocess.run(
                [*prefix, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", _SUPERUSER,
                 "--auth=trust", "--encoding=UTF8", "--locale=C"],
                check=True, capture_output=True, env=env, cwd=root,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresUnavailable(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc
        last_error = ""
        for _ in range(3):  # a free port can be taken between the probe and the bind: try another
            port = free_port()
            log = open(root / "postgres.log", "ab")  # noqa: SIM115 - the server's stderr for its lifetime
            process = subprocess.Popen(
                [*prefix, str(bin_dir / "postgres"), "-D", str(root / "data"), "-p", str(port),
                 "-h", "127.0.0.1", "-k", str(root), "-c", "max_connections=200"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=root,
                start_new_session=True,
            )  # fmt: skip
            log.close()
            cluster = cls(root, port, process, bin_dir)
            if cluster._wait_ready(timeout_s):
                return cluster
            last_error = (root / "postgres.log").read_text(errors="replace")[-3000:]
            cluster._shutdown()
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"postgres did not start:\n{last_error}")

    def _wait_ready(self, timeout_s: float) -> bool:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False

    def url(self, database: str) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/DATABASE`` (trust login on loopback, no password)."""
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` (letters, digits, ``_``) and return its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a plain database name: {name!r}")
        self._admin(f"CREATE DATABASE {name}")
        self.databases.append(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, closing whatever connections still use it."""
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if name in self.databases:
            self.databases.remove(name)

    def _shutdown(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: roll back and stop
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stop(self) -> None:
        """Shut the server down and remove its directory."""
        self._shutdown()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class LogBackend:
    """One of the interaction log's two stores, as a test uses it (the ``log_backend`` fixture).

    The same test runs on both: :meth:`open` opens the log (again, at the same place, each time it is
    called), :attr:`args` are the `cadence` options that point a command at it, :meth:`settings` a
    :class:`~player.settings.Settings` for it.
    """

    name: str
    """"sqlite" or "postgresql"."""
    home: Path
    """The test's Cadence home (log.db lives here for SQLite)."""
    url: str | None
    """The PostgreSQL database's URL (None for SQLite)."""

    @property
    def location(self) -> Path | str:
        """What :func:`player.server.logstore.open_log_at` takes: the URL, or HOME/log.db."""
        return self.url if self.url is not None else self.home / "log.db"

    @property
    def args(self) -> list[str]:
        """``--home HOME`` (and ``--log URL`` for PostgreSQL): the options of a `cadence` command."""
        return ["--home", str(self.home), *(["--log", self.url] if self.url is not None else [])]

    def open(self, **kwargs: object) -> LogStore:
        """The log store (``kwargs``: SQLite's options of :func:`~player.server.logstore.open_log_at`)."""
        from player.server.logstore import open_log_at

        return open_log_at(self.location, **kwargs)  # type: ignore[arg-type]

    def settings(self, **kwargs: object) -> Settings:
        """Settings whose log is this one."""
        from player.settings import Settings

        return Settings(home=self.home, log_url=self.url, **kwargs)  # type: ignore[arg-type]

    @property
    def integrity_error(self) -> type[Exception]:
        """What the store raises for a broken constraint (the transaction is rolled back)."""
        if self.url is None:
            import sqlite3

            return sqlite3.IntegrityError
        import psycopg

        return psycopg.IntegrityError

    def query(self, sql: str) -> list[tuple[object, ...]]:
        """Rows of ``sql`` (no parameters) read straight from the store's database, past the log's code."""
        if self.url is None:
            import sqlite3
            from contextlib import closing

            with closing(sqlite3.connect(self.home / "log.db")) as db, db:
                return [tuple(row) for row in db.execute(sql).fetchall()]
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql.encode())
            return [tuple(row) for row in cur.fetchall()] if cur.description is not None else []
