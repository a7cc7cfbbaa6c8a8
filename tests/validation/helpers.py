"""Requests with registered ROOT outputs, for the API and dashboard tests of validations: simulator
files copied where local stage-out puts them (storage root + LFN) and registered in the local catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from wms2.config import Settings
from wms2.core.lifecycle import LifecycleManager
from wms2.core.transitions import SYSTEM, transition, transition_workflow
from wms2.db.session import Database
from wms2.db.tables import RequestRow, WorkflowRow
from wms2.domain.enums import RequestStatus, WorkflowStatus
from wms2.services.outputs import LocalCatalogWriter, OutputFile

TIER = "GEN-SIM"


def register_outputs(db: Database, settings: Settings, name: str, files: list[Path], events: int = 20_000) -> None:
    """Register ``files`` as the GEN-SIM output of request ``name`` (one block)."""
    with db.session() as session:
        datasets = session.scalar(select(RequestRow.output_datasets).where(RequestRow.name == name))
        dataset = next(d for d in datasets if d.endswith(f"/{TIER}"))
        writer = LocalCatalogWriter(session)
        block = f"{dataset}#0000-{name}"
        writer.open_block(dataset, block)
        outputs = []
        for i, f in enumerate(files):
            lfn = f"/store/mc/validation/{name}/{i:03d}.root"
            target = settings.storage_root / lfn.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target)
            outputs.append(OutputFile(lfn=lfn, size=target.stat().st_size, adler32="00000001", events=events))
        writer.register_files(dataset, block, outputs)


def complete_requests(db: Database, settings: Settings, names: list[str]) -> None:
    """Walk freshly submitted requests to ``completed`` (so a running lifecycle leaves them alone)."""
    LifecycleManager(db, settings).run_cycle()  # submitted -> queued, with their workflows
    with db.session() as session:
        for name in names:
            row = session.scalar(select(RequestRow).where(RequestRow.name == name))
            wf = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
            for status, wf_status in ((RequestStatus.planning, WorkflowStatus.planning),
                                      (RequestStatus.active, WorkflowStatus.active),
                                      (RequestStatus.completed, WorkflowStatus.completed)):
                transition(row, status, SYSTEM, "validation test state")
                transition_workflow(wf, wf_status)
