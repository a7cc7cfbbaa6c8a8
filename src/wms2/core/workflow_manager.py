"""Workflow Manager: import and validate request documents; create the workflow of a request.

``submit_documents`` is all-or-nothing: when any document is rejected, nothing is written.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.config import Settings
from wms2.core.transitions import record_creation
from wms2.db.tables import RequestRow, WorkflowRow
from wms2.domain.enums import RequestStatus, WorkflowStatus
from wms2.domain.reqmgr import FieldError, ImportPolicy, RequestImportError, import_request, unwrap_document
from wms2.domain.request import RequestSpec
from wms2.planning.estimate import size_problems

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Submitted:
    name: str
    created: bool  # False when an identical request already existed (idempotent re-submit)


def import_policy(settings: Settings, requestor: str | None = None) -> ImportPolicy:
    r = settings.resources
    return ImportPolicy(
        max_memory_per_core_mb=r.max_memory_per_core_mb,
        target_wall_time_s=r.target_wall_time_s,
        wall_time_overhead_s=r.wall_time_overhead_s,
        events_per_job_rounding=r.events_per_job_rounding,
        default_requestor=requestor or "wms2",
    )


def parse_document_text(text: str, source: str) -> Any:
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise RequestImportError([FieldError("<document>", f"larger than {MAX_DOCUMENT_BYTES} bytes")], source)
    try:
        return json.loads(text)  # NaN/Infinity parse; reject_unstorable names their field
    except RecursionError:
        raise RequestImportError([FieldError("<document>", "nested too deeply")], source) from None
    except json.JSONDecodeError as exc:
        raise RequestImportError(
            [FieldError("<document>", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")],
            source,
        ) from None


def submit_documents(
    session: Session,
    documents: list[tuple[str, Any]],
    settings: Settings,
    by: str,
    requestor: str | None = None,
) -> list[Submitted]:
    """Validate every document, then store them all as ``submitted`` requests (or none)."""
    policy = import_policy(settings, requestor)
    specs: list[tuple[RequestSpec, Any]] = []
    errors: list[RequestImportError] = []
    for source, doc in documents:
        try:
            reject_unstorable(doc, source)
            spec = import_request(doc, policy, source=source)
            check_request_size(spec, doc, settings, source)
            specs.append((spec, doc))
        except RequestImportError as exc:
            errors.append(exc)
    if errors:
        raise RequestImportError([e for exc in errors for e in _prefixed(exc)])
    results: list[Submitted] = []
    seen: set[str] = set()
    claimed: dict[str, str] = {}
    for spec, doc in specs:
        if spec.name in seen:
            raise RequestImportError([FieldError("RequestName", f"{spec.name} appears twice in this submission")])
        seen.add(spec.name)
        existing = session.scalar(select(RequestRow).where(RequestRow.name == spec.name))
        if existing is not None:
            if existing.document == doc:
                results.append(Submitted(spec.name, created=False))
                continue
            raise RequestImportError([FieldError("RequestName", f"a different request named {spec.name} exists")])
        _check_output_datasets(session, spec, claimed)
        session.add(_new_row(spec, doc, by))
        results.append(Submitted(spec.name, created=True))
    session.flush()
    return results


LIVE_OR_DONE = [s for s in RequestStatus if s not in (RequestStatus.failed, RequestStatus.aborted)]


def _check_output_datasets(session: Session, spec: RequestSpec, claimed: dict[str, str]) -> None:
    """Two requests must never write the same output dataset (their files and blocks would collide):
    a new processing version (``restart``) is the way to produce a dataset again."""
    names = [o.name for o in spec.output_datasets]
    errors = [FieldError("OutputDatasets", f"{ds} is also an output of {claimed[ds]} in this submission")
              for ds in names if ds in claimed]
    for row in session.scalars(select(RequestRow).where(RequestRow.status.in_(LIVE_OR_DONE))):
        for ds in set(names) & set(row.output_datasets):
            errors.append(FieldError("OutputDatasets", f"{ds} is already produced by request {row.name}"
                                     f" ({row.status}); use a new ProcessingVersion or ProcessingString"))
    if errors:
        raise RequestImportError(errors, spec.name)
    claimed.update(dict.fromkeys(names, spec.name))


def _prefixed(exc: RequestImportError) -> list[FieldError]:
    if not exc.source:
        return exc.errors
    return [FieldError(f"{exc.source}: {e.field}", e.message) for e in exc.errors]


def _new_row(spec: RequestSpec, doc: Any, by: str) -> RequestRow:
    row = RequestRow(
        name=spec.name,
        requestor=spec.requestor,
        requestor_dn=spec.requestor_dn,
        group=spec.group,
        request_type=spec.request_type,
        document=doc,
        spec=spec.model_dump(mode="json"),
        input_dataset=spec.input_dataset,
        output_datasets=[o.name for o in spec.output_datasets],
        campaign=spec.campaign,
        priority=spec.priority,
        urgent=spec.urgent,
        production_steps=[p.model_dump() for p in spec.production_steps],
        adaptive=spec.adaptive,
        processing_version=spec.processing_version,
        cleanup_policy=spec.cleanup_policy,
        overrides={},
        status=RequestStatus.submitted,
    )
    record_creation(row, by, "request submitted")
    return row


def revalidate(row: RequestRow, settings: Settings) -> RequestSpec:
    """Re-import the stored document under the current settings (the ``submitted`` handler)."""
    spec = import_request(row.document, import_policy(settings, row.requestor), source=row.name)
    check_request_size(spec, row.document, settings, row.name)
    if spec.name != row.name:
        # Templates generate a name at import; the stored name is the request's identity.
        spec = spec.model_copy(update={"name": row.name})
    return spec


# Document keys of the RequestSpec fields a size problem can name (see planning.estimate).
_SIZE_FIELDS = {"splitting.events_per_job": "EventsPerJob", "splitting.first_event": "FirstEvent",
                "splitting.first_lumi": "FirstLumi"}


def _document_field(doc: Any, spec_field: str) -> str:
    """The document key the requestor wrote for a splitting value (``Step1.EventsPerJob`` in chains)."""
    key = _SIZE_FIELDS[spec_field]
    flat, _ = unwrap_document(doc)
    for chain in ("Step", "Task"):
        first = flat.get(f"{chain}1")
        if f"{chain}Chain" in flat and isinstance(first, dict) and key in first:
            return f"{chain}1.{key}"
    if key == "EventsPerJob" and key not in flat:
        return "EventsPerJob (derived from TimePerEvent)"
    return key


def check_request_size(spec: RequestSpec, doc: Any, settings: Settings, source: str | None = None) -> None:
    """Refuse, naming the field and the limit, a request that planning would refuse for its size
    (jobs, work units, DAG nodes, event and lumi numbers).  Call it wherever splitting is set or changed."""
    problems = size_problems(spec, settings.planning)
    if problems:
        raise RequestImportError([FieldError(_document_field(doc, p.field), p.message) for p in problems], source)


def reject_unstorable(value: Any, source: str | None = None) -> None:
    """Values no database column can hold, even inside the opaque payload: NUL characters (PostgreSQL
    text/JSONB) and NaN/Infinity (not JSON; JSONB refuses them).  Refused at submission, naming where
    they are, on every path (CLI, API, import by name), so SQLite and PostgreSQL answer alike."""
    errors = [FieldError(where, why) for where, why in _unstorable(value)]
    if errors:
        raise RequestImportError(errors[:MAX_REPORTED_ERRORS], source)


MAX_REPORTED_ERRORS = 20  # enough to name the problem; a hostile document may hold millions


def _unstorable(value: Any) -> list[tuple[str, str]]:
    """Iterative (a hostile document may be nested as deep as the JSON parser allows)."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                found.append((path or "<document>", "contains a NUL character"))
        elif isinstance(item, float):
            if not math.isfinite(item):
                found.append((path or "<document>", f"{item} is not a number JSON can hold"))
        elif isinstance(item, dict):
            for key, sub in item.items():
                shown = str(key).replace("\x00", "\\0")
                sub_path = f"{path}.{shown}" if path else shown
                if shown != str(key):
                    found.append((sub_path, "the key contains a NUL character"))
                stack.append((sub, sub_path))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}[{i}]") for i, sub in enumerate(item))
    return sorted(found)


def create_workflow(session: Session, row: RequestRow, spec: RequestSpec) -> WorkflowRow:
    """Create the request's workflow record (idempotent: returns the existing one)."""
    existing = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == row.id))
    if existing is not None:
        return existing
    wf = WorkflowRow(
        request_id=row.id,
        request_name=row.name,
        input_dataset=spec.input_dataset,
        splitting_algo=spec.splitting.algo.value if spec.splitting.algo else None,
        splitting_params=spec.splitting.model_dump(mode="json"),
        payload_config={"steps": [s.model_dump(mode="json") for s in spec.steps]},
        next_first_event=spec.splitting.first_event,
        next_lumi=spec.splitting.first_lumi,
        status=WorkflowStatus.new,
    )
    session.add(wf)
    session.flush()
    return wf
