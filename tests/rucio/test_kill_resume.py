"""Exactly once across crashes: WMS2 SIGKILLs itself between two Rucio calls, at 9 different places
in turn, then restarts; every file, block and rule is in Rucio exactly once (listed from Rucio)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.rucio.conftest import unique_dataset
from tests.rucio.om_setup import setup_round
from tests.rucio.test_registration import check_round_in_rucio
from wms2.db.rucio_tables import RucioStepRow
from wms2.db.session import Database
from wms2.devservices.rucio_dev import ServerState
from wms2.services.rucio_steps import FAULT_ENV

REPO = Path(__file__).resolve().parents[2]
# In pipeline order; "rule" = the first source rule, "rule:5" = the archival rule (after 4 source rules),
# "rule:6" = the consolidation rule.  Each run dies one step further (the earlier steps are found done).
KILL_POINTS = ("container", "block", "attach_block", "replica", "attach_file", "rule", "close", "rule:5", "rule:6")
RUN_TIMEOUT_S = 120


def _run(db_url: str, spec: Path, wf_id: int, dag_id: int, kill_after: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if kill_after:
        env[FAULT_ENV] = kill_after
    return subprocess.run([sys.executable, "-m", "tests.rucio.om_worker", db_url, str(spec), str(wf_id), str(dag_id)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)


@pytest.mark.slow
def test_sigkill_between_calls_then_restart(rucio_server: ServerState, sqlite_db: Database, tmp_path: Path,
                                            rucio_client: Any) -> None:
    dataset = unique_dataset()
    wf_id, dag_id = setup_round(sqlite_db, "req-kill", dataset)
    password_file = tmp_path / "pw"
    password_file.write_text(rucio_server.password)
    spec = tmp_path / "settings.json"
    spec.write_text(json.dumps({"home": str(tmp_path / "home"), "overrides": {
        "catalog": {"backend": "cms", "rucio_url": rucio_server.url, "rucio_account": rucio_server.account,
                    "rucio_password_file": str(password_file), "rucio_client_config": rucio_server.client_config,
                    "rucio_retries": 1, "rucio_retry_backoff_s": 0.05},
        "output": {"archival_rse": "T1_XX_SiteB_Tape", "consolidation_rse": "T2_XX_SiteA"}}}))
    db_url = str(sqlite_db.engine.url)
    for point in KILL_POINTS:
        proc = _run(db_url, spec, wf_id, dag_id, point)
        assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stderr[-2000:])
    proc = _run(db_url, spec, wf_id, dag_id, None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_round_in_rucio(rucio_client, rucio_server.scope, dataset)
    with sqlite_db.session() as s:
        assert s.scalar(select(func.count()).select_from(RucioStepRow)) == 18
