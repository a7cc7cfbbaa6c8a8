"""A WMS2 output block as the DBS writer sees it (shared by the validator and writer tests)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from wms2.services.dbs_payload import BlockMeta, BufferedFile, bulkblock_payload
from wms2.services.outputs import OutputFile

DATASET = "/TTbar_TuneCP5_13p6TeV/Run3Summer24-WMS2Test-v1/AODSIM"
BLOCK = DATASET + "#0f3c6a1e-7d2b-4c9a-8e5f-1a2b3c4d5e6f"
PARENT_DATASET = "/TTbar_TuneCP5_13p6TeV/Run3Summer24-WMS2Test-v1/GEN-SIM"
NOW = 1764748800  # 2025-12-03 08:00:00 UTC
META = BlockMeta(dataset=DATASET, primary_ds_type="mc", acquisition_era="Run3Summer24", processing_version=1,
                 release_version="CMSSW_14_0_7", pset_hash="3f1c9a0e7b2d4c6a8e5f1a2b3c4d5e6f",
                 global_tag="140X_mcRun3_2024_realistic_v14", output_module_label="AODSIMoutput",
                 parent_dataset=PARENT_DATASET, create_by="wms2")


def lfn(i: int) -> str:
    return f"/store/mc/Run3Summer24/TTbar_TuneCP5_13p6TeV/AODSIM/WMS2Test-v1/0000/merged-{i:04d}.root"


def parent(i: int) -> str:
    return f"/store/mc/Run3Summer24/TTbar_TuneCP5_13p6TeV/GEN-SIM/WMS2Test-v1/0000/gensim-{i:04d}.root"


def output_files(n: int = 3, first: int = 0, site: str = "T2_CH_CERN") -> list[OutputFile]:
    return [OutputFile(lfn=lfn(i), size=1_000_000 + i, adler32=f"{0x1a2b3c00 + i:08x}", events=100 + i,
                       lumis={1: [10 * i + 1, 10 * i + 2]}, parents=(parent(i),), site=site)
            for i in range(first, first + n)]


def buffered(files: list[OutputFile]) -> list[BufferedFile]:
    return [BufferedFile(f.lfn, f.size, f.adler32, f.events, f.lumis, f.parents, f.site) for f in files]


def good_payload(n: int = 3) -> dict[str, Any]:
    return bulkblock_payload(META, BLOCK, buffered(output_files(n)), NOW)


def fixed_meta(_session: Session, dataset: str) -> BlockMeta:
    assert dataset == DATASET
    return META
