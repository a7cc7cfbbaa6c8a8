"""Logical file names the worker-node jobs write: shared by the processing and the cleanup job.

Kept apart from :mod:`wms2.sandbox.wrapper` so that the cleanup job does not import the wrapper's
step machinery (its own process start-up, docs/design-notes/test-speed.md).
"""

from __future__ import annotations

from wms2.sandbox.manifest import JobSpec, OutputModule, StepSpec, WorkUnitManifest


def unmerged_lfn(manifest: WorkUnitManifest, job: JobSpec, step: StepSpec, out: OutputModule) -> str:
    """Deterministic per node and round, so a retry overwrites its previous attempt's file."""
    base = (
        out.unmerged_lfn_base
        or f"{manifest.stageout.lfn_prefix.rstrip('/')}/unmerged/{manifest.request_name}/{out.tier}"
    )
    return f"{base.rstrip('/')}/r{manifest.round}/{manifest.work_unit}/{job.node}-{step.name}-{out.module}.root"
