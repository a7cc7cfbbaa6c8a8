"""The end-to-end demo on the embedded defaults: SQLite, the local engine, the simulator payload.

It prepares a fresh home, generates an input dataset in the local catalog, submits the sample
requests, runs the real Lifecycle Manager until every request is terminal (or held), and reports what
happened per request.  Nothing is faked: every number in the report is read back from the database.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from wms2.config import Settings, load_settings
from wms2.core.cycle_wait import CycleWaiter
from wms2.core.demo_scenarios import SCENARIOS
from wms2.core.lifecycle import LifecycleManager
from wms2.core.service import init_home
from wms2.core.views import request_detail
from wms2.core.wiring import build_workers
from wms2.core.workflow_manager import submit_documents
from wms2.db.session import Database
from wms2.db.tables import InputFileRow, ProcessingBlockRow, RequestRow, SiteBanRow, WorkflowRow
from wms2.domain.enums import BlockStatus, InputFileState, RequestStatus
from wms2.services.local_catalog import LocalCatalog, generate_dataset

DEMO_DATASET = "/DemoMuon/Run2026A-v1/RAW"
DEMO_SITES = ("T2_XX_SiteA", "T1_XX_SiteB")
SAMPLES = ("demo_generation.json", "demo_lumimask.json")
STOP_STATUSES = {RequestStatus.completed, RequestStatus.failed, RequestStatus.aborted, RequestStatus.held}
# How often the driver loop builds the progress rows (``snapshot``: a request detail per request).  The
# cycles after a transition come every few tens of ms; the live table (cli/demo.py) refreshes at 4 Hz.
PROGRESS_EVERY_S = 1.0


# The embedded defaults, scaled so that the whole demo fits in a few minutes on two cores.  Written to
# ``<home>/wms2.toml`` so that ``wms2 run/show/... --home`` on the demo home use the same settings.
DEMO_SETTINGS: dict[str, dict[str, Any]] = {
    "lifecycle": {"cycle_seconds": 1.0},
    "planning": {"work_units_per_round": 2, "max_merge_size_bytes": 6 * 1024 * 1024,
                 "node_status_update_seconds": 1},
    "resources": {"min_request_memory_mb": 200, "min_request_cpus": 1},
    "failures": {"transient_cooloff_base_s": 0.0, "transient_cooloff_max_s": 0.0},
    "output": {"archival_rse": f"{DEMO_SITES[1]}_Tape"},
    "engine": {"local_sites": [{"name": DEMO_SITES[0], "cores": 4, "memory_mb": 8000, "slots": 1},
                               {"name": DEMO_SITES[1], "cores": 2, "memory_mb": 4000, "slots": 1}]},
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list) and all(not isinstance(v, dict) for v in value):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def to_toml(sections: dict[str, dict[str, Any]]) -> str:
    """A TOML writer for the settings' shape: sections of scalars, plus arrays of tables."""
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        tables = {k: v for k, v in values.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if k not in tables]
        for key, items in tables.items():
            for item in items:
                lines.append(f"[[{name}.{key}]]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
        lines.append("")
    return "\n".join(lines)


def demo_settings(home: Path, overrides: dict[str, dict[str, Any]] | None = None) -> Settings:
    sections = {k: dict(v) for k, v in DEMO_SETTINGS.items()}
    for section, values in (overrides or {}).items():
        sections.setdefault(section, {}).update(values)
    (home / "wms2.toml").write_text(to_toml(sections))
    return load_settings(home)


@dataclass
class DemoResult:
    requests: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    ok: bool = False
    reqmgr2: dict[str, Any] | None = None  # --source reqmgr2: ReqMgr2's URL and its statuses
    rucio: dict[str, Any] | None = None  # --data rucio: the outputs' Rucio blocks, replicas and rules


def prepare(home: Path, reset: bool, overrides: dict[str, dict[str, Any]] | None = None) -> Settings:
    if home.exists() and any(home.iterdir()):
        if not reset:
            raise RuntimeError(f"{home} is not empty; use --reset to start the demo from scratch")
        from wms2.engines.local_engine import stop_pool

        stop_pool(load_settings(home))
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    return demo_settings(home, overrides)


def load_samples(names: tuple[str, ...] = SAMPLES) -> list[tuple[str, Any]]:
    base = resources.files("wms2.samples")
    return [(n.removesuffix(".json"), json.loads(base.joinpath(n).read_text())) for n in names]


def seed_dataset(db: Database) -> list[str]:
    """The demo's input dataset in the local catalog; returns its LFNs in order."""
    with db.session() as session:
        generate_dataset(session, DEMO_DATASET, files=12, events_per_file=400, lumis_per_file=10,
                         runs=[400001, 400002, 400003], sites=list(DEMO_SITES), seed=2026)
        return [f.lfn for f in LocalCatalog(session).files(DEMO_DATASET)]


def seed(db: Database, settings: Settings, documents: list[tuple[str, Any]]) -> list[str]:
    with db.session() as session:
        return [r.name for r in submit_documents(session, documents, settings, by="demo")]


def request_statuses(db: Database) -> list[RequestStatus]:
    """Every request's status, in id order: the driver's stop test, one query."""
    with db.session() as session:
        return [RequestStatus(s) for s in session.scalars(select(RequestRow.status).order_by(RequestRow.id))]


def snapshot(db: Database) -> list[dict[str, Any]]:
    """One line per request for the live display."""
    with db.session() as session:
        rows = []
        for req in session.scalars(select(RequestRow).order_by(RequestRow.id)):
            detail = request_detail(session, req)
            rounds = detail.get("rounds", [])
            last = rounds[-1] if rounds else {}
            wf = detail.get("workflow") or {}
            counters = {}
            wf_row = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == req.id))
            if wf_row is not None:
                counters = wf_row.node_counters
            rows.append({"name": req.name, "status": str(req.status), "round": wf.get("current_round", 0),
                         "wus_done": last.get("work_units_done", 0), "wus_total": last.get("work_units", 0),
                         "running_nodes": counters.get("running", 0),
                         "events": wf.get("events_produced", 0)})
        return rows


