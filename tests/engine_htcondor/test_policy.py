"""Schedd choice: ``least_active`` and ``round_robin``, configured schedds vs the collector's list."""

from __future__ import annotations

import pytest

from tests.engine_htcondor.fake_htcondor import FakeHTCondor
from wms2.engines.base import ScheddUnreachable
from wms2.engines.htcondor import HTCondorEngine
from wms2.engines.htcondor.policy import ACTIVE_DAGMAN_CONSTRAINT, RoundRobin, least_active

S1, S2, S3 = "schedd1.example", "schedd2.example", "schedd3.example"


def test_names_from_collector_when_none_configured(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    assert engine.schedd_names() == [S1, S2, S3]
    assert fake.calls_to("locateAll")


def test_configured_names_win(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    engine._settings.schedds = [S3, S1]
    assert engine.schedd_names() == [S3, S1]
    assert not fake.calls_to("locateAll")


def test_empty_pool(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    fake.schedds.clear()
    with pytest.raises(ScheddUnreachable, match="lists no schedd"):
        engine.choose_schedd()


def test_collector_unreachable_for_listing(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    fake.collector_up = False
    with pytest.raises(ScheddUnreachable, match=r"collector cm\.example:9618 did not answer"):
        engine.choose_schedd()


def test_counts_only_active_top_level_dagman_jobs(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    top = fake.add_dagman(S1, JobStatus=2)
    fake.add_dagman(S1, JobStatus=5)  # held DAGs still occupy the schedd
    fake.add_dagman(S1, JobStatus=1)
    # not counted: sub-DAG DAGMans, finished DAGMans, other scheduler-universe jobs, node jobs
    fake.add_dagman(S1, JobStatus=2, DAGManJobId=top)
    fake.add_dagman(S1, JobStatus=4)
    fake.add_dagman(S1, JobStatus=3)
    fake.add_job(S1, JobUniverse=7, JobStatus=2)
    fake.add_job(S1, JobUniverse=5, JobStatus=2, DAGManJobId=top)
    assert engine.count_active_dags(S1) == 3
    query = next(c for c in fake.calls_to("query") if c.target == S1)
    assert query.args[0] == ACTIVE_DAGMAN_CONSTRAINT


def test_least_active_picks_fewest_and_breaks_ties_in_order(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    for _ in range(3):
        fake.add_dagman(S1, JobStatus=2)
    fake.add_dagman(S2, JobStatus=2)
    fake.add_dagman(S3, JobStatus=2)
    assert engine.choose_schedd() == S2
    engine._settings.schedds = [S3, S2, S1]
    assert engine.choose_schedd() == S3
    # Issue 15: equal DAG counts are broken by the schedd's job load (collector ad), then by order.
    for _ in range(5):
        fake.add_job(S3, JobUniverse=5, JobStatus=2)
    assert engine.choose_schedd() == S2


def test_least_active_skips_unreachable(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    fake.add_dagman(S2, JobStatus=2)
    fake.add_dagman(S3, JobStatus=2)
    fake.add_dagman(S3, JobStatus=2)
    fake.schedds[S1].up = False
    assert engine.choose_schedd() == S2


def test_least_active_all_unreachable() -> None:
    def down(name: str) -> int:
        raise ScheddUnreachable(f"{name} down")

    with pytest.raises(ScheddUnreachable, match="no schedd answered: a down; b down"):
        least_active(["a", "b"], down)


def test_round_robin_cycles_and_skips_unreachable(engine: HTCondorEngine, fake: FakeHTCondor) -> None:
    engine._settings.schedd_policy = "round_robin"
    assert [engine.choose_schedd() for _ in range(4)] == [S1, S2, S3, S1]
    fake.schedds[S2].up = False
    assert engine.choose_schedd() == S3


def test_round_robin_none_reachable() -> None:
    with pytest.raises(ScheddUnreachable, match="no schedd answered among a, b"):
        RoundRobin()(["a", "b"], lambda name: False)
