"""Live node view of one DAG, read from DAGMan's own files when a human asks (invariant 1: nothing is
stored).  The outer status file has one node per work unit; each WU's ``group.dag.status`` (when
DAGMan has written it) has its landing, processing, merge and cleanup nodes.  The last exit code of
a node comes from its POST side file (``<node>.post.json``) or, failing that, DAGMan's status details.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from wms2.dagman.model import NodeStatus
from wms2.dagman.status_file import DagStatusFile, NodeStatusEntry, try_read_status_file
from wms2.sandbox.results import ELECTED_SITE_FILE, POST_SUFFIX

log = logging.getLogger(__name__)

OUTER_STATUS = "workflow.dag.status"
GROUP_STATUS = "group.dag.status"
ROLE_PREFIXES = (("landing", "Landing"), ("proc_", "Processing"), ("merge", "Merge"), ("cleanup", "Cleanup"),
                 ("mg_", "MergeGroup"))
_EXIT_RE = re.compile(r"(?:status|exit code|return value)\s+(-?\d+)", re.I)


def _role(node: str) -> str:
    return next((role for prefix, role in ROLE_PREFIXES if node.startswith(prefix)), "Other")


def _read(path: Path) -> DagStatusFile | None:
    return try_read_status_file(path)


def _status_name(code: int) -> str:
    try:
        return NodeStatus(code).name.lower()
    except ValueError:
        return f"unknown({code})"


def _post(wu_dir: Path, node: str, files: set[str]) -> dict[str, Any] | None:
    name = node + POST_SUFFIX
    if name not in files:
        return None
    try:
        data = json.loads((wu_dir / name).read_text())
    except (OSError, ValueError) as exc:
        log.warning("unreadable POST file %s: %s", wu_dir / name, exc)
        return None
    return data if isinstance(data, dict) else None


def _node(entry: NodeStatusEntry, post: dict[str, Any] | None, site: str | None) -> dict[str, Any]:
    exit_code: int | None = None
    if post is not None and isinstance(post.get("exit_code"), int):
        exit_code = post["exit_code"]
        job = post.get("job")
        if isinstance(job, dict) and isinstance(job.get("site"), str):
            site = job["site"]
    elif entry.details:
        m = _EXIT_RE.search(entry.details)
        exit_code = int(m.group(1)) if m else None
    return {"node": entry.node, "role": _role(entry.node), "status": _status_name(entry.status),
            "retries": entry.retry_count, "details": entry.details, "exit_code": exit_code, "site": site,
            "procs_held": entry.procs_held}


def _work_unit(submit_dir: Path, entry: NodeStatusEntry) -> dict[str, Any]:
    wu_dir = submit_dir / entry.node
    try:
        files = set(os.listdir(wu_dir))
    except OSError:
        files = set()
    site = None
    if ELECTED_SITE_FILE in files:
        try:
            site = (wu_dir / ELECTED_SITE_FILE).read_text().strip() or None
        except OSError:
            site = None
    out = _node(entry, None, site)
    inner = _read(wu_dir / GROUP_STATUS) if GROUP_STATUS in files else None
    out["nodes"] = [_node(n, _post(wu_dir, n.node, files), site) for n in inner.nodes] if inner else []
    failed = [n for n in out["nodes"] if n["exit_code"] not in (None, 0)]
    if out["exit_code"] is None and failed:
        out["exit_code"] = failed[-1]["exit_code"]
    return out


def dag_nodes(submit_dir: Path, limit: int, offset: int, work_unit: str | None = None) -> dict[str, Any]:
    """Per-WU and per-node status of one DAG, paged over work units."""
    path = submit_dir / OUTER_STATUS
    outer = _read(path)
    if outer is None:
        return {"status_file": str(path), "available": False, "dag_status": None, "counts": {}, "total": 0,
                "limit": limit, "offset": offset, "work_units": []}
    entries = [n for n in outer.nodes if work_unit is None or n.node == work_unit]
    page = entries[offset:offset + limit]
    return {
        "status_file": str(path),
        "available": True,
        "dag_status": _status_name(outer.dag_status) + (f" ({outer.dag_status_note})" if outer.dag_status_note else ""),
        "counts": outer.counts(),
        "total": len(entries),
        "limit": limit,
        "offset": offset,
        "work_units": [_work_unit(submit_dir, e) for e in page],
    }


TAIL_BLOCK = 64 * 1024  # bytes read from the end of a log per step


def tail(path: Path, lines: int) -> list[str] | None:
    """The last ``lines`` lines of a (possibly huge) log, read from its end; None when it does not exist."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            data = b""
            while end > 0 and data.count(b"\n") <= lines:
                start = max(0, end - TAIL_BLOCK)
                fh.seek(start)
                data = fh.read(end - start) + data
                end = start
    except FileNotFoundError:
        return None
    return data.decode(errors="replace").splitlines()[-lines:]


def dag_logs(submit_dir: Path, lines: int, work_unit: str | None) -> dict[str, Any]:
    """DAGMan's own log of the outer DAG, or of one work unit's sub-DAG."""
    path = submit_dir / (f"{work_unit}/group.dag.dagman.out" if work_unit else "workflow.dag.dagman.out")
    text = tail(path, lines)
    return {"file": str(path), "available": text is not None, "lines": text or []}
