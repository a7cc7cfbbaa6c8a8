"""DBS metadata of a block from the WMS2 request that writes it (a real ReqMgr2 StepChain fixture), and
the resulting payload passes every rule: real CMS names against the dbs2go lexicon."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.core.helpers import stepchain_doc
from wms2.config import Settings
from wms2.core.workflow_manager import create_workflow, submit_documents
from wms2.db.tables import ProcessingBlockRow, RequestRow
from wms2.domain.enums import BlockStatus
from wms2.domain.request import RequestSpec
from wms2.services.dbs_payload import BufferedFile, MetaDefaults, block_meta, bulkblock_payload
from wms2.services.dbs_validate import validate_bulkblock
from wms2.services.outputs import RegistrationError, block_name


def test_block_meta_from_a_stepchain_request(session: Session, settings: Settings, fixtures_dir: Path) -> None:
    doc = stepchain_doc(fixtures_dir, "dbs_meta_test")
    submit_documents(session, [(doc["RequestName"], doc)], settings, "test")
    row = session.scalars(select(RequestRow)).one()
    workflow = create_workflow(session, row, RequestSpec.model_validate(row.spec))
    gensim, lhe = doc["OutputDatasets"][0], doc["OutputDatasets"][1]
    for i, ds in enumerate((gensim, lhe)):
        session.add(ProcessingBlockRow(workflow_id=workflow.id, round=0, block_index=i, dataset=ds,
                                       status=BlockStatus.open))
    session.flush()
    meta = block_meta(session, gensim, MetaDefaults(create_by="wms2"))
    assert (meta.acquisition_era, meta.processing_version) == ("Integ_TestStep1", 20)
    spec = RequestSpec.model_validate(row.spec)
    out = next(o for o in spec.output_datasets if o.name == gensim)
    step = next(s for s in spec.steps if s.name == out.step)  # the step the manifest gives the module to
    assert (meta.release_version, meta.global_tag) == (step.cmssw_version, step.global_tag)
    assert meta.release_version.startswith("CMSSW_") and meta.global_tag
    assert meta.pset_hash == step.config_cache_id and len(meta.pset_hash) == 32
    assert meta.output_module_label == "GENSIMoutput"
    assert meta.prep_id == "TEST-TEST-HIG-RunIISummer15wmLHEGS-00744"
    assert block_meta(session, lhe, MetaDefaults()).output_module_label == "LHEoutput"

    block = block_name(gensim, workflow.id, 0, 0)
    era, primary = "Integ_TestStep1", gensim.split("/")[1]
    files = [BufferedFile(f"/store/mc/{era}/{primary}/GEN-SIM/{gensim.split('/')[2].split('-', 1)[1]}/0000/f{i}.root",
                          2_000_000 + i, f"{0xabc0 + i:08x}", 500, {1: [i + 1]}, site="T1_US_FNAL_Disk")
             for i in range(2)]
    payload = bulkblock_payload(meta, block, files, 1764748800)
    assert validate_bulkblock(payload) == []
    assert payload["dataset"]["prep_id"] == meta.prep_id and payload["primds"]["primary_ds_type"] == "mc"


def test_a_dataset_no_request_writes_is_a_clear_error(session: Session) -> None:
    with pytest.raises(RegistrationError, match="DBS: no WMS2 request writes /A/B-v1/RAW"):
        block_meta(session, "/A/B-v1/RAW", MetaDefaults())
