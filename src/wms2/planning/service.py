"""``prepare_round``: from the database rows to a round directory on disk (or a dry-run preview).

Synchronous on purpose: the Lifecycle Manager runs it off the API event loop.  It never changes a
request's or workflow's status or offsets (invariant 4): it returns what the caller should record.
It does own the data bookkeeping of ``input_files``: the rows are created from the catalog on the
first round, and the files a round takes are marked ``assigned`` in the caller's session (so a
rollback of the caller's transaction undoes it; re-planning the same round is deterministic and
replaces an unsubmitted round directory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.db.tables import InputFileRow, RequestRow, SiteBanRow, WorkflowRow
from wms2.domain.enums import InputFileState
from wms2.domain.request import RequestSpec
from wms2.planning.metrics import parse_step_metrics
from wms2.planning.params import Overrides, PlanInputs, RoundPlan, WorkflowState
from wms2.planning.round import PlanningError, plan_round
from wms2.planning.types import BlockPlan, InputFile
from wms2.services.catalog import CatalogError, FileSelection, FullCatalog

SandboxInstaller = Callable[[Path], Any]


@dataclass(frozen=True)
class PreparedRound:
    """What planning produced; the caller records it (DAG row, blocks, offsets, status)."""

    round: int
    dry_run: bool
    plan: RoundPlan = field(repr=False)
    dag_file: Path | None = None
    submit_dir: Path | None = None
    files_written: int = 0
    bytes_written: int = 0

    @property
    def has_work(self) -> bool:
        return bool(self.plan.jobs)

    @property
    def blocks(self) -> list[BlockPlan]:
        return self.plan.blocks

    @property
    def round_params(self) -> dict[str, Any]:
        return self.plan.params.as_dict()

    @property
    def files_assigned(self) -> list[str]:
        return self.plan.files

    def summary(self) -> dict[str, Any]:
        s = self.plan.summary()
        s.update({"dry_run": self.dry_run, "dag_file": str(self.dag_file) if self.dag_file else None,
                  "submit_dir": str(self.submit_dir) if self.submit_dir else None,
                  "files_written": self.files_written, "bytes_written": self.bytes_written,
                  "next_first_event": self.plan.next_first_event, "next_lumi": self.plan.next_lumi})
        return s


def request_spec(row: RequestRow) -> RequestSpec:
    spec = RequestSpec.model_validate(row.spec)
    return spec if spec.name == row.name else spec.model_copy(update={"name": row.name})


def selection_for(spec: RequestSpec) -> FileSelection:
    return FileSelection(
        run_whitelist=frozenset(spec.run_whitelist), run_blacklist=frozenset(spec.run_blacklist),
        lumi_mask=spec.lumi_mask, block_whitelist=frozenset(spec.block_whitelist),
        block_blacklist=frozenset(spec.block_blacklist),
    )


def input_file_rows(spec: RequestSpec, catalog: FullCatalog, stage: bool = False) -> list[dict[str, Any]]:
    """``input_files`` rows (as dicts) for the request's input dataset, from the catalog; with ``stage``,
    blocks with a file only on tape get a staging rule (catalogs that can recall from tape: Rucio)."""
    if spec.input_dataset is None:
        return []
    files = catalog.files(spec.input_dataset, selection_for(spec))
    replicas = catalog.replicas([f.lfn for f in files])
    request_staging = getattr(catalog, "request_staging", None)  # catalogs with tape recall (Rucio)
    on_tape_only = sorted({f.block for f in files
                           if replicas.get(f.lfn) and all(r.is_tape for r in replicas[f.lfn])})
    if stage and request_staging is not None and on_tape_only:
        request_staging(on_tape_only, spec.site_whitelist, f"WMS2 {spec.name}: stage input from tape")
    return [{
        "lfn": f.lfn, "events": f.events, "size": f.size,
        "lumis": {str(run): ls for run, ls in f.lumis_by_run().items()},
        "locations": [r.site for r in replicas.get(f.lfn, []) if not r.is_tape],
        "state": InputFileState.new, "failures": {},
    } for f in files]


_INPUT_COLUMNS = ("lfn", "events", "size", "lumis", "locations", "state")
_BULK = 5000  # rows per executemany batch


def _to_input(lfn: str, events: int, size: int, lumis: dict[str, list[int]] | None, locations: list[str] | None,
              state: str) -> InputFile:
    by_run = tuple(sorted((int(run), tuple(sorted(ls))) for run, ls in (lumis or {}).items()))
    return InputFile(lfn=lfn, events=events, size=size, lumis=by_run, locations=tuple(locations or ()),
                     state=InputFileState(state))


def load_input_files(session: Session, spec: RequestSpec, workflow: WorkflowRow, catalog: FullCatalog,
                     create: bool) -> list[InputFile]:
    """The workflow's input files with their states; on the first round, created from the catalog."""
    columns = [getattr(InputFileRow, c) for c in _INPUT_COLUMNS]
    rows = session.execute(select(*columns).where(InputFileRow.workflow_id == workflow.id)).all()
    if rows:
        return [_to_input(*r) for r in rows]
    fresh = input_file_rows(spec, catalog, stage=create)
    if create and fresh:
        for start in range(0, len(fresh), _BULK):
            session.execute(insert(InputFileRow), [{"workflow_id": workflow.id, **r}
                                                   for r in fresh[start:start + _BULK]])
    return [_to_input(*(r[c] for c in _INPUT_COLUMNS)) for r in fresh]