def report(db: Database, names: list[str]) -> list[dict[str, Any]]:
    out = []
    with db.session() as session:
        for name in names:
            req = session.scalar(select(RequestRow).where(RequestRow.name == name))
            if req is None:
                continue
            detail = request_detail(session, req)
            wf = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == req.id))
            archived = session.scalar(select(func.count(ProcessingBlockRow.id)).where(
                ProcessingBlockRow.workflow_id == (wf.id if wf else -1),
                ProcessingBlockRow.status == BlockStatus.archived)) or 0
            out.append({
                "name": name, "status": str(req.status),
                "rounds": [{"round": r["round"], "dag_id": r["dag_id"], "status": r["status"],
                            "work_units": r["work_units"], "work_units_done": r["work_units_done"],
                            "request_memory_mb": r["params"].get("request_memory_mb"),
                            "request_cpus": r["params"].get("request_cpus"),
                            "events_per_job": r["params"].get("events_per_job"),
                            "jobs": r["params"].get("jobs"),
                            "peak_rss_mb": r["metrics"].get("peak_rss_mb"),
                            "cpu_efficiency": r["metrics"].get("cpu_efficiency"),
                            "events_registered": r["metrics"].get("events_registered")}
                           for r in detail.get("rounds", [])],
                "events_registered": wf.events_produced if wf else 0,
                "blocks_archived": archived,
                "blocks": len(detail.get("blocks", [])),
                "last_transition": req.status_transitions[-1]["reason"],
                "site_bans": sorted({b.site for b in session.scalars(select(SiteBanRow).where(
                    SiteBanRow.workflow_id == (wf.id if wf else -1)))}),
                "excluded_files": sorted(session.scalars(select(InputFileRow.lfn).where(
                    InputFileRow.workflow_id == (wf.id if wf else -1),
                    InputFileRow.state == InputFileState.excluded))),
                "rescues": [r["dag_id"] for r in detail.get("rounds", []) if r.get("parent_dag_id")],
            })
    return out


