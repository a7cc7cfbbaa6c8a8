"""``HTCondorEngine`` against the fake bindings (real ClassAds, real ``Submit``, real ``from_dag``)."""

from __future__ import annotations

from pathlib import Path

import classad2
import pytest

from tests.engine_htcondor.fake_htcondor import FakeHTCondor, JobAction
from wms2.engines.base import (
    DagJobState,
    EngineError,
    JobUnknown,
    ScheddUnreachable,
    SubmitOptions,
)
from wms2.engines.htcondor import HTCondorEngine

S1, S2, S3 = "schedd1.example", "schedd2.example", "schedd3.example"


# submit_dag ---------------------------------------------------------------------------------------
def test_submit_dag_end_to_end(engine: HTCondorEngine, fake: FakeHTCondor, diamond: Path) -> None:
    opts = SubmitOptions(batch_name="req-7", max_idle=50, extra_attributes={"WMS2_Round": "3"})
    result = engine.submit_dag(diamond, opts)
    assert result.schedd == S1  # all idle: the first in collector order
    ad = fake.job(S1, result.cluster_id)
    assert ad["Iwd"] == str(diamond.parent)  # not the cwd of the service (reference §6.1)
    assert ad["JobUniverse"] == 7
    assert ad["JobBatchName"] == "req-7"
    assert ad["WMS2_Round"] == 3
    assert ad["JobSubmitMethod"] == 4  # HTCondorDagSubmit
    assert ad["OtherJobRemoveRequirements"] == f"DAGManJobId =?= {result.cluster_id}"
    assert "-Dag diamond.dag" in ad["Args"] and "-MaxIdle 50" in ad["Args"]


def test_submit_goes_to_least_active_schedd(engine: HTCondorEngine, fake: FakeHTCondor, diamond: Path) -> None:
    fake.add_dagman(S1)
    fake.add_dagman(S2)
    fake.add_dagman(S1)
    assert engine.submit_dag(diamond, SubmitOptions()).schedd == S3
    assert len(fake.schedds[S3].submitted) == 1


def test_bad_extra_attribute_name(engine: HTCondorEngine, diamond: Path) -> None:
    with pytest.raises(ValueError, match="not a ClassAd attribute name"):
        engine.submit_dag(diamond, SubmitOptions(extra_attributes={"bad name": "1"}))


def test_submit_to_unreachable_schedd(engine: HTCondorEngine, fake: FakeHTCondor, diamond: Path) -> None:
    engine._settings.schedds = [S2]
    fake.schedds[S2].up = False
    with pytest.raises(ScheddUnreachable, match="no schedd answered"):
        engine.submit_dag(diamond, SubmitOptions())


def test_submit_is_not_retried_after_a_stale_address(engine: HTCondorEngine, fake: FakeHTCondor, diamond: Path) -> None:
    engine._settings.schedds = [S1]
    engine.ping(S1)  # caches the location
    fake.schedds[S1].address = "<10.9.9.9:9618>"  # schedd restarted elsewhere
    with pytest.raises(ScheddUnreachable, match="submit failed"):
        engine._pool.submit(S1, "executable = /bin/true\nqueue\n", diamond.parent, {})
    assert fake.schedds[S1].submitted == []


# query --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("job_status", "state"),
    [
        (1, DagJobState.idle),
        (2, DagJobState.running),
        (3, DagJobState.removed),
        (4, DagJobState.completed),
        (5, DagJobState.held),
        (6, DagJobState.running),
        (7, DagJobState.held),
    ],
)
def test_query_maps_job_status(engine: HTCondorEngine, fake: FakeHTCondor, job_status: int, state: DagJobState) -> None:
    cluster = fake.add_dagman(S2, JobStatus=job_status)
    info = engine.query(cluster, S2)
    assert (info.cluster_id, info.schedd, info.state) == (cluster, S2, state)