def active_bans(session: Session, workflow_id: int, now: datetime | None = None) -> tuple[str, ...]:
    now = now or datetime.now(UTC)
    sites = session.scalars(select(SiteBanRow.site).where(
        or_(SiteBanRow.workflow_id == workflow_id, SiteBanRow.workflow_id.is_(None)),
        SiteBanRow.removed_at.is_(None),
        or_(SiteBanRow.expires_at.is_(None), SiteBanRow.expires_at > now),
    )).all()
    return tuple(sorted(set(sites)))


def overrides_from(doc: dict[str, Any] | None) -> Overrides:
    """Operator overrides stored on the request (``release`` with overrides)."""
    doc = doc or {}
    memory = doc.get("memory_mb", doc.get("memory"))
    excluded: Iterable[str] = doc.get("excluded_lfns", doc.get("excluded_files", [])) or []
    epj = doc.get("events_per_job")
    return Overrides(memory_mb=int(memory) if memory else None, excluded_lfns=frozenset(excluded),
                     events_per_job=int(epj) if epj else None)


def mark_assigned(session: Session, workflow_id: int, lfns: list[str], round_index: int) -> None:
    for start in range(0, len(lfns), 500):
        session.execute(update(InputFileRow).where(
            InputFileRow.workflow_id == workflow_id, InputFileRow.lfn.in_(lfns[start:start + 500])
        ).values(state=InputFileState.assigned, round=round_index))


def mark_excluded(session: Session, workflow_id: int, lfns: list[str]) -> None:
    if lfns:
        session.execute(update(InputFileRow).where(
            InputFileRow.workflow_id == workflow_id, InputFileRow.lfn.in_(lfns)
        ).values(state=InputFileState.excluded))


def _installer() -> SandboxInstaller:
    try:
        from wms2.sandbox.ship import install_sandbox
    except ImportError as exc:  # the sandbox packaging is a separate component
        raise PlanningError(f"cannot ship the sandbox: {exc}") from None
    return install_sandbox


def prepare_round(session: Session, request_row: RequestRow, workflow_row: WorkflowRow, settings: Settings,
                  catalog: FullCatalog, dry_run: bool = False, sandbox: bool = True) -> PreparedRound:
    """Plan the workflow's current round and (unless ``dry_run``) write its directory."""
    from wms2.planning.render.writer import write_round

    spec = request_spec(request_row)
    if settings.sites.backend == "cric":  # the site lists must name CRIC processing sites (GLIDEIN_CMSSite)
        from wms2.services.cric import SiteListError, check_request_sites

        try:
            check_request_sites(settings, spec.site_whitelist, spec.site_blacklist)
        except SiteListError as exc:
            raise PlanningError(str(exc)) from None
    files: list[InputFile] = []
    if spec.input_dataset:
        try:
            files = load_input_files(session, spec, workflow_row, catalog, create=not dry_run)
        except CatalogError as exc:  # e.g. the input dataset is not (yet) in the catalog
            raise PlanningError(f"input_dataset: {exc}") from None
    metrics = parse_step_metrics(workflow_row.step_metrics)
    inputs = PlanInputs(
        spec=spec,
        workflow=WorkflowState(str(workflow_row.id), workflow_row.current_round, workflow_row.next_first_event,
                               workflow_row.next_lumi, dict(workflow_row.category_throttles or {}),
                               events_produced=workflow_row.events_produced),
        planning=settings.planning, resources=settings.resources, files=tuple(files), metrics=metrics,
        previous=dict(workflow_row.adaptive_params or {}), overrides=overrides_from(request_row.overrides),
        site_bans=active_bans(session, workflow_row.id),
    )
    plan = plan_round(inputs)
    if dry_run or not plan.jobs:
        return PreparedRound(plan.round, dry_run, plan)
    profile = {"round": plan.round, "steps": metrics.steps, "round_params": plan.params.as_dict()} \
        if metrics else None
    result = write_round(plan, spec, str(workflow_row.id), settings, profile=profile,
                         install_sandbox=_installer() if sandbox else None,
                         throttles=dict(workflow_row.category_throttles or {}))
    mark_assigned(session, workflow_row.id, plan.files, plan.round)
    mark_excluded(session, workflow_row.id, plan.excluded_files)
    return PreparedRound(plan.round, False, plan, result.dag_file, result.submit_dir, result.files, result.bytes)
