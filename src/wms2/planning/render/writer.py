"""Write a planned round to ``<submit_base>/<request>/r<round>/`` atomically.

Everything is written into a hidden sibling temp directory and renamed into place at the end, so a
half-written round is never visible.  A crash leaves only a ``.r<N>.tmp-*`` directory, which the next
attempt removes; a complete round that was never submitted is replaced; a round that an engine has
already touched (any ``workflow.dag.*`` file) is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wms2.config import Settings
from wms2.domain.request import RequestSpec
from wms2.planning.params import RoundPlan
from wms2.planning.render import dag as d
from wms2.planning.render import quoting as q
from wms2.planning.render.manifest import ManifestWriter
from wms2.planning.render.submit import ROLE_FILES, SubmitContext, fill, requirements, role_template
from wms2.planning.types import WorkUnit

STEP_PROFILE = "step_profile.json"
MANIFEST = "manifest.json"
SANDBOX_DIR = "sandbox"
SCRIPTS_DIR = "scripts"
ROLES = ("Landing", "Processing", "Merge", "Cleanup")

SandboxInstaller = Callable[[Path], Any]
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL


@dataclass(frozen=True)
class RenderResult:
    submit_dir: Path
    dag_file: Path
    files: int
    bytes: int


class _Out:
    """Counts what it writes."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

    def write(self, path: Path, text: str) -> None:
        self.write_at(None, str(path), text)

    def write_at(self, dir_fd: int | None, name: str, text: str) -> None:
        """Create ``name`` (relative to the open directory ``dir_fd``: no path walk per file)."""
        data = text.encode()
        fd = os.open(name, _CREATE, 0o644, dir_fd=dir_fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        self.files += 1
        self.bytes += len(data)


def round_dir(settings: Settings, request_name: str, round_index: int) -> Path:
    """``<submit_base>/<request>/r<round>`` with the request name checked as a path component."""
    name = q.name(request_name, "request_name")
    base = settings.submit_base.resolve()
    path = (base / name / f"r{q.integer(round_index, 'round')}").resolve()
    if base not in path.parents:
        raise q.RenderError(f"request_name: {request_name!r} escapes the submit directory")
    return path


class RoundAlreadySubmitted(q.RenderError):
    """The round directory was already submitted to an engine (DAGMan's files are in it): never rewritten."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} was already submitted to an engine; refusing to overwrite it")
        self.path = path


def engine_touched(path: Path) -> bool:
    return path.is_dir() and any(p.name.startswith(d.OUTER_DAG + ".") for p in path.iterdir())


def write_round(plan: RoundPlan, spec: RequestSpec, workflow_id: str, settings: Settings,
                profile: dict[str, Any] | None = None, install_sandbox: SandboxInstaller | None = None,
                throttles: dict[str, int] | None = None) -> RenderResult:
    final = round_dir(settings, spec.name, plan.round)
    if engine_touched(final):
        raise RoundAlreadySubmitted(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        out = _write_tree(tmp, plan, spec, q.name(workflow_id, "workflow_id"), settings, profile, throttles or {})
        if install_sandbox is not None:
            install_sandbox(tmp / SANDBOX_DIR)
        _swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if install_sandbox is not None and _mentions(final / SANDBOX_DIR, tmp.name):
        # The launcher embedded its (temporary) location: install it again at its final place.
        shutil.rmtree(final / SANDBOX_DIR)
        install_sandbox(final / SANDBOX_DIR)
    return RenderResult(final, final / d.OUTER_DAG, out.files, out.bytes)


def _mentions(sandbox: Path, marker: str) -> bool:
    launcher = sandbox / "wms2-job"
    return launcher.is_file() and marker in launcher.read_text(errors="replace")


def _swap_into_place(tmp: Path, final: Path) -> None:
    if final.exists():
        trash = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(final, trash)
        os.rename(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(tmp, final)


def _write_tree(root: Path, plan: RoundPlan, spec: RequestSpec, workflow_id: str, settings: Settings,
                profile: dict[str, Any] | None, throttles: dict[str, int]) -> _Out:
    p = settings.planning
    out = _Out()
    ctx = SubmitContext(spec.name, workflow_id, plan.round, spec.priority, plan.allowed_sites, plan.denied_sites,
                        transfer_files=settings.sandbox.stageout_mode != "local")
    templates = {role: role_template(role, plan.resources[role], ctx, p) for role in ROLES}
    base_reqs = requirements(plan.allowed_sites, plan.denied_sites)
    # Pre-filled with the round-wide constraints and split at the WU name: a WU without its own
    # location constraint costs one join per file.
    split = {role: fill(t, "@WU@", base_reqs, plan.allowed_sites).split("@WU@") for role, t in templates.items()}
    header = f"WMS2 request {q.name(spec.name, 'request_name')} workflow {workflow_id} round {plan.round}"
    wu_names = [wu.name for wu in plan.work_units]
    out.write(root / d.OUTER_DAG, d.outer_dag(header, wu_names, p, throttles))
    out.write(root / d.DAGMAN_CONFIG, d.dagman_config(p))
    (root / SCRIPTS_DIR).mkdir()
    if profile:
        out.write(root / STEP_PROFILE, json.dumps(profile, indent=1, sort_keys=True))
    groups = d.GroupDagWriter(p, throttles)
    manifests = ManifestWriter(spec, workflow_id, plan.params, settings)
    root_fd = os.open(root, os.O_RDONLY)
    try:
        for wu in plan.work_units:
            os.mkdir(wu.name, dir_fd=root_fd)
            wfd = os.open(wu.name, os.O_RDONLY, dir_fd=root_fd)
            try:
                _write_wu(out, wfd, wu, plan, templates, split, base_reqs, groups, manifests, header)
            finally:
                os.close(wfd)
    finally:
        os.close(root_fd)
    return out


def _write_wu(out: _Out, wfd: int, wu: WorkUnit, plan: RoundPlan, templates: dict[str, str],
              split: dict[str, list[str]], base_reqs: str, groups: d.GroupDagWriter, manifests: ManifestWriter,
              header: str) -> None:
    out.write_at(wfd, d.GROUP_DAG, groups.render(f"{header} work unit {wu.name}", [j.node for j in wu.jobs]))
    for role in ROLES:
        if wu.sites:  # data location: the landing node elects among the sites holding the input
            role_reqs = requirements(plan.allowed_sites, plan.denied_sites, wu.sites) if role == "Landing" \
                else base_reqs
            text = fill(templates[role], wu.name, role_reqs, wu.sites)
        else:
            text = wu.name.join(split[role])
        out.write_at(wfd, ROLE_FILES[role], text)
    out.write_at(wfd, MANIFEST, manifests.render(wu))
