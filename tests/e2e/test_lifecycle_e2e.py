"""End to end on the local engine with the simulator payload (issue 6 acceptance).

One module-scoped run drives two requests through the real Lifecycle Manager: an adaptive generation
request (20,000 events, a Memory hint twice too high) and a FileBased request with a lumi mask over a
generated dataset.  The tests then check what was registered, read back from the database.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest
from sqlalchemy import select

from wms2.config import Settings, load_settings
from wms2.core.demo import DemoResult, load_samples, run_demo
from wms2.core.wu_records import workflow_outputs
from wms2.db.catalog_tables import CatalogBlockRow, CatalogDatasetRow, CatalogFileRow, CatalogLumiRow
from wms2.db.session import Database
from wms2.db.tables import DagRow, LocalRuleRow, ProcessingBlockRow, RequestRow, WorkflowRow
from wms2.services.catalog import FileSelection
from wms2.services.local_catalog import LocalCatalog

pytestmark = pytest.mark.slow

SIM_PEAK_MB = 300.0
LUMI_MASK = {"400001": [[2, 9], [15, 24]], "400002": [[1, 6]], "400003": [[10, 35]]}


def _documents() -> list[tuple[str, Any]]:
    gen, rereco = (copy.deepcopy(d) for _, d in load_samples())
    gen["RequestName"] = "e2e_generation"
    gen["Memory"] = 2 * 1.2 * SIM_PEAK_MB * 2  # twice what the job needs, for 2 cores
    gen["Multicore"] = 2
    gen["WMS2Simulator"] = {"cpu_seconds_per_event": 0.0002, "memory_mb": 150, "peak_memory_mb": SIM_PEAK_MB,
                            "size_per_event_kb": 2}
    rereco["RequestName"] = "e2e_filebased"
    rereco["SplittingAlgo"] = "FileBased"
    rereco["FilesPerJob"] = 2
    rereco["LumiList"] = LUMI_MASK
    return [("e2e_generation", gen), ("e2e_filebased", rereco)]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, Database, Settings]:
    home = tmp_path_factory.mktemp("e2e") / "home"
    result = run_demo(home, reset=True, timeout_s=600, documents=_documents(),
                      overrides={"resources": {"default_memory_per_core_mb": 100}})
    settings = load_settings(home)
    db = Database(settings.db_url)
    yield result, db, settings
    db.dispose()
    from wms2.engines.local_engine import stop_pool

    stop_pool(settings)


def _workflow(db: Database, name: str) -> tuple[RequestRow, WorkflowRow, list[DagRow]]:
    with db.session() as s:
        req = s.scalar(select(RequestRow).where(RequestRow.name == name))
        wf = s.scalar(select(WorkflowRow).where(WorkflowRow.request_id == req.id))
        dags = list(s.scalars(select(DagRow).where(DagRow.workflow_id == wf.id).order_by(DagRow.id)))
        return req, wf, dags


def _both_requests_complete(run: Any) -> None:
    result, _, _ = run
    assert {r["name"]: r["status"] for r in result.requests} == {"e2e_generation": "completed",
                                                                 "e2e_filebased": "completed"}, result.requests


def _generation_adapts_over_rounds(run: Any) -> None:
    _, db, _ = run
    _req, _wf, dags = _workflow(db, "e2e_generation")
    rounds = sorted({d.round for d in dags})
    assert len(rounds) >= 3, rounds
    by_round = {d.round: d for d in dags if d.status == "completed"}
    r0, r1 = by_round[0], by_round[1]
    assert r0.round_params["request_memory_mb"] >= 2 * 1.2 * SIM_PEAK_MB * 0.9  # round 0: the (too high) hint
    measured_peak = r0.round_metrics["peak_rss_mb"]
    assert measured_peak == pytest.approx(SIM_PEAK_MB, rel=0.2)
    assert r1.round_params["request_memory_mb"] == pytest.approx(measured_peak * 1.2, rel=0.10)
    epj = [by_round[r].round_params["base_events_per_job"] for r in sorted(by_round)]
    assert epj[1] > 0 and all(b >= a for a, b in itertools.pairwise(epj)), epj  # towards the 8 h target


def _generation_events_exactly_once(run: Any) -> None:
    _, db, _ = run
    req, wf, _dags = _workflow(db, "e2e_generation")
    ranges: list[tuple[int, int]] = []
    with db.session() as s:
        for wu in workflow_outputs(s, wf.id).values():
            for f in wu["files"]:
                ranges.extend(tuple(r) for r in f["event_ranges"])
    ranges.sort()
    assert ranges[0][0] == 1
    for (a0, a1), (b0, _b1) in itertools.pairwise(ranges):
        assert b0 == a1 + 1, f"gap or overlap between {a0}-{a1} and {b0}"
    assert ranges[-1][1] == 20000
    assert wf.events_produced == 20000
    with db.session() as s:
        files = s.scalars(select(CatalogFileRow).join(CatalogDatasetRow).where(
            CatalogDatasetRow.name == req.output_datasets[0], CatalogFileRow.is_valid.is_(True))).all()
        assert sum(f.events for f in files) == 20000


def _filebased_lumis_equal_masked_input(run: Any) -> None:
    _, db, _ = run
    req, _wf, _ = _workflow(db, "e2e_filebased")
    with db.session() as s:
        mask = {int(r): [tuple(x) for x in v] for r, v in LUMI_MASK.items()}
        inputs = LocalCatalog(s).files(req.input_dataset, FileSelection(lumi_mask=mask))
        expected = sorted({(ls.run, ls.lumi) for f in inputs for ls in f.lumis})
        out = s.execute(select(CatalogLumiRow.run, CatalogLumiRow.lumi).join(
            CatalogFileRow, CatalogFileRow.id == CatalogLumiRow.file_id).join(
            CatalogDatasetRow, CatalogDatasetRow.id == CatalogFileRow.dataset_id).where(
            CatalogDatasetRow.name == req.output_datasets[0])).all()
        registered = sorted((r, lumi) for r, lumi in out)
    assert registered == expected
    assert len(expected) > 0


def _blocks_one_per_dataset_per_round_all_archived(run: Any) -> None:
    _, db, _ = run
    for name in ("e2e_generation", "e2e_filebased"):
        req, wf, dags = _workflow(db, name)
        with db.session() as s:
            blocks = list(s.scalars(select(ProcessingBlockRow).where(ProcessingBlockRow.workflow_id == wf.id)))
            rounds = {d.round for d in dags}
            assert sorted((b.round, b.dataset) for b in blocks) == sorted(
                (r, ds) for r in rounds for ds in req.output_datasets)
            assert {b.status for b in blocks} == {"archived"}
            for b in blocks:
                assert len(b.completed_work_units) == b.total_work_units == len(set(b.completed_work_units))
                catalog_block = s.scalar(select(CatalogBlockRow).where(CatalogBlockRow.name == b.catalog_block_name))
                assert catalog_block is not None and not catalog_block.is_open
                assert s.get(LocalRuleRow, b.archival_rule_id).kind == "archival"
                assert set(b.source_rule_ids) == set(b.completed_work_units)
            lfns = [f["lfn"] for wu in workflow_outputs(s, wf.id).values() for f in wu["files"]]
            assert len(lfns) == len(set(lfns))
            n_catalog = len(s.scalars(select(CatalogFileRow.lfn).where(CatalogFileRow.lfn.in_(lfns))).all())
            assert n_catalog == len(lfns)


def _show_prints_rounds_table(run: Any) -> None:
    from typer.testing import CliRunner

    from wms2.cli import app

    _, _, settings = run
    result = CliRunner().invoke(app, ["show", "e2e_generation", "--home", str(settings.home), "--json"])
    assert result.exit_code == 0, result.stderr
    detail = json.loads(result.stdout)
    assert len(detail["rounds"]) >= 3 and detail["rounds"][1]["params"]["request_memory_mb"] > 0
    text = CliRunner().invoke(app, ["show", "e2e_generation", "--home", str(settings.home)])
    memory = str(detail["rounds"][1]["params"]["request_memory_mb"])
    assert "round" in text.stdout and memory in text.stdout


def _demo_contract_json(run: Any) -> None:
    result, _, _ = run
    for r in result.requests:
        assert {"name", "status", "rounds", "events_registered", "blocks_archived"} <= set(r)


def _demo_leaves_no_daemon(run: Any) -> None:
    from wms2.engines.local.client import pool_status

    _, _, settings = run
    assert pool_status(settings)["running"] is False, "the demo must stop the pool daemon it started"


def test_lifecycle_end_to_end(run: Any) -> None:
    """One test drives the checks, so that one worker runs the (expensive) module-scoped run once."""
    _both_requests_complete(run)
    _generation_adapts_over_rounds(run)
    _generation_events_exactly_once(run)
    _filebased_lumis_equal_masked_input(run)
    _blocks_one_per_dataset_per_round_all_archived(run)
    _show_prints_rounds_table(run)
    _demo_contract_json(run)
    _demo_leaves_no_daemon(run)
