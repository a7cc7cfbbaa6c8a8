"""Test helpers for the lifecycle: a recording launcher (a fake, so it lives under tests/)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wms2.config import Settings
from wms2.core.workers import HandlerContext, LaunchOutcome, LaunchResult
from wms2.core.workflow_manager import submit_documents
from wms2.db.session import Database
from wms2.db.tables import RequestRow, WorkflowRow


@dataclass
class RecordingLauncher:
    """Pretends to plan and submit; records the order in which requests were launched."""

    outcome: LaunchOutcome = LaunchOutcome.submitted
    launched: list[str] = field(default_factory=list)
    raise_for: set[str] = field(default_factory=set)

    def launch(self, ctx: HandlerContext, request: RequestRow, workflow: WorkflowRow) -> LaunchResult:
        if request.name in self.raise_for:
            raise RuntimeError(f"planner exploded on {request.name}")
        self.launched.append(request.name)
        return LaunchResult(self.outcome, "round 0 submitted (test launcher)")


def stepchain_doc(fixtures_dir: Path, name: str, priority: int = 100000, **extra: Any) -> dict[str, Any]:
    doc = json.loads((fixtures_dir / "reqmgr2" / "StepChainRequestDump.json").read_text())
    doc["RequestName"] = name
    doc["RequestPriority"] = priority
    # Every test request writes its own output datasets (two requests may not share one).
    suffix = "".join(c if c.isalnum() else "_" for c in name)
    doc["OutputDatasets"] = [ds.replace("_Todor_v1-v", f"_Todor_v1_{suffix}-v") for ds in doc["OutputDatasets"]]
    doc.update(extra)
    return doc


def submit(db: Database, settings: Settings, docs: list[dict[str, Any]]) -> list[str]:
    with db.session() as session:
        return [r.name for r in submit_documents(session, [(d["RequestName"], d) for d in docs], settings, "test")]
