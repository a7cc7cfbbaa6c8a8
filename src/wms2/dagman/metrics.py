"""``.metrics`` JSON (reference §4.2): v2 keys in DAGMan's order, hand-printed like DAGMan
(4-space indent, no space after the colon).  The reader accepts v1 and v2 files."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS_VERSION = 2
CLIENT = "condor_dagman"
ENGINE_VERSION = "wms2-local-1"


@dataclass
class DagMetrics:
    start_time: float
    end_time: float
    exitcode: int
    dagman_id: str
    parent_dagman_id: str = ""
    rescue_dag_number: int = 0
    has_final_node: bool = False
    nodes: int = 0
    nodes_failed: int = 0
    nodes_succeeded: int = 0
    dag_nodes: int = 0
    dag_nodes_failed: int = 0
    dag_nodes_succeeded: int = 0
    total_nodes_run: int = 0
    jobs_submitted: int = 0
    jobs_succeeded: int = 0
    dag_status: int = 0
    version: str = ENGINE_VERSION
    provisioner_nodes: int = 0  # 0/1, also counted in ``nodes``
    service_nodes: int = 0  # not in ``nodes``; in v2 ``total_nodes``/``total_nodes_run`` include them
    service_nodes_failed: int = 0
    service_nodes_succeeded: int = 0

    def as_ordered(self) -> list[tuple[str, Any]]:
        return [
            ("client", CLIENT), ("version", self.version), ("type", "metrics"),
            ("metrics_version", METRICS_VERSION), ("start_time", round(self.start_time, 3)),
            ("end_time", round(self.end_time, 3)), ("duration", round(self.end_time - self.start_time, 3)),
            ("exitcode", self.exitcode), ("dagman_id", self.dagman_id),
            ("parent_dagman_id", self.parent_dagman_id), ("rescue_dag_number", self.rescue_dag_number),
            ("has_final_node", self.has_final_node), ("nodes", self.nodes),
            ("nodes_failed", self.nodes_failed), ("nodes_succeeded", self.nodes_succeeded),
            ("dag_nodes", self.dag_nodes), ("dag_nodes_failed", self.dag_nodes_failed),
            ("dag_nodes_succeeded", self.dag_nodes_succeeded), ("provisioner_nodes", self.provisioner_nodes),
            ("service_nodes", self.service_nodes), ("service_nodes_failed", self.service_nodes_failed),
            ("service_nodes_succeeded", self.service_nodes_succeeded),
            ("total_nodes", self.nodes + self.service_nodes),
            ("total_nodes_run", self.total_nodes_run + self.service_nodes),
            ("jobs_submitted", self.jobs_submitted), ("jobs_succeeded", self.jobs_succeeded),
            ("jobs_failed", self.jobs_submitted - self.jobs_succeeded), ("DagStatus", self.dag_status),
        ]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return json.dumps(value)


def render_metrics(metrics: DagMetrics) -> str:
    body = ",\n".join(f'    "{k}":{_fmt(v)}' for k, v in metrics.as_ordered())
    return "{\n" + body + "\n}\n"


def write_metrics(path: Path, metrics: DagMetrics) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_metrics(metrics))
    os.replace(tmp, path)


def read_metrics(path: Path) -> dict[str, Any]:
    """Return the metrics as a dict; v1 keys (``jobs``...) are mapped to the v2 names too."""
    data: dict[str, Any] = json.loads(path.read_text())
    v1_to_v2 = {"jobs": "nodes", "jobs_failed": "nodes_failed", "jobs_succeeded": "nodes_succeeded",
                "dag_jobs": "dag_nodes", "dag_jobs_failed": "dag_nodes_failed",
                "dag_jobs_succeeded": "dag_nodes_succeeded", "total_jobs": "total_nodes",
                "total_jobs_run": "total_nodes_run"}
    if "metrics_version" not in data:
        for old, new in v1_to_v2.items():
            if old in data and new not in data:
                data[new] = data[old]
        data["metrics_version"] = 1
    return data
