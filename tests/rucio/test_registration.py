"""Output registration against the real Rucio server: blocks, replicas, attachments, closing, rules.

Every check lists from Rucio itself, never from WMS2's tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from tests.rucio.conftest import cms_settings, unique_dataset
from tests.rucio.om_setup import expected_files, setup_round
from wms2.core.wiring import build_output_manager
from wms2.db.rucio_tables import RucioStepRow
from wms2.db.session import Database
from wms2.db.tables import DagRow, ProcessingBlockRow, WorkflowRow, WorkUnitRecordRow
from wms2.devservices.rucio_dev import ServerState
from wms2.domain.enums import BlockStatus
from wms2.services.outputs import OutputFile
from wms2.services.rucio_gateway import RucioGateway
from wms2.services.rucio_outputs import RucioCatalogWriter, RucioRuleService


def rucio_view(client: Any, scope: str, dataset: str) -> dict[str, Any]:
    """What Rucio holds for ``dataset``: its blocks, their files, replicas, open flags and rules."""
    blocks = [d["name"] for d in client.list_content(scope, dataset)]
    view: dict[str, Any] = {"blocks": blocks, "files": {}, "replicas": {}, "copying": {}, "open": {}, "rules": {}}
    for block in blocks:
        names = [f["name"] for f in client.list_files(scope, block)]
        view["files"][block] = names
        view["open"][block] = client.get_did(scope, block)["open"]
        view["rules"][block] = sorted((r["rse_expression"], r["grouping"], r["activity"])
                                      for r in client.list_did_rules(scope, block))
        for row in client.list_replicas([{"scope": scope, "name": n} for n in names], all_states=True):
            available = sorted(rse for rse, state in row["states"].items() if state == "AVAILABLE")
            view["replicas"][row["name"]] = (available, row["bytes"], row["adler32"])
            view["copying"][row["name"]] = sorted(rse for rse, state in row["states"].items() if state != "AVAILABLE")
            view["rules"][row["name"]] = sorted(r["rse_expression"] for r in client.list_did_rules(scope, row["name"]))
    return view


def check_round_in_rucio(client: Any, scope: str, dataset: str, wus: int = 2, n_files: int = 2) -> None:
    """One closed block holding every file once, each replica once on its site's RSE, every rule once."""
    view = rucio_view(client, scope, dataset)
    assert len(view["blocks"]) == 1, view["blocks"]
    block = view["blocks"][0]
    assert block.startswith(dataset + "#")
    expected = expected_files(dataset, wus, n_files)
    assert sorted(view["files"][block]) == sorted(expected)  # each file attached once
    for lfn, rse in expected.items():
        rses, size, adler = view["replicas"][lfn]
        assert rses == [rse], (lfn, rses)  # written once, where its site wrote it
        # the archival (tape) and consolidation (T2_XX_SiteA) rules make the other copies (no FTS here)
        assert view["copying"][lfn] == sorted({"T1_XX_SiteB_Tape", "T2_XX_SiteA"} - {rse}), view["copying"][lfn]
        assert size >= 1000 and len(adler) == 8
        assert view["rules"][lfn] == [rse], (lfn, view["rules"][lfn])  # one source protection rule
    assert view["open"][block] is False
    assert view["rules"][block] == [("T1_XX_SiteB_Tape", "DATASET", "Production Output"),
                                    ("T2_XX_SiteA", "DATASET", "Data Consolidation")]


def test_output_manager_registers_a_round(rucio_server: ServerState, sqlite_db: Database, tmp_path: Any,
                                          rucio_client: Any) -> None:
    dataset = unique_dataset()
    settings = cms_settings(rucio_server, tmp_path)
    wf_id, dag_id = setup_round(sqlite_db, "req-register", dataset)
    om = build_output_manager(settings)
    now = datetime.now(UTC)
    for _ in range(2):  # a repeated cycle changes nothing
        with sqlite_db.session() as s:
            report = om.collect(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), now)
            assert report.failures == []
    check_round_in_rucio(rucio_client, rucio_server.scope, dataset)
    with sqlite_db.session() as s:
        block = s.scalar(select(ProcessingBlockRow))
        assert block.status == BlockStatus.archived
        assert all(s.scalars(select(WorkUnitRecordRow.registered)))
        kinds = dict(s.execute(select(RucioStepRow.kind, func.count()).group_by(RucioStepRow.kind)).all())
    assert kinds == {"container": 1, "block": 1, "attach_block": 1, "replica": 4, "attach_file": 4,
                     "rule": 6, "close": 1}
    rule = rucio_client.get_replication_rule(block.archival_rule_id)
    assert "req-register" in rule["comments"] and rule["account"] == rucio_server.account
    assert rule["locked"] is True  # Rucio locks rules on tape RSEs itself


def test_existing_state_is_recognised_not_duplicated(rucio_server: ServerState, sqlite_db: Database,
                                                     gateway: RucioGateway, rucio_client: Any,
                                                     tmp_path: Any) -> None:
    """A second WMS2 database with no recorded steps (the worst crash) finds everything already there."""
    dataset = unique_dataset()
    block = f"{dataset}#0000aaaa-1111-2222-3333-444455556666"
    files = [OutputFile(lfn=f"/store/mc/Era/X/AODSIM/P-v1/f{i}.root", size=10 + i, adler32="0000beef", events=5,
                        site="T2_XX_SiteA") for i in range(3)]
    for _ in range(2):
        from wms2.db.base import Base
        from wms2.db.session import Database as Db

        fresh = Db(f"sqlite:///{tmp_path / f'db{_}.sqlite'}")
        Base.metadata.create_all(fresh.engine)
        with fresh.session() as s:
            writer = RucioCatalogWriter(s, gateway)
            writer.open_block(dataset, block)
            added = writer.register_files(dataset, block, files)
            assert added == (3 if _ == 0 else 0)
            writer.close_block(block)
            rules = RucioRuleService(s, gateway)
            first = rules.add_rule(block, "T1_XX_SiteB_Tape", "archival", comment="test")
            assert first == rules.add_rule(block, "T1_XX_SiteB_Tape", "archival", comment="test")
        fresh.dispose()
    assert [d["name"] for d in rucio_client.list_content("cms", dataset)] == [block]
    assert sorted(f["name"] for f in rucio_client.list_files("cms", block)) == sorted(f.lfn for f in files)
    assert len(list(rucio_client.list_did_rules("cms", block))) == 1
    assert rucio_client.get_did("cms", block)["open"] is False


def test_checksum_conflict_is_an_error_naming_the_did(rucio_server: ServerState, sqlite_db: Database,
                                                      gateway: RucioGateway) -> None:
    dataset = unique_dataset()
    block = f"{dataset}#0000bbbb-1111-2222-3333-444455556666"
    good = OutputFile(lfn=f"/store/mc/Era/Y{dataset[5:12]}/AODSIM/P-v1/a.root", size=10, adler32="0000beef",
                      events=5, site="T2_XX_SiteA")
    with sqlite_db.session() as s:
        writer = RucioCatalogWriter(s, gateway)
        writer.open_block(dataset, block)
        writer.register_files(dataset, block, [good])
    bad = OutputFile(lfn=good.lfn, size=11, adler32="0000beef", events=5, site="T2_XX_SiteA")
    with sqlite_db.session() as s:
        s.query(RucioStepRow).delete()
        try:
            RucioCatalogWriter(s, gateway).register_files(dataset, block, [bad])
        except Exception as exc:
            assert "Rucio" in str(exc) and good.lfn in str(exc) and "bytes=10" in str(exc)
        else:
            raise AssertionError("a replica with another size was accepted")
