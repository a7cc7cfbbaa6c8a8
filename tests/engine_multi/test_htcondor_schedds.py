"""The HTCondor engine over several schedds, against the test double of the bindings
(``tests/engine_htcondor/fake_htcondor.py``): spread by load, caps, each DAG at its own schedd, one
schedd gone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine_htcondor.fake_htcondor import FakeHTCondor
from wms2.config import EngineSettings
from wms2.engines.base import DagJobState, ScheddsFull, ScheddUnreachable, SubmitOptions
from wms2.engines.htcondor import CondorPool, HTCondorEngine

S1, S2, S3 = "schedd1.example", "schedd2.example", "schedd3.example"

# What ``Submit.from_dag`` produces, reduced to what the schedd double reads: a scheduler-universe
# job with the attribute that marks a DAGMan job (reference §5.2).
DAGMAN_DESCRIPTION = """universe = scheduler
executable = /usr/bin/condor_dagman
arguments = -Dag workflow.dag
My.OtherJobRemoveRequirements = "DAGManJobId =?= $(cluster)"
"""


class DescriptionOnly:
    """Test double of ``FromDagRunner``: the description without the ``from_dag`` child process."""

    def run(self, dag_file: Path, options: SubmitOptions) -> str:
        assert dag_file.is_file()
        return DAGMAN_DESCRIPTION


@pytest.fixture
def fake() -> FakeHTCondor:
    return FakeHTCondor([S1, S2, S3])


def make_engine(fake: FakeHTCondor, **settings: object) -> HTCondorEngine:
    config = EngineSettings(kind="htcondor", collector=fake.collector_address, schedds=[S1, S2, S3], **settings)
    return HTCondorEngine(config, pool=CondorPool(config.collector, bindings=fake),
                          from_dag=DescriptionOnly())  # type: ignore[arg-type]


@pytest.fixture
def dag(tmp_path: Path) -> Path:
    path = tmp_path / "workflow.dag"
    path.write_text("JOB wu0 node.sub\n")
    return path


def active_dagmans(fake: FakeHTCondor, schedd: str) -> int:
    return sum(1 for ad in fake.schedds[schedd].queue if ad.get("JobUniverse") == 7 and ad["JobStatus"] in (1, 2, 5))


def test_dags_spread_evenly_and_each_is_found_at_its_schedd(fake: FakeHTCondor, dag: Path) -> None:
    engine = make_engine(fake)
    results = [engine.submit_dag(dag, SubmitOptions()) for _ in range(6)]
    assert [r.schedd for r in results] == [S1, S2, S3, S1, S2, S3]
    assert {s: active_dagmans(fake, s) for s in (S1, S2, S3)} == {S1: 2, S2: 2, S3: 2}
    # Cluster ids repeat across schedds: only (cluster, schedd) names a DAG.
    assert results[0].cluster_id == results[1].cluster_id
    engine.hold(results[1].cluster_id, S2, "test")
    assert fake.job(S2, results[1].cluster_id)["JobStatus"] == 5
    assert fake.job(S1, results[0].cluster_id)["JobStatus"] == 1  # same cluster id on S1: untouched
    engine.remove(results[2].cluster_id, S3, "test")
    assert fake.job(S3, results[2].cluster_id)["JobStatus"] == 3
    assert engine.query(results[1].cluster_id, S2).state == DagJobState.held


def test_job_load_breaks_ties_between_equal_dag_counts(fake: FakeHTCondor, dag: Path) -> None:
    for _ in range(4):
        fake.add_job(S1, JobUniverse=5, JobStatus=2)
    fake.add_job(S2, JobUniverse=5, JobStatus=1)
    assert make_engine(fake).submit_dag(dag, SubmitOptions()).schedd == S3
    fake.add_job(S3, JobUniverse=5, JobStatus=2)
    fake.add_job(S3, JobUniverse=5, JobStatus=2)
    # every schedd has 0 or 1 DAG now: S1 and S2 have none; S2 runs fewer jobs than S1
    assert make_engine(fake).submit_dag(dag, SubmitOptions()).schedd == S2


def test_collector_down_places_by_dag_counts(fake: FakeHTCondor, dag: Path) -> None:
    fake.add_dagman(S1, JobStatus=2)
    engine = make_engine(fake)
    assert all(engine.ping(s) for s in (S1, S2, S3))  # locates (and caches) every configured schedd
    fake.collector_up = False  # no schedd ads, so no job totals: the DAG counts decide
    assert engine.submit_dag(dag, SubmitOptions()).schedd == S2


def test_per_schedd_dag_cap(fake: FakeHTCondor, dag: Path) -> None:
    engine = make_engine(fake, schedd_max_dags=2)
    fake.add_dagman(S1, JobStatus=2)
    fake.add_dagman(S1, JobStatus=5)  # a held DAG still counts
    placed = [engine.submit_dag(dag, SubmitOptions()).schedd for _ in range(4)]
    assert sorted(placed) == [S2, S2, S3, S3]
    with pytest.raises(ScheddsFull, match=f"{S1}: 2/2 DAGs"):
        engine.submit_dag(dag, SubmitOptions())
    assert sum(len(fake.schedds[s].submitted) for s in (S1, S2, S3)) == 4
    fake.finish(S3, fake.schedds[S3].queue[0]["ClusterId"])  # a DAG ends: room again on S3
    assert engine.submit_dag(dag, SubmitOptions()).schedd == S3


def test_per_schedd_job_cap(fake: FakeHTCondor, dag: Path) -> None:
    for _ in range(3):
        fake.add_job(S1, JobUniverse=5, JobStatus=1)
        fake.add_job(S2, JobUniverse=5, JobStatus=2)
    engine = make_engine(fake, schedd_max_jobs=3)
    assert engine.submit_dag(dag, SubmitOptions()).schedd == S3


def test_round_robin_respects_caps(fake: FakeHTCondor, dag: Path) -> None:
    engine = make_engine(fake, schedd_policy="round_robin", schedd_max_dags=1)
    fake.add_dagman(S2, JobStatus=2)
    assert [engine.submit_dag(dag, SubmitOptions()).schedd for _ in range(2)] == [S1, S3]
    with pytest.raises(ScheddsFull):
        engine.submit_dag(dag, SubmitOptions())


def test_one_schedd_gone_the_others_keep_working(fake: FakeHTCondor, dag: Path) -> None:
    engine = make_engine(fake)
    results = [engine.submit_dag(dag, SubmitOptions()) for _ in range(3)]
    fake.schedds[S2].up = False
    gone = results[1]
    with pytest.raises(ScheddUnreachable, match=S2):
        engine.query(gone.cluster_id, S2)
    with pytest.raises(ScheddUnreachable, match=S2):
        engine.remove(gone.cluster_id, S2, "operator")
    assert engine.ping(S2) is False
    for result in (results[0], results[2]):
        assert engine.query(result.cluster_id, result.schedd).state == DagJobState.idle
    # New DAGs avoid the silent schedd even though it is the least loaded.
    assert {engine.submit_dag(dag, SubmitOptions()).schedd for _ in range(2)} == {S1, S3}
    fake.schedds[S2].up = True  # it comes back: its DAG is there again
    assert engine.query(gone.cluster_id, S2).state == DagJobState.idle


def test_every_schedd_gone(fake: FakeHTCondor, dag: Path) -> None:
    for state in fake.schedds.values():
        state.up = False
    with pytest.raises(ScheddUnreachable, match="no schedd answered"):
        make_engine(fake, schedd_max_dags=5).submit_dag(dag, SubmitOptions())


class WithBatchName(DescriptionOnly):
    """Adds the batch name as ``Submit.from_dag`` writes it (tests/engine_htcondor/test_from_dag.py)."""

    def run(self, dag_file: Path, options: SubmitOptions) -> str:
        return super().run(dag_file, options) + f'My.JobBatchName = "{options.batch_name}"\n'


def test_a_submission_is_found_by_its_batch_name_in_queue_or_history(fake: FakeHTCondor, dag: Path) -> None:
    engine = make_engine(fake)
    engine._from_dag = WithBatchName()  # type: ignore[assignment]
    assert engine.find_submitted("req-r0-d1") is None
    engine.submit_dag(dag, SubmitOptions(batch_name="req-r0-d0"))
    first = engine.submit_dag(dag, SubmitOptions(batch_name="req-r0-d1"))
    assert first.schedd == S2
    assert engine.find_submitted("req-r0-d1") == first
    fake.finish(S2, first.cluster_id, ExitCode=0)
    assert engine.find_submitted("req-r0-d1") == first  # from the history
    fake.schedds[S3].up = False
    with pytest.raises(ScheddUnreachable):
        engine.find_submitted("req-r0-d9")
    with pytest.raises(ValueError, match="batch name"):
        engine.find_submitted('x" || true || "')
