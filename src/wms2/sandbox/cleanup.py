"""The cleanup job (``wms2-job cleanup --manifest M``): removes the work unit's unmerged files.

Removes every file the processing jobs staged (from their reports), then, in local mode, anything
left in the work unit's unmerged directories (files of earlier attempts), and the jobs' scratch
directories.  Idempotent: files already gone are skipped.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from wms2.sandbox.exitcodes import process_exit_status
from wms2.sandbox.lfns import unmerged_lfn
from wms2.sandbox.manifest import WorkUnitManifest
from wms2.sandbox.report import JobReport
from wms2.sandbox.results import ELECTED_SITE_FILE
from wms2.sandbox.stageout import StageOut, StageOutError

#: cms-formats §7: "other stage-out exception" — the closest code for a failed deletion.
CLEANUP_FAILED = 60324


def unmerged_dirs(manifest: WorkUnitManifest, stageout: StageOut) -> set[Path]:
    dirs = set()
    for job in manifest.jobs:
        for step in manifest.steps:
            for out in step.outputs:
                if out.dataset:
                    dirs.add(Path(stageout.pfn(unmerged_lfn(manifest, job, step, out))).parent)
    return dirs


def cleanup(manifest: WorkUnitManifest, wudir: Path) -> int:
    site_file = wudir / ELECTED_SITE_FILE
    site = site_file.read_text().strip() if site_file.exists() else None
    stageout = StageOut(manifest.stageout, site)
    removed = 0
    for job in manifest.jobs:
        for path in wudir.glob(f"{job.node}.report*.json"):
            report = JobReport.model_validate_json(path.read_text())
            for out in report.outputs:
                removed += stageout.remove(out.lfn)
        shutil.rmtree(wudir / f"{job.node}.work", ignore_errors=True)
    if manifest.stageout.mode == "local":
        for directory in unmerged_dirs(manifest, stageout):
            if directory.is_dir():
                removed += sum(1 for p in directory.rglob("*") if p.is_file())
                shutil.rmtree(directory)
    return removed


def run_cleanup(manifest_path: str | Path) -> int:
    path = Path(manifest_path).resolve()
    manifest = WorkUnitManifest.load(path)
    try:
        removed = cleanup(manifest, path.parent)
    except (StageOutError, OSError) as exc:
        print(f"cleanup of {manifest.work_unit} failed: {exc}", file=sys.stderr)
        return process_exit_status(CLEANUP_FAILED)
    print(f"removed {removed} unmerged file(s) of {manifest.work_unit}")
    return 0
