"""Start-up refusals: the known reasons reelay cannot start, each said in one line.

``reelay serve``, ``demo`` and ``sandbox`` print ``reelay: cannot start: <what>, <what to do>``
and exit 2 for the failures recognised here: a port in use, a database URL reelay cannot use, a
database it cannot reach or write, a SQLite file another process holds. Anything else is a bug
and keeps its traceback.

The listening sockets are bound, and the SQLite file locked, before anything touches the
database, so that a second ``reelay serve`` is refused without disturbing the first.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import importlib.util
import os
import socket
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator.domain.prices import PriceBook, load_price_book
from orchestrator.settings import Settings
from orchestrator.store.sqlite import sqlite_path

EXIT_CODE = 2
POSTGRES_URL = "postgresql://user:password@host:port/database"
SQLITE_URL = "sqlite:///path/to/file.db"
DATABASE_SETTING = "REELAY_DATABASE_URL"
_NO_WRITE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR}


class CannotStart(Exception):
    """A known reason reelay cannot start; the message says what, and what to do."""

    def __str__(self) -> str:
        return f"cannot start: {self.args[0]}"


def listen(host: str, port: int, host_setting: str, port_setting: str) -> socket.socket:
    """A socket listening on ``host:port`` now, for uvicorn to serve later."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        raise CannotStart(_not_here(host, host_setting)) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it; without it a response written in two parts waits
        # for the client's delayed ACK (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CannotStart(
                f"port {port} on {host} ({port_setting}) is already in use, by another reelay "
                f"or another program; stop it, or choose a free port with {port_setting}"
            ) from None
        if exc.errno == errno.EACCES:
            raise CannotStart(
                f"no permission to listen on port {port} ({port_setting}), ports below 1024 "
                "need privileges; choose a port above 1023"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise CannotStart(_not_here(host, host_setting)) from None
        raise
    return sock


def _not_here(host: str, setting: str) -> str:
    return (
        f"{host!r} ({setting}) is not an address of this machine, use 127.0.0.1, 0.0.0.0 or "
        "one of its own addresses"
    )


def check_database_url(url: str) -> None:
    """Refuse a database URL no store can use, before anything is opened."""
    if url.startswith("sqlite:"):
        try:
            sqlite_path(url)
        except ValueError:
            raise CannotStart(
                f"REELAY_DATABASE_URL {url!r} names no SQLite file, use {SQLITE_URL} "
                "(sqlite:////absolute/path.db for an absolute path)"
            ) from None
    elif url.startswith(("postgresql://", "postgres://")):
        if importlib.util.find_spec("asyncpg") is None:
            raise CannotStart(
                "REELAY_DATABASE_URL is a PostgreSQL URL and asyncpg is not installed; "
                "install it with pip install 'reelay[postgres]'"
            )
    else:
        scheme = url.split(":", 1)[0] if ":" in url else url
        raise CannotStart(
            f"REELAY_DATABASE_URL has the unsupported scheme {scheme!r}, "
            f"use {SQLITE_URL} or {POSTGRES_URL}"
        )


class DatabaseLock:
    """One reelay process per SQLite file: an exclusive ``flock`` on ``<db>.lock``.

    The file holds the pid of the process that has it, so that a refused process can name it.
    The file stays after release: deleting it would let two processes lock two different files.
    """

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, url: str) -> DatabaseLock:
        """Lock the SQLite file of ``url``; nothing to lock for PostgreSQL (or ``:memory:``)."""
        if not url.startswith("sqlite:"):
            return cls(None)
        path = sqlite_path(url)
        if path.name == ":memory:":
            return cls(None)
        lock_path = path.with_name(path.name + ".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            refusal = _file_refusal(exc, DATABASE_SETTING)
            if refusal is None:
                raise
            raise refusal from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise CannotStart(
                f"another reelay process (pid {holder}) is using the SQLite database "
                f"{path.absolute()}; a SQLite file serves one process: stop that one, or for "
                "several processes use PostgreSQL (REELAY_DATABASE_URL=postgresql://...)"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:  # a full disk: the lock holds all the same, only the pid goes unnamed
            pass
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None


def refusal(exc: BaseException, settings: Settings) -> CannotStart | None:
    """The refusal for ``exc``, raised while reelay opened its database and folders; None if
    ``exc`` is not a known start-up failure."""
    if isinstance(exc, CannotStart):
        return exc
    if isinstance(exc, OSError) and exc.filename is not None:
        return _file_refusal(exc, _setting_for(Path(exc.filename), settings))
    url = settings.database_url
    if not url.startswith("sqlite:"):
        return _postgres_refusal(exc, url)
    if isinstance(exc, sqlite3.Error):
        return _sqlite_refusal(exc, sqlite_path(url))
    return None


def _setting_for(path: Path, settings: Settings) -> str:
    """The setting naming the place ``path`` is in, or is a folder of (the database's own
    files are refused by ``DatabaseLock`` first)."""
    artifacts = "REELAY_ARTIFACT_DIR" if settings.artifact_dir else "REELAY_DATA_DIR"
    path = path.absolute()
    for place, setting in (
        (settings.artifact_root.absolute(), artifacts),
        (settings.data_dir.absolute(), "REELAY_DATA_DIR"),
    ):
        if path.is_relative_to(place) or place.is_relative_to(path):
            return setting
    return DATABASE_SETTING


def _file_refusal(exc: OSError, setting: str) -> CannotStart | None:
    where = exc.filename
    if exc.errno in _NO_WRITE:
        return CannotStart(
            f"cannot write {where} ({exc.strerror}), a place {setting} names; make it "
            f"writable by this user, or set {setting} to a place that is"
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return CannotStart(
            f"the disk holding {where} ({setting}) is full; free space there, or point "
            f"{setting} at another disk"
        )
    return None


def _sqlite_refusal(exc: sqlite3.Error, path: Path) -> CannotStart | None:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return CannotStart(
            f"the disk holding the SQLite database {path} (REELAY_DATABASE_URL) is full; "
            "free space there, or point REELAY_DATABASE_URL at another disk"
        )
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        return CannotStart(
            f"cannot open the SQLite database {path} (REELAY_DATABASE_URL) for writing; make "
            f"the file and its folder {path.parent} writable by this user"
        )
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return CannotStart(
            f"the SQLite database {path} is locked by another program; stop it, or point "
            "REELAY_DATABASE_URL at another file"
        )
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return CannotStart(
            f"{path} (REELAY_DATABASE_URL) is not a usable SQLite database ({exc}); "
            "restore it from a backup, or point REELAY_DATABASE_URL at another file"
        )
    if code == sqlite3.SQLITE_IOERR:
        return CannotStart(f"the disk holding {path} failed (I/O error); check the disk")
    return None


def _postgres_refusal(exc: BaseException, url: str) -> CannotStart | None:
    parts = urlsplit(url)
    at = f"PostgreSQL at {_host_port(url)} (REELAY_DATABASE_URL)"
    if isinstance(exc, TimeoutError):
        return CannotStart(f"{at} did not answer in time; check that it is up and reachable")
    if isinstance(exc, socket.gaierror):
        return CannotStart(f"{at}: unknown host; check the host name in REELAY_DATABASE_URL")
    if isinstance(exc, ConnectionRefusedError):
        return CannotStart(
            f"{at} refused the connection; start PostgreSQL, or fix the host and port"
        )
    if isinstance(exc, OSError):
        return CannotStart(
            f"{at} cannot be reached ({exc.strerror or exc}); check that it is up and reachable"
        )
    state = str(getattr(exc, "sqlstate", "") or "")
    if not state or type(exc).__module__.split(".")[0] != "asyncpg":
        return None
    database = parts.path.lstrip("/") or "(default)"
    if state.startswith("28"):
        return CannotStart(f"{at} refused the login: {exc}; fix the user or password")
    if state == "3D000":
        return CannotStart(
            f"{at} has no database {database!r}; create it (createdb {database}) or fix the URL"
        )
    if state == "42501":
        return CannotStart(
            f"{at} does not let this user create reelay's tables in {database!r} ({exc}); "
            "grant it CREATE on the schema, or connect as the database's owner"
        )
    if state[:2] in ("08", "53", "57"):
        return CannotStart(f"{at} is not accepting connections ({exc}); try again when it is")
    return None


def _host_port(url: str) -> str:
    """``host:port`` of a PostgreSQL URL (never its user or password), 5432 by default."""
    parts = urlsplit(url)
    where = parts.netloc.rpartition("@")[2] or "localhost"
    try:
        has_port = parts.port is not None
    except ValueError:  # several hosts: h1:5432,h2:5432
        has_port = True
    return where if has_port else f"{where}:5432"


def refusal_in(exc: BaseException) -> CannotStart | None:
    """The refusal that ended a task group: ``exc`` itself, or the one inside a group whose
    other members are only the cancellations it caused."""
    if isinstance(exc, CannotStart):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        refusals, rest = exc.split(CannotStart)
        if refusals is not None and (rest is None or rest.split(asyncio.CancelledError)[1] is None):
            return refusal_in(refusals.exceptions[0])
    return None


def load_prices(settings: Settings) -> PriceBook:
    """The price book of ``REELAY_PRICES_FILE``; a malformed one stops start-up, naming the
    file, the row and the field."""
    try:
        return load_price_book(settings.prices_file)
    except ValueError as exc:
        raise CannotStart(f"REELAY_PRICES_FILE: {exc}") from None
