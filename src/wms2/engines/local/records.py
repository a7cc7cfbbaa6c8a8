"""Spool records of the DAGs the pool daemon runs (``<spool>/dags/<cluster>.json``) and the cluster
id counter (``<spool>/next_cluster``).  They let the daemon answer about finished DAGs and recover
running ones after its own restart."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CLUSTER_BLOCK = 1000  # cluster ids reserved per write of the counter file
FIRST_CLUSTER = 1


@dataclass
class DagRecord:
    cluster: int
    dag_file: str
    state: str  # running | held | done
    parent: int | None = None
    node: str | None = None
    priority: int = 0
    batch_name: str | None = None
    force: bool = False
    rescue_file: str | None = None
    rescue_number: int = 0
    max_idle: int | None = None
    max_jobs: int | None = None
    start_time: float = 0.0
    end_time: float | None = None
    log_offset: int = 0
    exit_code: int | None = None
    dag_status: int | None = None
    reason: str = ""
    counters: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


RECORDS_DIR = "dags"  # one <cluster>.json per DAG job, replaced atomically on every change


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


class RecordStore:
    def __init__(self, spool: Path) -> None:
        self.dir = spool / RECORDS_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self._counter_file = spool / "next_cluster"
        self._records: dict[int, DagRecord] = {}
        self._lock = threading.RLock()  # the HTTP threads create records, the loop updates them
        for path in self.dir.glob("*.json"):
            try:
                data = json.loads(path.read_text())
                self._records[int(data["cluster"])] = DagRecord(**data)
            except (ValueError, KeyError, TypeError):
                path.rename(path.with_name(path.name + ".corrupt"))
        self._next = self._read_counter()
        self._reserved = self._next

    def _read_counter(self) -> int:
        try:
            value = int(self._counter_file.read_text().strip())
        except (OSError, ValueError):
            value = FIRST_CLUSTER
        return max([value, *(c + 1 for c in self._records)])

    def next_cluster(self) -> int:
        """Hand out a cluster id; the counter file is written a block ahead, so ids never repeat
        across restarts."""
        with self._lock:
            cluster = self._next
            self._next += 1
            if self._next > self._reserved:
                self._reserved = self._next + CLUSTER_BLOCK
                self._counter_file.write_text(f"{self._reserved}\n")
            return cluster

    def _save(self, record: DagRecord) -> None:
        _write_json(self.dir / f"{record.cluster}.json", record.as_dict())

    def create(self, record: DagRecord) -> None:
        with self._lock:
            self._records[record.cluster] = record
            self._save(record)

    def get(self, cluster: int) -> DagRecord | None:
        return self._records.get(cluster)

    def all(self) -> list[DagRecord]:
        with self._lock:
            return sorted(self._records.values(), key=lambda r: r.cluster)

    def active_top_level(self) -> int:
        """Top-level DAG jobs in the queue (running or held): the pool's DAG load for placement."""
        with self._lock:
            return sum(1 for r in self._records.values() if r.parent is None and r.state != "done")

    def update(self, cluster: int, **changes: Any) -> None:
        with self._lock:
            record = self._records.get(cluster)
            if record is None:
                return
            for key, value in changes.items():
                setattr(record, key, value)
            self._save(record)

    def set_state(self, cluster: int, state: str, reason: str) -> None:
        self.update(cluster, state=state, reason=reason)

    def finish(self, cluster: int, exit_code: int | None, reason: str, dag_status: int,
               counters: dict[str, int] | None = None) -> None:
        self.update(cluster, state="done", exit_code=exit_code, reason=reason, dag_status=dag_status,
                    end_time=time.time(), counters=counters or {})
