"""Start-up refusals: each known reason reelay cannot start becomes one line naming the setting
and what to do; anything else is left alone (None), so that a bug keeps its traceback."""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import os
import socket
import sqlite3
from pathlib import Path

import pytest

from orchestrator.domain.values import VideoParams
from orchestrator.runtime import open_runtime
from orchestrator.settings import Settings, load_settings
from orchestrator.startup import (
    CannotStart,
    DatabaseLock,
    check_database_url,
    listen,
    load_prices,
    refusal,
    refusal_in,
)
from orchestrator.store import open_store
from tests.postgres import with_database


def settings_for(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(database_url=database_url, data_dir=tmp_path / "data", _env_file=None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- the database URL -------------------------------------------------------------------------


def test_an_unsupported_scheme_names_the_setting_and_the_two_that_work() -> None:
    with pytest.raises(CannotStart) as refused:
        check_database_url("mysql://user:pw@db/reelay")
    said = str(refused.value)
    assert said.startswith("cannot start: REELAY_DATABASE_URL has the unsupported scheme 'mysql'")
    assert "sqlite:///" in said
    assert "postgresql://" in said
    assert "pw" not in said


def test_a_sqlite_url_without_a_path_is_refused() -> None:
    with pytest.raises(CannotStart, match="REELAY_DATABASE_URL 'sqlite://' names no SQLite file"):
        check_database_url("sqlite://")


def test_postgresql_without_asyncpg_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "asyncpg" else real(name)
    )
    with pytest.raises(CannotStart, match=r"pip install 'reelay\[postgres\]'"):
        check_database_url("postgresql://u@h:5432/d")


@pytest.mark.parametrize("url", ["sqlite:///reelay.db", "postgresql://u@h:5432/d"])
def test_usable_urls_pass(url: str) -> None:
    check_database_url(url)


# --- listening sockets ------------------------------------------------------------------------


def test_a_port_in_use_names_port_and_setting() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(CannotStart) as refused:
            listen("127.0.0.1", port, "REELAY_API_HOST", "REELAY_API_PORT")
    assert str(refused.value).startswith(
        f"cannot start: port {port} on 127.0.0.1 (REELAY_API_PORT) is already in use"
    )


@pytest.mark.parametrize("host", ["192.0.2.1", "no-such-host.invalid"])
def test_a_host_not_on_this_machine_names_the_host_setting(host: str) -> None:
    with pytest.raises(CannotStart, match=rf"'{host}' \(--host\) is not an address of this"):
        listen(host, free_port(), "--host", "--port")


def test_a_listener_is_listening_before_any_server_runs() -> None:
    sock = listen("127.0.0.1", 0, "REELAY_API_HOST", "REELAY_API_PORT")
    with sock, socket.create_connection(sock.getsockname(), timeout=5):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


# --- one process per SQLite file --------------------------------------------------------------


def test_a_second_holder_of_a_sqlite_file_is_refused_with_the_first_pid(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reelay.db'}"
    first = DatabaseLock.acquire(url)
    try:
        with pytest.raises(CannotStart) as refused:
            DatabaseLock.acquire(url)
    finally:
        first.release()
    said = str(refused.value)
    assert f"another reelay process (pid {os.getpid()})" in said
    assert str(tmp_path / "reelay.db") in said
    assert "REELAY_DATABASE_URL=postgresql://" in said
    DatabaseLock.acquire(url).release()  # released: the next process may have it


def test_postgresql_is_never_locked() -> None:
    url = "postgresql://u@127.0.0.1:5432/d"
    first = DatabaseLock.acquire(url)
    DatabaseLock.acquire(url).release()
    first.release()


def test_a_sqlite_folder_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CannotStart) as refused:
        DatabaseLock.acquire(f"sqlite:///{tmp_path / 'file' / 'sub' / 'reelay.db'}")
    said = str(refused.value)
    assert said.startswith(f"cannot start: cannot write {tmp_path / 'file' / 'sub'} (")
    assert "REELAY_DATABASE_URL" in said


# --- failures while opening -------------------------------------------------------------------


def sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code  # as the driver sets it
    return exc


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (sqlite3.SQLITE_FULL, "is full; free space there"),
        (sqlite3.SQLITE_CANTOPEN, "cannot open the SQLite database"),
        (sqlite3.SQLITE_READONLY, "cannot open the SQLite database"),
        (sqlite3.SQLITE_BUSY, "is locked by another program"),
        (sqlite3.SQLITE_NOTADB, "is not a usable SQLite database"),
        (sqlite3.SQLITE_IOERR_WRITE, "failed (I/O error)"),
    ],
)
def test_sqlite_failures(tmp_path: Path, code: int, said: str) -> None:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'reelay.db'}")
    refused = refusal(sqlite_error("driver words", code), settings)
    assert refused is not None
    assert said in str(refused)
    assert str(tmp_path / "reelay.db") in str(refused)


