"""`wms2 run --standby` started while the database does not answer (a PostgreSQL restart or fail-over)
waits for it, printing each attempt, instead of exiting (found by the fault harness: a stand-by restarted
during a PostgreSQL crash exited with 1).  A plain `wms2 run` still fails at once with one line."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import typer

from wms2.cli.requests import _open, _open_waiting
from wms2.config import load_settings
from wms2.core.service import init_home


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Forwarder:
    """A TCP relay to PostgreSQL that starts listening only when ``open()`` is called: before that, the
    port refuses connections as a restarting server's does."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self.server: socket.socket | None = None
        self.closed = threading.Event()

    def open(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.server.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.server is not None
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass  # the other side closed: the relay of this connection ends
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    continue

    def close(self) -> None:
        self.closed.set()
        if self.server is not None:
            self.server.close()


@pytest.fixture
def relayed(pg_database_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Forwarder]:
    init_home(load_settings(home, database_url=pg_database_url)).dispose()
    parts = urlsplit(pg_database_url)
    forwarder = Forwarder(_free_port(), (parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = f"{parts.username}@127.0.0.1:{forwarder.port}" if parts.username else f"127.0.0.1:{forwarder.port}"
    monkeypatch.setenv("WMS2_DATABASE_URL", urlunsplit(parts._replace(netloc=netloc)))
    monkeypatch.setenv("WMS2_OWNERSHIP__DB_RETRY_BASE_S", "0.2")
    monkeypatch.setenv("WMS2_OWNERSHIP__DB_RETRY_MAX_S", "0.5")
    yield forwarder
    forwarder.close()


def test_standby_waits_for_the_database_then_opens_it(relayed: Forwarder, home: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    result: list[object] = []
    waiter = threading.Thread(target=lambda: result.append(_open_waiting(home, threading.Event())))
    waiter.start()
    deadline = time.monotonic() + 60
    while "retrying in" not in capsys.readouterr().err and time.monotonic() < deadline:
        time.sleep(0.05)
    assert waiter.is_alive(), result
    relayed.open()  # the server is back
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    [opened] = result
    assert opened is not None
    _, db = opened  # type: ignore[misc]
    db.dispose()


def test_standby_stopped_while_waiting_returns_none(relayed: Forwarder, home: Path) -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    assert _open_waiting(home, stop) is None


def test_plain_run_fails_at_once_naming_the_database(relayed: Forwarder, home: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        _open(home)
    err = capsys.readouterr().err
    assert f"127.0.0.1:{relayed.port}" in err and "cannot use database" in err
