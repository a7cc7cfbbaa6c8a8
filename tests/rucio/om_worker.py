"""A WMS2 Output Manager run in its own process (killed by the fault-injection point in the tests).

``python -m tests.rucio.om_worker DB_URL SETTINGS_JSON WORKFLOW_ID DAG_ID``: runs lifecycle-like cycles
(``OutputManager.collect`` in one transaction each) until the block is archived; exit 0 then, 3 if it
never got there.  ``WMS2_FAULT_KILL_AFTER`` makes it SIGKILL itself between two Rucio calls.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

import wms2.db.models  # noqa: F401
from wms2.config import load_settings
from wms2.core.wiring import build_output_manager
from wms2.db.session import Database
from wms2.db.tables import DagRow, ProcessingBlockRow, WorkflowRow
from wms2.domain.enums import BlockStatus

MAX_CYCLES = 4


def main(db_url: str, settings_json: str, wf_id: int, dag_id: int) -> int:
    spec = json.loads(Path(settings_json).read_text())
    settings = load_settings(spec["home"], **spec["overrides"])
    om = build_output_manager(settings)
    db = Database(db_url)
    for _ in range(MAX_CYCLES):
        with db.session() as s:
            report = om.collect(s, s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id), datetime.now(UTC))
            if report.failures:
                print(json.dumps(report.failures), file=sys.stderr)
        with db.session() as s:
            if s.scalar(select(ProcessingBlockRow.status).where(ProcessingBlockRow.workflow_id == wf_id)) == \
                    BlockStatus.archived:
                return 0
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
