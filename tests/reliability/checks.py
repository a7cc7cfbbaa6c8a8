"""What a chaos run is judged on, read from each system's *own* records:

- **engine**: the local pool's spool (``<pool>/dags/<cluster>.json``, one record per DAG job the pool
  accepted). A top-level DAG file submitted again while an earlier run of it is still live, or after an
  earlier run of it succeeded, is a duplicate submission (a rescue resubmission follows a run that ended
  without success: that one is legitimate).
- **catalog**: the catalog tables (``catalog_files`` / ``catalog_lumis``), read as the superuser. A
  (dataset, run, lumi) held by two files, or an LFN twice, is a duplicate registration; events of a
  completed request missing from the catalog are lost output.
- **requests**: the request rows only for "is it in a defined state, with a reason".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from wms2.engines.local.records import RECORDS_DIR

DEFINED_END = {"completed", "failed", "aborted", "held"}  # terminal, or waiting for an operator (§6.5)
EXIT_SUCCESS = 0


@dataclass
class EngineCounts:
    top_level_submissions: int = 0
    duplicate_submissions: int = 0
    duplicates: list[str] = field(default_factory=list)
    unreadable_records: int = 0


def engine_counts(pool_dir: Path) -> EngineCounts:
    """Top-level DAG jobs per DAG file, from the pool's own spool records."""
    counts = EngineCounts()
    by_file: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((pool_dir / RECORDS_DIR).glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            counts.unreadable_records += 1
            continue
        if rec.get("parent") is None:  # merge-group sub-DAGs are DAGMan's (design invariant 6)
            by_file.setdefault(str(Path(rec["dag_file"]).resolve()), []).append(rec)
    for dag_file, recs in by_file.items():
        recs.sort(key=lambda r: (float(r.get("start_time") or 0), int(r["cluster"])))
        counts.top_level_submissions += len(recs)
        for earlier_i, rec in enumerate(recs[1:]):
            earlier = recs[: earlier_i + 1]
            live = [e for e in earlier if e.get("end_time") is None or float(e["end_time"]) > float(rec["start_time"])]
            succeeded = [e for e in earlier if e.get("state") == "done" and e.get("exit_code") == EXIT_SUCCESS]
            if live or succeeded:
                counts.duplicate_submissions += 1
                why = (f"while cluster {live[0]['cluster']} was live" if live
                       else f"after cluster {succeeded[0]['cluster']} succeeded")
                counts.duplicates.append(f"{dag_file}: cluster {rec['cluster']} submitted {why}")
    return counts


@dataclass
class CatalogCounts:
    files: int = 0
    duplicate_registrations: int = 0
    duplicates: list[str] = field(default_factory=list)
    events_by_dataset: dict[str, int] = field(default_factory=dict)


def catalog_counts(admin: Engine, datasets: list[str]) -> CatalogCounts:
    """Files, duplicate LFNs and duplicate (run, lumi) per output dataset, from the catalog tables."""
    counts = CatalogCounts()
    with admin.connect() as conn:
        for ds in datasets:
            rows = conn.execute(text(
                "SELECT f.lfn, f.events FROM catalog_files f JOIN catalog_datasets d ON d.id = f.dataset_id "
                "WHERE d.name = :ds AND f.is_valid"), {"ds": ds}).all()
            counts.files += len(rows)
            counts.events_by_dataset[ds] = sum(int(r.events) for r in rows)
            lfns = [r.lfn for r in rows]
            if len(lfns) != len(set(lfns)):
                counts.duplicate_registrations += len(lfns) - len(set(lfns))
                counts.duplicates.append(f"{ds}: an LFN registered twice")
            lumis = conn.execute(text(
                "SELECT l.run, l.lumi, count(*) AS n FROM catalog_lumis l "
                "JOIN catalog_files f ON f.id = l.file_id JOIN catalog_datasets d ON d.id = f.dataset_id "
                "WHERE d.name = :ds AND f.is_valid GROUP BY l.run, l.lumi HAVING count(*) > 1"), {"ds": ds}).all()
            for run, lumi, n in lumis:
                counts.duplicate_registrations += int(n) - 1
                counts.duplicates.append(f"{ds}: run {run} lumi {lumi} in {n} files")
    return counts


@dataclass
class RequestOutcome:
    name: str
    status: str
    reason: str
    defined: bool
    events_requested: int
    events_in_catalog: int = 0
    datasets: list[str] = field(default_factory=list)

    @property
    def lost_events(self) -> int:
        return max(self.events_requested - self.events_in_catalog, 0) if self.status == "completed" else 0


def request_outcomes(admin: Engine, expected: dict[str, int]) -> tuple[list[RequestOutcome], list[str]]:
    """Each expected request's end state and reason (missing rows are lost); returns also the output
    datasets to look up in the catalog."""
    outcomes, datasets = [], []
    with admin.connect() as conn:
        rows = {r.name: r for r in conn.execute(text(
            "SELECT name, status, status_transitions, output_datasets FROM requests"))}
    for name, events in expected.items():
        row = rows.get(name)
        if row is None:
            outcomes.append(RequestOutcome(name, "missing", "no request row", False, events))
            continue
        trail = _json(row.status_transitions)
        reason = str(trail[-1].get("reason") or "") if trail else ""
        status = str(row.status)
        defined = status in DEFINED_END and (status == "completed" or bool(reason))
        outputs = [str(d) for d in _json(row.output_datasets)]
        datasets += outputs
        outcomes.append(RequestOutcome(name, status, reason, defined, events, datasets=outputs))
    return outcomes, datasets


def attach_events(outcomes: list[RequestOutcome], catalog: CatalogCounts) -> None:
    for o in outcomes:
        o.events_in_catalog = min((catalog.events_by_dataset.get(d, 0) for d in o.datasets), default=0)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else (value or [])


NOTABLE = re.compile(r"WARNING|ERROR|ALERT|CRITICAL|Traceback|No space left|Errno|permission denied", re.I)
LOG_SUMMARY_LINES = 15


def log_summary(paths: list[Path]) -> list[str]:
    """What WMS2 and its pool said about the faults: notable log lines, numbers and paths blanked so
    repeats fold, most frequent first (``N x line``)."""
    seen: Counter[str] = Counter()
    for path in paths:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if NOTABLE.search(line):
                line = re.sub(r"^[\d:,. TZ-]+", "", line)
                line = re.sub(r"/tmp/\S+", "<path>", line)
                seen[re.sub(r"\d+", "N", line)[:220]] += 1
    return [f"{n} x {line}" for line, n in seen.most_common(LOG_SUMMARY_LINES)]
