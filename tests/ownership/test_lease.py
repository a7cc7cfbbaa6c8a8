"""The lease itself, in one process, on SQLite and PostgreSQL: refusal, expiry, takeover, fencing."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.ownership.conftest import short_lease, wait_for
from wms2.core.lifecycle import LifecycleManager
from wms2.core.owner import LifecycleOwner
from wms2.core.ownership import Holder, Lease, LeaseLost, OwnerRefused, read_lease
from wms2.core.workers import Workers
from wms2.db.base import utcnow
from wms2.db.lease_tables import LifecycleLeaseRow
from wms2.db.session import Database
from wms2.db.tables import AlertRow, LifecycleCycleRow

REFUSAL_S = 5.0  # issue 12: a second owner is refused within 5 s


def test_second_holder_refused_with_who_and_since(db: Database) -> None:
    a, b = Lease(db, short_lease(30), "run"), Lease(db, short_lease(30), "serve")
    assert a.try_acquire() is None and a.token == 1
    current = b.try_acquire()
    assert current is not None and b.token is None
    assert (current.holder, current.pid, current.host, current.state) == (a.me.holder, a.me.pid, a.me.host, "live")
    text = current.describe()
    assert f"pid {a.me.pid}" in text and f"host {a.me.host}" in text and "since " in text
    info = read_lease(db)
    assert info is not None and info.token == 1 and info.command == "run"


def test_expired_lease_is_taken_over_and_the_stale_owner_cannot_write(db: Database) -> None:
    a, b = Lease(db, short_lease(0.5), "run"), Lease(db, short_lease(0.5), "run")
    assert a.try_acquire() is None
    # a stale owner's transaction begins before the takeover (as after SIGSTOP) ...
    with pytest.raises(LeaseLost, match="no longer current"), db.session() as session:
        a.install(session)
        session.add(AlertRow(kind="stale", reason="written by a stale owner", detail={}, created_at=utcnow()))
        session.flush()
        if db.engine.dialect.name == "sqlite":  # one writer at a time: let the takeover in first
            session.rollback()
            session.add(AlertRow(kind="stale", reason="again", detail={}, created_at=utcnow()))
        wait_for(lambda: _taken(b), 10, "the lease to expire and be taken over")
    # ... and its commit is refused; the row is absent
    with db.session() as session:
        assert session.scalar(select(func.count(AlertRow.id))) == 0
    assert b.token == 2
    with pytest.raises(LeaseLost):
        a.renew()
    with pytest.raises(LeaseLost):
        a.assert_valid()
    b.renew()  # the new owner goes on


def _taken(lease: Lease) -> bool:
    return lease.try_acquire() is None


def test_release_hands_over_at_once(db: Database) -> None:
    a, b = Lease(db, short_lease(60), "serve"), Lease(db, short_lease(60), "run")
    assert a.try_acquire() is None
    a.release()
    assert read_lease(db).state == "released"  # type: ignore[union-attr]
    assert b.try_acquire() is None and b.token == 2


def test_dead_holder_on_this_machine_is_taken_over_before_expiry(db: Database) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    ghost = Holder(holder="ghost", host="here", pid=child.pid, node_key=Holder.this_process("x").node_key,
                   command="run")
    dead = Lease(db, short_lease(600), "run", holder=ghost)
    assert dead.try_acquire() is None
    b = Lease(db, short_lease(600), "run")
    assert b.try_acquire() is None and b.token == 2
    # a holder on another machine is only judged by its lease
    far = Lease(db, short_lease(600), "run", holder=Holder("far", "elsewhere", child.pid, "other-node", "run"))
    c = Lease(db, short_lease(600), "run")
    b.release()
    assert far.try_acquire() is None
    assert c.try_acquire() is not None


def test_concurrent_contenders_one_winner(db: Database) -> None:
    contenders = [Lease(db, short_lease(60), "run") for _ in range(6)]
    barrier = threading.Barrier(len(contenders))
    results: list[bool] = []

    def go(lease: Lease) -> None:
        barrier.wait()
        results.append(lease.try_acquire() is None)

    threads = [threading.Thread(target=go, args=(lease,)) for lease in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [False] * 5 + [True]
    assert read_lease(db).token == 1  # type: ignore[union-attr]


def test_lifecycle_stops_at_once_when_its_lease_is_gone(db: Database, settings) -> None:  # type: ignore[no-untyped-def]
    a, b = Lease(db, short_lease(0.3), "run"), Lease(db, short_lease(0.3), "run")
    manager = LifecycleManager(db, settings)
    assert a.try_acquire() is None
    manager.fence = a
    manager.run_cycle()  # the owner records its cycle
    wait_for(lambda: _taken(b), 10, "the takeover")
    with pytest.raises(LeaseLost):
        manager.run_cycle()
    with db.session() as session:
        assert session.scalar(select(func.count(LifecycleCycleRow.id))) == 1


def test_cycle_tasks_write_through_the_fence(db: Database, settings) -> None:  # type: ignore[no-untyped-def]
    """A per-cycle task (the ReqMgr2 sync) of a stale owner cannot write either."""
    a, b = Lease(db, short_lease(0.3), "run"), Lease(db, short_lease(0.3), "run")

    class StaleWriter:
        name = "stale-writer"

        def run_cycle(self, source, settings, now) -> None:  # type: ignore[no-untyped-def]
            wait_for(lambda: _taken(b), 10, "the takeover")  # the owner is paused here, then resumes
            with source.session() as session:
                session.add(AlertRow(kind="stale", reason="cycle task of a stale owner", detail={},
                                     created_at=utcnow()))

    manager = LifecycleManager(db, settings, Workers(cycle_tasks=[StaleWriter()]))
    assert a.try_acquire() is None
    manager.fence = a
    with pytest.raises(LeaseLost):
        manager.run_cycle()
    with db.session() as session:
        assert session.scalar(select(func.count(AlertRow.id)).where(AlertRow.kind == "stale")) == 0


def test_renewal_extends_the_lease(db: Database) -> None:
    a = Lease(db, short_lease(5), "run")
    assert a.try_acquire() is None
    first = read_lease(db)
    time.sleep(0.05)
    a.renew()
    later = read_lease(db)
    assert first is not None and later is not None and later.expires_at > first.expires_at
    assert later.expires_at - later.renewed_at == timedelta(seconds=5)
    with db.session() as session:
        assert session.scalar(select(func.count(LifecycleLeaseRow.id))) == 1


def test_run_without_standby_is_refused_within_5s(db: Database) -> None:
    holder = Lease(db, short_lease(600), "run")
    assert holder.try_acquire() is None
    owner = LifecycleOwner(Lease(db, short_lease(600), "run"), short_lease(600))
    started = time.monotonic()
    with pytest.raises(OwnerRefused, match=f"pid {holder.me.pid}") as refused:
        owner.acquire(threading.Event())
    assert time.monotonic() - started < REFUSAL_S
    assert ("SQLite" in str(refused.value)) == (db.engine.dialect.name == "sqlite")
    standby = LifecycleOwner(Lease(db, short_lease(600), "run"), short_lease(600), standby=True)
    if db.engine.dialect.name == "sqlite":  # SQLite: single process, stand-by refused too
        with pytest.raises(OwnerRefused, match="SQLite"):
            standby.acquire(threading.Event())
    else:
        stop = threading.Event()
        seen: list[str] = []
        standby.on_standby = lambda info: (seen.append(info.holder), stop.set())
        assert standby.acquire(stop) is False and seen == [holder.me.holder] and standby.role == "standby"


def test_owner_paused_inside_a_fenced_transaction_does_not_block_the_takeover(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks and the idle-in-transaction bound are PostgreSQL's")
    a, b = Lease(db, short_lease(0.5), "run"), Lease(db, short_lease(0.5), "run")
    assert a.try_acquire() is None
    taken = threading.Event()
    session_cm = db.session()
    session = session_cm.__enter__()
    a.check(session)  # holds the lease row FOR SHARE, then "pauses" (never commits)

    def take_over() -> None:
        while not _taken(b):
            time.sleep(0.05)
        taken.set()

    thread = threading.Thread(target=take_over, daemon=True)
    thread.start()
    assert taken.wait(20), "the takeover stayed blocked behind the paused owner's row lock"
    assert b.token == 2
    with pytest.raises(Exception):  # noqa: B017 - the server ended the paused transaction
        session_cm.__exit__(None, None, None)
