"""Node status files, metrics, rescue DAGs and event logs: fixtures read, our files readable by
classad2 / htcondor2 and structurally identical to DAGMan's."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import classad2
import htcondor2
import pytest

from wms2.dagman.eventlog import NOOP_PROC, Event, EventLogWriter, EventType, read_events
from wms2.dagman.metrics import DagMetrics, read_metrics, render_metrics
from wms2.dagman.rescue import (
    RescueDag,
    newest_rescue,
    next_rescue_number,
    read_rescue,
    rename_rescues_above,
    render_rescue,
    write_rescue,
)
from wms2.dagman.status_file import DagStatusFile, NodeStatusEntry, read_status_file, render

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
RUNS = FIXTURES / "dagman-runs"
STATUS_FILES = sorted(RUNS.rglob("*.node_status"))


@pytest.mark.parametrize("path", STATUS_FILES, ids=lambda p: p.name)
def test_fixture_status_files_read_like_classad2(path: Path) -> None:
    status = read_status_file(path)
    ads = list(classad2.parseAds(path.read_text()))
    head = ads[0]
    assert status.dag_status == head["DagStatus"] and status.nodes_total == head["NodesTotal"]
    assert status.dag_files == list(head["DagFiles"])
    nodes = [a for a in ads if a["Type"] == "NodeStatus"]
    assert [(n.node, n.status, n.details) for n in status.nodes] == [
        (a["Node"], a["NodeStatus"], a["StatusDetails"]) for a in nodes]
    assert status.nodes_done == sum(1 for n in status.nodes if n.status == 5)
    assert status.nodes_failed == sum(1 for n in status.nodes if n.status == 6)
    assert status.end_time == ads[-1]["EndTime"]


def test_fixture_status_specifics() -> None:
    status = read_status_file(RUNS / "tiny_problems" / "tiny_problems.node_status")
    assert (status.dag_status, status.dag_status_note) == (6, "failed")
    assert status.nodes[1].details == "Job proc (9231.0.0) failed with status 1"
    assert (status.nodes_futile, status.nodes_failed, status.nodes_total) == (1, 2, 6)


def _sample() -> DagStatusFile:
    now = int(time.time())
    return DagStatusFile(dag_files=["my.dag"], timestamp=now, dag_status=3, dag_status_note="",
                         nodes=[NodeStatusEntry("A", 5), NodeStatusEntry('B"x', 6, 'Job "q" failed', 2, 0, 0)],
                         nodes_total=2, nodes_done=1, nodes_failed=1, end_time=now, next_update=now + 60)


def test_our_status_file_is_classad2_readable_and_shaped_like_dagman(tmp_path: Path) -> None:
    text = render(_sample())
    ads = list(classad2.parseAds(text))
    assert [a["Type"] for a in ads] == ["DagStatus", "NodeStatus", "NodeStatus", "StatusEnd"]
    assert ads[2]["Node"] == 'B"x' and ads[2]["StatusDetails"] == 'Job "q" failed' and ads[2]["RetryCount"] == 2
    assert '/* "STATUS_SUBMITTED ()" */' in text
    fixture = (RUNS / "tiny_problems" / "tiny_problems.node_status").read_text()

    def shape(t: str) -> list[str]:
        return [re.sub(r"=.*", "=", line) for line in t.splitlines() if "Node =" not in line and '"' not in line[:6]]

    # same attribute sequence per ad type
    assert shape(text)[:20] == shape(fixture)[:20]
    path = tmp_path / "s.status"
    path.write_text(text)
    back = read_status_file(path)
    assert back.nodes[1].node == 'B"x' and back.next_update == _sample().next_update


def test_metrics_fixtures_and_ours() -> None:
    for path in sorted(RUNS.rglob("*.metrics")):
        data = read_metrics(path)
        assert data["metrics_version"] == 1 and data["nodes"] == data["jobs"] and "DagStatus" in data
    problems = read_metrics(RUNS / "tiny_problems" / "tiny_problems.dag.metrics")
    assert (problems["exitcode"], problems["DagStatus"], problems["dagman_id"]) == (1, 2, "9228")
    text = render_metrics(DagMetrics(start_time=1.5, end_time=3.25, exitcode=0, dagman_id="7", nodes=3,
                                     nodes_succeeded=3, jobs_submitted=3, jobs_succeeded=3))
    data = json.loads(text)
    keys = list(data)
    assert keys[:4] == ["client", "version", "type", "metrics_version"] and keys[-1] == "DagStatus"
    assert data["dagman_id"] == "7" and data["duration"] == 1.75 and data["jobs_failed"] == 0
    assert '    "exitcode":0,' in text


def test_rescue_fixtures() -> None:
    rescue = read_rescue(RUNS / "tiny_problems" / "tiny_problems.dag.rescue001")
    assert rescue.total_nodes == 6 and len(rescue.done) == 3
    assert rescue.failed == ["057c8caf-66f6-4612-abf7-cdea5b666b1b_label1_val1a_val2b", "finalJob"]
    inner = read_rescue(RUNS / "group_failed_1" / "subdags" / "wms_group_order1_val1b"
                        / "group_order1_val1b.dag.rescue001")
    assert inner.done == ["label2_val1b_val2a", "label4_val1b_val2a"] and inner.failed == ["label2_val1b_val2b"]
    outer = read_rescue(RUNS / "group_failed_1" / "group_failed_1.dag.rescue001")
    assert len(outer.done) == 22 and outer.total_nodes == 26


def test_rescue_write_numbering_and_old(tmp_path: Path) -> None:
    dag = tmp_path / "x.dag"
    dag.write_text("JOB A a.sub\n")
    r = RescueDag(dag_file="x.dag", total_nodes=3, done=["A", "B"], failed=["C"])
    assert next_rescue_number(dag) == 1
    first = write_rescue(dag, r)
    second = write_rescue(dag, r)
    assert first is not None and first.name == "x.dag.rescue001"
    assert second is not None and second.name == "x.dag.rescue002"
    assert newest_rescue(dag) == (2, second)
    text = render_rescue(r)
    assert "#   C,<ENDLIST>" in text and text.endswith("DONE A\nDONE B\n")
    assert read_rescue(second).done == ["A", "B"]
    assert write_rescue(dag, r, max_num=2) == second  # at the cap the last file is overwritten
    renamed = rename_rescues_above(dag, 1)
    assert [p.name for p in renamed] == ["x.dag.rescue002.old"]
    assert newest_rescue(dag) == (1, first)
    rename_rescues_above(dag, 0)
    assert newest_rescue(dag) is None


def test_event_log_round_trip_and_htcondor2(tmp_path: Path) -> None:
    path = tmp_path / "x.dag.nodes.log"
    log = EventLogWriter(path)
    now = time.time()
    log.write(Event(EventType.SUBMIT, 12, 0, now, node="A"))
    log.write(Event(EventType.EXECUTE, 12, 0, now))
    log.write(Event(EventType.JOB_TERMINATED, 12, 0, now, return_value=3))
    log.write(Event(EventType.POST_SCRIPT_TERMINATED, 12, 0, now, node="A", return_value=0))
    log.write(Event(EventType.PRESKIP, 0, NOOP_PROC, now, node="B"))
    log.write(Event(EventType.JOB_ABORTED, 13, 1, now, reason="DAG Removed: x"))
    log.write(Event(EventType.JOB_TERMINATED, 14, 0, now, signal=9))
    log.close()
    events = list(htcondor2.JobEventLog(str(path)).events(0))
    assert [int(e.type) for e in events] == [0, 1, 5, 16, 34, 9, 5]
    assert events[0]["LogNotes"] == "DAG Node: A" and events[2]["ReturnValue"] == 3
    assert events[3]["DAGNodeName"] == "A" and events[5]["Reason"] == "DAG Removed: x"
    assert events[6]["TerminatedBySignal"] == 9
    ours = read_events(path)
    assert [(e.type, e.cluster, e.proc) for e in ours] == [(int(e.type), e.cluster, e.proc) for e in events]
    assert ours[2].return_value == 3 and ours[6].signal == 9 and ours[4].node == "B"


def test_event_log_fixtures() -> None:
    for path in sorted(RUNS.rglob("*.nodes.log")):
        ours = read_events(path)
        theirs = list(htcondor2.JobEventLog(str(path)).events(0))
        assert [(e.type, e.cluster, e.proc) for e in ours] == [(int(e.type), e.cluster, e.proc) for e in theirs]


def test_a_status_file_cut_short_is_refused(tmp_path: Path) -> None:
    """A status file without its final StatusEnd ad was cut short: refused, never read as fewer nodes."""
    from wms2.dagman.status_file import DagStatusFile, NodeStatusEntry, node_columns_of_text, render

    text = render(DagStatusFile(dag_files=["w.dag"], timestamp=1, dag_status=3,
                                nodes=[NodeStatusEntry("a", 5), NodeStatusEntry("b", 1)]))
    assert node_columns_of_text(text, "w.dag.status")[0] == ("a", "b")
    for cut in (text.index('Node = "b"'), text.index('Type = "StatusEnd"'), text.index('"StatusEnd"') + 5):
        with pytest.raises(ValueError, match="incomplete"):
            node_columns_of_text(text[:cut], "w.dag.status")