def test_query_reads_dag_counters(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(
        S1,
        JobStatus=2,
        DAG_Status=0,
        DAG_InRecovery=0,
        DAG_NodesTotal=4,
        DAG_NodesDone=2,
        DAG_NodesQueued=1,
        DAG_NodesFailed=0,
        DAG_JobsRunning=1,
        HoldReason="stale from an earlier hold",
        Unrelated=5,
    )
    info = engine.query(cluster, S1)
    assert info.status == 0
    assert info.hold_reason is None  # only reported while held
    assert info.counters == {
        "DAG_InRecovery": 0,
        "DAG_NodesTotal": 4,
        "DAG_NodesDone": 2,
        "DAG_NodesQueued": 1,
        "DAG_NodesFailed": 0,
        "DAG_JobsRunning": 1,
    }
    (call,) = [c for c in fake.calls_to("query") if c.target == S1]
    assert call.args[0] == f"ClusterId == {cluster} && ProcId == 0"
    assert "DAG_NodesDone" in call.args[1] and "HoldReason" in call.args[1]


def test_query_held_reports_reason(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=5, HoldReason="via condor_hold (by user cmsprod)")
    info = engine.query(cluster, S1)
    assert info.state is DagJobState.held and info.hold_reason == "via condor_hold (by user cmsprod)"


def test_query_evaluates_expressions_and_drops_undefined(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    """classad2.Value.Undefined/Error are IntEnums (2/1): they must not pass for counters."""
    cluster = fake.add_dagman(S1, JobStatus=2)
    ad = fake.job(S1, cluster)
    ad["DAG_Status"] = classad2.ExprTree("undefined")
    ad["DAG_NodesFailed"] = classad2.ExprTree("error")
    ad["DAG_NodesTotal"] = classad2.ExprTree("2 + 2")
    info = engine.query(cluster, S1)
    assert info.status is None
    assert info.counters == {"DAG_NodesTotal": 4}


def test_query_falls_back_to_history(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=2, DAG_NodesTotal=4, DAG_NodesDone=3)
    fake.finish(S1, cluster, ExitCode=1, DAG_Status=2, DAG_NodesDone=3, DAG_NodesFailed=1)
    info = engine.query(cluster, S1)
    assert info.state is DagJobState.gone and info.status == 2
    assert info.counters["DAG_NodesFailed"] == 1


def test_query_unknown_job(engine: HTCondorEngine) -> None:
    with pytest.raises(JobUnknown, match=r"DAGMan job 99\.0 is neither in the queue nor in the history"):
        engine.query(99, S1)


def test_query_unreachable_schedd(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    fake.schedds[S1].up = False
    with pytest.raises(ScheddUnreachable, match="CEDAR:6001"):
        engine.query(1, S1)


def test_query_unknown_schedd_name(engine: HTCondorEngine) -> None:
    with pytest.raises(ScheddUnreachable, match="not located"):
        engine.query(1, "nosuch.example")


def test_collector_down(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    fake.collector_up = False
    with pytest.raises(ScheddUnreachable, match="Failed communication with collector"):
        engine.query(1, S1)
    assert engine.ping(S1) is False


def test_relocates_after_schedd_restart(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=2)
    assert engine.query(cluster, S1).state is DagJobState.running
    fake.schedds[S1].address = "<10.9.9.9:9618?sock=schedd1>"
    assert engine.query(cluster, S1).state is DagJobState.running
    locates = [c for c in fake.calls_to("locate") if c.args[1] == S1]
    assert len(locates) == 2


# remove / hold / release --------------------------------------------------------------------------
def test_hold_release_remove_with_reasons(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=2)
    engine.hold(cluster, S1, "WMS2: operator paused request r1")
    ad = fake.job(S1, cluster)
    assert ad["JobStatus"] == 5 and ad["HoldReason"] == "WMS2: operator paused request r1"
    engine.release(cluster, S1)
    assert fake.job(S1, cluster)["JobStatus"] == 1
    engine.remove(cluster, S1, "WMS2: request aborted")
    assert fake.job(S1, cluster)["RemoveReason"] == "WMS2: request aborted"
    acts = [(c.args[0], c.args[1]) for c in fake.calls_to("act")]
    assert acts == [
        (JobAction.Hold, f"{cluster}.0"),
        (JobAction.Release, f"{cluster}.0"),
        (JobAction.Remove, f"{cluster}.0"),
    ]


def test_actions_are_idempotent(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=5, HoldReason="x")
    engine.hold(cluster, S1, "again")  # TotalAlreadyDone
    engine.release(cluster, S1)
    engine.release(cluster, S1)  # TotalBadStatus: not held any more
    engine.remove(cluster, S1, "stop")
    engine.remove(cluster, S1, "stop")  # TotalAlreadyDone
    fake.finish(S1, cluster, JobStatus=3)
    engine.remove(cluster, S1, "stop")  # gone to history: no-op


@pytest.mark.parametrize("raises", [False, True])
def test_actions_on_unknown_job(engine: HTCondorEngine, fake: FakeHTCondor, raises: bool) -> None:
    fake.schedds[S1].act_not_found_raises = raises
    for call in (
        lambda: engine.remove(42, S1, "r"),
        lambda: engine.hold(42, S1, "r"),
        lambda: engine.release(42, S1),
    ):
        with pytest.raises(JobUnknown, match=r"42\.0 is neither in the queue nor in the history"):
            call()


def test_hold_of_finished_job(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=2)
    fake.finish(S1, cluster, ExitCode=0)
    with pytest.raises(JobUnknown, match="has left the queue"):
        engine.hold(cluster, S1, "late")


def test_action_unreachable(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    fake.schedds[S1].up = False
    with pytest.raises(ScheddUnreachable):
        engine.remove(1, S1, "r")


def test_action_refused_on_a_queued_job(
    engine: HTCondorEngine, fake: FakeHTCondor, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = fake.add_dagman(S1, JobStatus=2)

    def refuse(*args: object, **kwargs: object) -> None:
        raise fake.HTCondorException("Error when performing action on the schedd.")

    monkeypatch.setattr("tests.engine_htcondor.fake_htcondor.FakeSchedd.act", refuse)
    with pytest.raises(EngineError, match="refused") as err:
        engine.hold(cluster, S1, "r")
    assert not isinstance(err.value, ScheddUnreachable | JobUnknown)


@pytest.mark.parametrize(
    ("result", "message"),
    [({"TotalPermissionDenied": 1}, "permission denied"), ({"TotalError": 1}, "failed")],
)
def test_action_result_errors(
    engine: HTCondorEngine,
    fake: FakeHTCondor,
    monkeypatch: pytest.MonkeyPatch,
    result: dict[str, int],
    message: str,
) -> None:
    monkeypatch.setattr(
        "tests.engine_htcondor.fake_htcondor.FakeSchedd.act", lambda self, *a, **k: classad2.ClassAd(result)
    )
    with pytest.raises(EngineError, match=message):
        engine.remove(1, S1, "r")


# exit_info ----------------------------------------------------------------------------------------
def test_exit_info_success(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=2)
    fake.finish(S1, cluster, ExitCode=0, ExitBySignal=False, DAG_Status=0)
    info = engine.exit_info(cluster, S1)
    assert (info.exit_code, info.removed) == (0, False)
    assert "exited 0 (success)" in info.reason and "DAG_Status 0 (OK)" in info.reason


def test_exit_info_node_failure_and_abort(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    c1 = fake.add_dagman(S1, JobStatus=2)
    fake.finish(S1, c1, ExitCode=1, ExitBySignal=False, DAG_Status=2)
    assert engine.exit_info(c1, S1).exit_code == 1
    assert "NODE_FAILED" in engine.exit_info(c1, S1).reason
    c2 = fake.add_dagman(S1, JobStatus=2)
    fake.finish(S1, c2, ExitCode=43, ExitBySignal=False, DAG_Status=3)
    info = engine.exit_info(c2, S1)
    assert info.exit_code == 43 and "ABORT-DAG-ON" in info.reason and "(ABORT)" in info.reason


def test_exit_info_removed(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=2)
    engine.remove(cluster, S1, "WMS2: clean stop")
    fake.finish(S1, cluster, JobStatus=3, DAG_Status=4)
    info = engine.exit_info(cluster, S1)
    assert info.removed is True and info.exit_code is None
    assert "removed: WMS2: clean stop" in info.reason and "(RM)" in info.reason


def test_exit_info_signal(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=2)
    fake.finish(S1, cluster, ExitBySignal=True, ExitSignal=11, ExitCode=0)
    info = engine.exit_info(cluster, S1)
    assert info.exit_code is None and "signal 11" in info.reason


def test_exit_info_completed_still_in_queue(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=4, ExitCode=0, DAG_Status=0)
    assert engine.exit_info(cluster, S1).exit_code == 0


def test_exit_info_while_running(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    cluster = fake.add_dagman(S1, JobStatus=2)
    with pytest.raises(EngineError, match="still in the queue") as err:
        engine.exit_info(cluster, S1)
    assert not isinstance(err.value, JobUnknown)


def test_exit_info_unknown(engine: HTCondorEngine) -> None:
    with pytest.raises(JobUnknown):
        engine.exit_info(7, S3)


# ping ---------------------------------------------------------------------------------------------
def test_ping(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    assert engine.ping(S1) is True
    fake.schedds[S1].up = False
    assert engine.ping(S1) is False
    assert engine.ping("nosuch.example") is False
