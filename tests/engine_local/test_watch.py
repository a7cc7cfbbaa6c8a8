"""``DagStateWatch``: the top-level DAG jobs' states read from a pool spool, and the ``/wait`` long poll."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.engine_local.conftest import WAIT_S, DagDir
from wms2.engines.base import SubmitOptions
from wms2.engines.local.client import LocalEngine
from wms2.engines.local.records import DagRecord, RecordStore
from wms2.engines.local.watch import DagStateWatch


def test_signature_follows_top_level_dags_only(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    watch = DagStateWatch(tmp_path)
    assert watch.signature() == frozenset()
    store.create(DagRecord(cluster=1, dag_file="outer.dag", state="running"))
    first = watch.signature()
    assert first == {("1.json", "running")}
    store.create(DagRecord(cluster=2, dag_file="inner.dag", state="running", parent=1, node="mg_000000"))
    store.finish(2, 0, "", 5)
    assert watch.signature() == first  # a work unit's sub-DAG: no cycle needed
    store.finish(1, 0, "", 5)  # within the same timestamp tick as the previous writes: still seen
    assert watch.signature() == {("1.json", "done")}
    assert watch.signature() == {("1.json", "done")}  # unchanged: equal


def test_signature_of_a_missing_spool_is_empty(tmp_path: Path) -> None:
    assert DagStateWatch(tmp_path / "nowhere").signature() == frozenset()


def test_wait_is_one_long_poll_not_a_polling_loop(engine: LocalEngine, dagdir: DagDir) -> None:
    dag = dagdir.dag('JOB A job.sub\nVARS A sleep="1.0"\n')
    cluster = engine.submit_dag(dag, SubmitOptions()).cluster_id
    calls: list[str] = []
    request = engine.client.request

    def counting(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        calls.append(path)
        return request(method, path, body)

    engine.client.request = counting  # type: ignore[method-assign]
    info = engine.wait(cluster, timeout=WAIT_S, poll=0.01)
    assert info.exit_code == 0 and dagdir.starts() == ["A"]
    assert len(calls) == 1 and calls[0].startswith("/wait?"), calls  # a 0.01 s poll would make ~100 calls
    calls.clear()
    assert engine.wait(cluster, timeout=1.0).exit_code == 0 and len(calls) == 1  # finished: answers at once