@pytest.mark.parametrize(
    ("where", "setting"),
    [("data/artifacts/.staging", "REELAY_DATA_DIR"), ("data", "REELAY_DATA_DIR")],
)
def test_an_unwritable_data_folder_names_its_setting(
    tmp_path: Path, where: str, setting: str
) -> None:
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'reelay.db'}")
    exc = OSError(errno.EROFS, "Read-only file system", str(tmp_path / where))
    refused = refusal(exc, settings)
    assert refused is not None
    assert str(refused) == (
        f"cannot start: cannot write {tmp_path / where} (Read-only file system), a place "
        f"{setting} names; make it writable by this user, or set {setting} to a place that is"
    )


def test_a_full_artifact_disk_names_reelay_artifact_dir(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'reelay.db'}",
        artifact_dir=tmp_path / "videos",
        _env_file=None,
    )
    exc = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "videos" / ".staging"))
    assert "(REELAY_ARTIFACT_DIR) is full" in str(refusal(exc, settings))


async def test_postgresql_refusing_connections_names_host_and_port(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://reelay:secret-pw@127.0.0.1:{port}/reelay"
    with pytest.raises(OSError) as raised:
        await open_store(url)
    refused = refusal(raised.value, settings_for(tmp_path, url))
    assert refused is not None
    assert str(refused) == (
        f"cannot start: PostgreSQL at 127.0.0.1:{port} (REELAY_DATABASE_URL) refused the "
        "connection; start PostgreSQL, or fix the host and port"
    )


async def test_postgresql_without_the_database_says_to_create_it(
    tmp_path: Path, pg_database: str
) -> None:
    url = with_database(pg_database, "reelay_no_such_database")
    with pytest.raises(Exception) as raised:
        await open_store(url)
    refused = refusal(raised.value, settings_for(tmp_path, url))
    assert refused is not None
    assert "has no database 'reelay_no_such_database'; create it" in str(refused)


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("postgresql://u:pw@db.internal/reelay", "db.internal:5432"),
        ("postgresql://u:pw@[::1]:6543/reelay", "[::1]:6543"),
    ],
)
def test_postgresql_messages_name_host_and_port_never_the_password(url: str, where: str) -> None:
    settings = load_settings(database_url=url, _env_file=None)
    refused = refusal(TimeoutError(), settings)
    assert refused is not None
    assert f"PostgreSQL at {where} (REELAY_DATABASE_URL) did not answer in time" in str(refused)
    assert "pw" not in str(refused)


@pytest.mark.parametrize(
    "exc",
    [RuntimeError("a bug"), ValueError("a bug"), KeyError("x"), OSError(errno.EIO, "I/O")],
)
def test_unknown_failures_are_left_to_show_their_traceback(tmp_path: Path, exc: Exception) -> None:
    assert refusal(exc, settings_for(tmp_path, f"sqlite:///{tmp_path / 'reelay.db'}")) is None


# --- a refusal inside a task group (the demo) -------------------------------------------------


def test_a_refusal_is_found_in_the_task_group_it_ended() -> None:
    refused = CannotStart("port 1 in use")
    group = BaseExceptionGroup("", [asyncio.CancelledError(), ExceptionGroup("", [refused])])
    assert refusal_in(group) is refused
    assert refusal_in(refused) is refused


def test_a_group_with_a_bug_in_it_is_not_a_refusal() -> None:
    group = ExceptionGroup("", [CannotStart("x"), RuntimeError("a bug")])
    assert refusal_in(group) is None
    assert refusal_in(RuntimeError("a bug")) is None


# --- the price book ---------------------------------------------------------------------------


def test_a_malformed_prices_file_stops_start_up_naming_row_and_field(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[[price]]\nprovider = "octopusx"\nusd = "0.30"\nper = "video"\n\n'
        '[[price]]\nprovider = "apimart"\nusd = 0.3\nper = "video"\n'
    )
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'r.db'}", prices_file=prices, _env_file=None
    )
    with pytest.raises(CannotStart) as refused:
        asyncio.run(_open(settings))
    message = str(refused.value)
    assert message.startswith("cannot start: REELAY_PRICES_FILE: ")
    assert "row 2" in message
    assert "usd" in message
    assert not (tmp_path / "r.db").exists()  # refused before anything was opened


def test_a_good_prices_file_prices_what_it_names(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[[price]]\nprovider = "octopusx"\nmodel = "veo_3_1-fast"\nkind = "generate"\n'
        'usd = "0.30"\nper = "video"\n'
    )
    book = load_prices(load_settings(prices_file=prices, _env_file=None))
    assert book.estimate("octopusx", "veo_3_1-fast", "generate", VideoParams()) == 300_000
    assert book.estimate("octopusx", "veo_3_1", "generate", VideoParams()) is None
    assert book.estimate("apixo", "fast", "generate", VideoParams()) == 200_000  # default


async def _open(settings: Settings) -> None:
    async with open_runtime(settings):
        pass