def run_demo(home: Path, reset: bool, timeout_s: float,
             on_progress: Callable[[list[dict[str, Any]], float], None] | None = None,
             documents: list[tuple[str, Any]] | None = None,
             overrides: dict[str, dict[str, Any]] | None = None, scenario: str = "default",
             source: str = "files", data: str = "local", reqmgr2_home: Path | None = None,
             reqmgr2_events: int | None = None, progress_every_s: float = PROGRESS_EVERY_S) -> DemoResult:
    """``on_progress(rows, elapsed)`` gets ``snapshot`` rows at most every ``progress_every_s``, and once at
    the end; the loop's own stop test reads only the statuses."""
    started = time.monotonic()
    chosen = SCENARIOS[scenario]
    merged = {k: dict(v) for k, v in chosen.overrides.items()}
    for section, values in (overrides or {}).items():
        merged.setdefault(section, {}).update(values)
    feed = None
    if source == "reqmgr2":  # the requests come from a real local ReqMgr2 (wms2.devservices.reqmgr2)
        from wms2.devservices.reqmgr2 import demo_source

        if reqmgr2_home is None:
            demo_source.stop_previous(home)
    if data == "rucio":  # data management in a real local Rucio server (wms2.devservices.rucio_demo)
        from wms2.devservices import rucio_demo

        rucio_demo.stop_previous(home)
    settings = prepare(home, reset, merged)
    rucio = rucio_demo.RucioDemo.start(home) if data == "rucio" else None
    if rucio is not None:
        merged = {**merged, "catalog": rucio.settings_section(home)}
        settings = demo_settings(home, merged)
    if source == "reqmgr2":
        feed = demo_source.ReqMgr2Feed.start(home, reqmgr2_home, reqmgr2_events)
        settings = demo_settings(home, feed.settings_overrides(merged))
    db = init_home(settings)
    result = DemoResult()
    manager: LifecycleManager | None = None
    try:
        lfns = seed_dataset(db)
        if rucio is not None:
            rucio.register_inputs(db, DEMO_DATASET)
        names = feed.submit(settings) if feed else seed(db, settings, documents or chosen.documents(lfns))
        manager = LifecycleManager(db, settings, build_workers(settings, db))
        waiter = CycleWaiter(settings)
        shown = float("-inf")
        while time.monotonic() - started < timeout_s:
            cycle = manager.run_cycle()
            statuses = request_statuses(db)
            stop = all(s in STOP_STATUSES for s in statuses) and (
                feed is None or (bool(statuses) and feed.settled(settings)))
            now = time.monotonic()
            if on_progress is not None and (stop or now - shown >= progress_every_s):
                on_progress(snapshot(db), now - started)
                shown = now
            if stop:
                break
            waiter.wait(cycle.transitions)
        result.requests = report(db, names)
        expected = chosen.expected if documents is None else {}
        result.ok = all(r["status"] == expected.get(r["name"], RequestStatus.completed) for r in result.requests)
        if rucio is not None:
            result.rucio = rucio.summary_of(db, names)
            result.ok = result.ok and rucio.all_closed(result.rucio)
        if feed is not None:
            result.reqmgr2 = feed.summary(settings)
            result.ok = result.ok and len(result.requests) == len(names) and all(
                s == "completed" for s in result.reqmgr2["statuses"].values())
    finally:
        result.seconds = round(time.monotonic() - started, 1)
        if manager is not None:
            manager.close()  # its helper processes (the status reader)
        db.dispose()
        if rucio is not None:
            rucio.stop()
        if settings.engine.kind == "local":  # the demo leaves no daemon behind (the next run starts one)
            from wms2.engines.local_engine import stop_pool

            stop_pool(settings)
    return result
