"""The local engine over three pool daemons (schedd stand-ins): spread by load, the per-pool cap, every
call at the DAG's own pool, and one pool SIGKILLed then restarted.  Placement is checked from the pools'
own spools, not from what the engine returned."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.engine_multi.conftest import POOLS, WAIT_S, Gate, kill_pool, pool_settings, spool_dags, tiny_dag
from wms2.config import Settings
from wms2.engines.base import BadDag, DagJobState, ScheddsFull, ScheddUnreachable, SubmitOptions, SubmitResult
from wms2.engines.local.client import LocalEngine, daemon_pid, ensure_pool_running, pool_status, stop_pool
from wms2.engines.local.keeper import PoolKeeper
from wms2.engines.local.pools import pool_spool


def submit_many(engine: LocalEngine, root: Path, gate: Gate, count: int) -> list[tuple[Path, SubmitResult]]:
    out = []
    for i in range(count):
        dag = tiny_dag(root / f"dag{i}", gate, root / "starts.log")
        out.append((dag, engine.submit_dag(dag, SubmitOptions())))
    return out


def wait_all(engine: LocalEngine, submitted: list[tuple[Path, SubmitResult]]) -> None:
    for _dag, result in submitted:
        info = engine.wait(result.cluster_id, timeout=WAIT_S, schedd=result.schedd)
        assert info.exit_code == 0, info.reason


def test_each_pool_has_its_own_spool_and_port(pools: Settings) -> None:
    spools = {name: pool_spool(pools, name) for name in POOLS}
    assert spools["a"] == pools.home / "pools" / "a" and len(set(spools.values())) == 3
    status = pool_status(pools)
    assert status["running"] and set(status["pools"]) == set(POOLS)
    assert len({info["port"] for info in status["pools"].values()}) == 3
    assert len({info["pid"] for info in status["pools"].values()}) == 3


def test_spread_by_load_and_cap(pools: Settings, tmp_path: Path) -> None:
    gate = Gate(tmp_path / "gate")
    engine = LocalEngine(pools)
    submitted = submit_many(engine, tmp_path, gate, 6)
    # Each pool's own records: two DAGs each, and exactly where the engine said.
    by_pool = {name: spool_dags(pools, name) for name in POOLS}
    placed = {str(dag): result.schedd for dag, result in submitted}
    for name, records in by_pool.items():
        mine = {f for f, rec in records.items() if f in placed and rec["state"] == "running"}
        assert len(mine) == 2, (name, mine)
        assert all(placed[f] == name for f in mine)
    capped = LocalEngine(pool_settings(pools.home, schedd_max_dags=2))
    with pytest.raises(ScheddsFull, match="a: 2/2 DAGs"):
        capped.submit_dag(tiny_dag(tmp_path / "over", gate, tmp_path / "starts.log"), SubmitOptions())
    assert str(tmp_path / "over" / "workflow.dag") not in {f for n in POOLS for f in spool_dags(pools, n)}
    gate.open()
    wait_all(engine, submitted)
    over = capped.submit_dag(tiny_dag(tmp_path / "over", gate, tmp_path / "starts.log"), SubmitOptions())
    assert over.schedd == "a"
    wait_all(engine, [(tmp_path / "over", over)])  # the pools are left idle for the next test


def _wait_held(engine: LocalEngine, pools: Settings, cluster_id: int, dag: object) -> None:
    """Held as pool b answers and as its spool records it: the pool's loop applies a hold just after the
    call, and writes the record just after the answer."""
    deadline = datetime.now(UTC).timestamp() + WAIT_S
    while (engine.query(cluster_id, "b").state != DagJobState.held
           or spool_dags(pools, "b")[str(dag)]["state"] != "held"):
        assert datetime.now(UTC).timestamp() < deadline, "hold never applied"
        with contextlib.suppress(TimeoutError):  # a bounded long poll, not a sleep: it ends by timing out
            engine.wait(cluster_id, timeout=0.05, schedd="b")


def test_calls_go_to_the_dags_own_pool(pools: Settings, tmp_path: Path) -> None:
    gate = Gate(tmp_path / "gate")
    engine = LocalEngine(pools)
    submitted = submit_many(engine, tmp_path, gate, 3)
    (dag_a, on_a), (_dag_b, on_b), (_dag_c, on_c) = submitted
    assert [on_a.schedd, on_b.schedd, on_c.schedd] == POOLS
    engine.hold(on_b.cluster_id, "b", "test hold")
    _wait_held(engine, pools, on_b.cluster_id, _dag_b)
    engine.release(on_b.cluster_id, "b")
    engine.remove(on_c.cluster_id, "c", "test remove")
    info = engine.wait(on_c.cluster_id, timeout=WAIT_S, schedd="c")
    assert info.removed and info.schedd == "c"
    assert spool_dags(pools, "a")[str(dag_a)]["state"] == "running"  # untouched by the others' calls
    gate.open()
    wait_all(engine, submitted[:2])


@pytest.mark.slow
def test_killed_pool_its_dags_unreachable_others_go_on_then_recovered(tmp_path: Path) -> None:
    settings = pool_settings(tmp_path / "home")
    gate = Gate(tmp_path / "gate")
    log = tmp_path / "starts.log"
    try:
        ensure_pool_running(settings)
        engine = LocalEngine(settings)
        submitted = submit_many(engine, tmp_path, gate, 6)
        on_b = [(dag, r) for dag, r in submitted if r.schedd == "b"]
        others = [(dag, r) for dag, r in submitted if r.schedd != "b"]
        assert len(on_b) == 2
        old_pid = kill_pool(settings, "b")
        for _dag, result in on_b:
            with pytest.raises(ScheddUnreachable, match="local pool b"):
                engine.query(result.cluster_id, "b")
        assert engine.ping("b") is False and engine.ping("a") is True
        with pytest.raises(ScheddUnreachable, match="may run there"):  # its lock names a DAG of pool b
            engine.submit_dag(on_b[0][0], SubmitOptions())
        # New work avoids the dead pool; the live pools' DAGs finish.
        extra = submit_many(engine, tmp_path / "extra", gate, 2)
        assert {r.schedd for _d, r in extra} == {"a", "c"}
        gate.open()
        wait_all(engine, others + extra)
        # The pool comes back (as ``wms2 serve`` starts missing pools): its DAGs are recovered and end.
        answer = ensure_pool_running(settings)
        assert answer["pools"]["b"]["pid"] != old_pid
        assert daemon_pid(settings, "a") == answer["pools"]["a"]["pid"]  # the live pools were left alone
        wait_all(engine, on_b)
        records = spool_dags(settings, "b")
        for dag, _result in on_b:
            assert records[str(dag)]["state"] == "done" and records[str(dag)]["exit_code"] == 0
            assert (dag.parent / "wu0" / "merge_output.json").is_file()
        # Every job ran once: the recovery adopted the running ones instead of starting them again.
        starts = log.read_text().splitlines() + (tmp_path / "extra" / "starts.log").read_text().splitlines()
        assert len(starts) == len(submitted) + len(extra)
    finally:
        stop_pool(settings)


def test_a_running_dag_is_never_started_on_a_second_pool(pools: Settings, tmp_path: Path) -> None:
    """A resubmission of a running DAG (e.g. after a crash between the submission and its commit) goes
    to the pool that runs it, which refuses it as DAGMan does, not to the least loaded pool."""
    gate = Gate(tmp_path / "gate")
    engine = LocalEngine(pools)
    [(dag, first)] = submit_many(engine, tmp_path, gate, 1)
    assert first.schedd == "a"  # idle pools: the first; a load-based choice would now be "b"
    with pytest.raises(BadDag, match=f"already running as cluster {first.cluster_id}"):
        engine.submit_dag(dag, SubmitOptions())
    assert [n for n in POOLS if str(dag) in spool_dags(pools, n)] == ["a"]
    gate.open()
    wait_all(engine, [(dag, first)])
    again = engine.submit_dag(dag, SubmitOptions())  # ended (lock removed): placed by load again
    wait_all(engine, [(dag, again)])


def test_keeper_restarts_a_dead_pool_only(pools: Settings) -> None:
    keeper = PoolKeeper()
    now = datetime.now(UTC)
    keeper.run_cycle(None, pools, now)
    assert keeper.restarts == {}  # all alive: nothing done
    old = kill_pool(pools, "c")
    live = {name: daemon_pid(pools, name) for name in ("a", "b")}
    keeper.run_cycle(None, pools, now)
    assert keeper.restarts == {"c": 1}
    assert daemon_pid(pools, "c") not in (None, old)
    assert {name: daemon_pid(pools, name) for name in ("a", "b")} == live
    keeper.run_cycle(None, pools, now)
    assert keeper.restarts == {"c": 1}


def test_a_pool_that_cannot_start_is_left_out(tmp_path: Path) -> None:
    settings = pool_settings(tmp_path / "home", ["a", "b"])
    blocker = pool_spool(settings, "b")
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a directory")  # pool b's spool cannot be created
    try:
        answer = ensure_pool_running(settings)
        assert answer["pools"]["b"] is None and answer["pools"]["a"]["pid"] == daemon_pid(settings, "a")
        engine = LocalEngine(settings)
        dag = tiny_dag(tmp_path / "dag", Gate(tmp_path / "open"), tmp_path / "starts.log")
        (tmp_path / "open").touch()
        result = engine.submit_dag(dag, SubmitOptions())
        assert result.schedd == "a"
        wait_all(engine, [(dag, result)])
    finally:
        stop_pool(settings)
    with pytest.raises(ScheddUnreachable, match="cannot start"):
        ensure_pool_running(settings, "b")


def test_a_submission_is_found_by_its_batch_name_running_or_ended(pools: Settings, tmp_path: Path) -> None:
    gate = Gate(tmp_path / "gate")
    engine = LocalEngine(pools)
    assert engine.find_submitted("req-r0-d1") is None
    others = submit_many(engine, tmp_path, gate, 2)  # on the other pools: the search must look at every pool
    dag = tiny_dag(tmp_path / "mine", gate, tmp_path / "starts.log")
    result = engine.submit_dag(dag, SubmitOptions(batch_name="req-r0-d1"))
    assert engine.find_submitted("req-r0-d1") == result  # running
    assert engine.find_submitted("req-r0-d2") is None
    gate.open()
    wait_all(engine, [*others, (dag, result)])  # the pools are left idle for the next test
    assert engine.find_submitted("req-r0-d1") == result  # ended: still found, never submitted again


def test_dag_commands_reach_the_dags_own_pool(pools: Settings, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from wms2.cli import app

    # The CLI exports WMS2_HOME for the processes it starts (config.load_settings): restore it afterwards,
    # or the pool daemons of later tests in this worker would read this home's wms2.toml.
    monkeypatch.setenv("WMS2_HOME", str(pools.home))  # recorded, so undone at teardown
    (pools.home / "wms2.toml").write_text('[engine]\nlocal_pools = ["a", "b", "c"]\n')
    gate = Gate(tmp_path / "gate")
    engine = LocalEngine(pools)
    submitted = submit_many(engine, tmp_path, gate, 2)
    try:  # the gate is opened even when a check fails: its jobs would otherwise wait for ever
        dag_b, on_b = submitted[1]
        assert on_b.schedd == "b"
        runner = CliRunner()
        home = ["--home", str(pools.home)]
        done = runner.invoke(app, ["dag", "hold", str(on_b.cluster_id), "--pool", "b", *home])
        assert done.exit_code == 0, done.output
        assert "on pool b" in done.output
        _wait_held(engine, pools, on_b.cluster_id, dag_b)
        status = runner.invoke(app, ["dag", "status", str(dag_b), "--json", *home])
        assert status.exit_code == 0, status.output
        assert '"pool": "b"' in status.output and '"state": "held"' in status.output
        wrong = runner.invoke(app, ["dag", "release", str(on_b.cluster_id), "--pool", "z", *home])
        assert wrong.exit_code != 0 and "not a configured local pool" in wrong.output
        assert runner.invoke(app, ["dag", "release", str(on_b.cluster_id), "--pool", "b", *home]).exit_code == 0
    finally:
        gate.open()
    wait_all(engine, submitted)
