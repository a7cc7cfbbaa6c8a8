"""Validations as background jobs of ``wms2 serve``: the ``validations`` table and its runner thread.

The API inserts a row (``queued``) and hands its id to :class:`ValidationRunner`, one daemon thread that
runs validations one at a time (each uses ``validation.workers`` processes).  The report is written to
``<home>/validations/<id>/report.{json,html}``.  Rows left ``queued``/``running`` by a stopped server
are queued again when the runner starts.  No request status changes.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select

from wms2.config import Settings
from wms2.db.base import utcnow
from wms2.db.session import Database
from wms2.db.validation_tables import ValidationRow
from wms2.validation.inputs import from_request
from wms2.validation.model import ValidationError

log = logging.getLogger(__name__)
REPORT_HTML = "report.html"
REPORT_JSON = "report.json"
NOTE_JSON = "job.json"  # why the validation was started (the table has no column for it)


def validations_dir(settings: Settings) -> Path:
    return Path(settings.home) / "validations"


def create(db: Database, ref: str, new: str, by: str, reason: str | None = None,
           settings: Settings | None = None) -> int:
    """Insert a queued validation; a ``reason`` is kept in ``<home>/validations/<id>/job.json``."""
    with db.session() as session:
        row = ValidationRow(ref=ref, new=new, status="queued", created_by=by, created_at=utcnow())
        session.add(row)
        session.flush()
        vid = row.id
    if reason and settings is not None:
        out = validations_dir(settings) / str(vid)
        out.mkdir(parents=True, exist_ok=True)
        (out / NOTE_JSON).write_text(json.dumps({"reason": reason, "by": by}), encoding="utf-8")
    return vid


def reason_of(settings: Settings, vid: int) -> str | None:
    """The reason given when validation ``vid`` was started, if any."""
    note = validations_dir(settings) / str(vid) / NOTE_JSON
    if not note.is_file():
        return None
    value = json.loads(note.read_text(encoding="utf-8")).get("reason")
    return value if isinstance(value, str) else None


def _finish(db: Database, vid: int, **values: object) -> None:
    with db.session() as session:
        row = session.get(ValidationRow, vid)
        if row is not None:
            for key, value in values.items():
                setattr(row, key, value)
            row.finished_at = utcnow()


@dataclass(frozen=True)
class JobProgress:
    """How far a running validation is: ``stage`` ``headers`` (files read) or ``scan`` (entry ranges)."""

    stage: str
    done: int
    total: int


def run_validation(settings: Settings, db: Database, vid: int,
                   progress: Callable[[str, int, int], None] | None = None) -> None:
    """Run one validation to its end; the outcome (report or error) is recorded in its row."""
    with db.session() as session:
        row = session.get(ValidationRow, vid)
        if row is None or row.status in ("done", "failed"):
            return
        row.status, row.started_at, row.error = "running", utcnow(), None
        ref, new = row.ref, row.new
    try:
        with db.session() as session:
            sides = [from_request(session, settings.storage_root, name) for name in (ref, new)]
        # scipy and matplotlib are imported only when a job runs: `wms2` and `wms2 serve` start without them
        from wms2.validation.compare import compare
        from wms2.validation.report import render_html

        result = compare(sides[0], sides[1], settings.validation, progress)
        out = validations_dir(settings) / str(vid)
        out.mkdir(parents=True, exist_ok=True)
        (out / REPORT_JSON).write_text(result.model_dump_json(), encoding="utf-8")
        (out / REPORT_HTML).write_text(render_html(result, settings.validation.max_plots), encoding="utf-8")
    except (ValidationError, OSError) as exc:
        log.info("validation %d (%s vs %s) failed: %s", vid, ref, new, exc)
        _finish(db, vid, status="failed", error=str(exc))
        return
    except Exception as exc:  # a bug must not kill the runner thread: record it and go on
        log.exception("validation %d (%s vs %s) crashed", vid, ref, new)
        _finish(db, vid, status="failed", error=f"internal error: {type(exc).__name__}: {exc}")
        return
    _finish(db, vid, status="done", verdict=result.verdict, report_path=str(out / REPORT_HTML))


class ValidationRunner:
    """One daemon thread running queued validations in order."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._queue: queue.Queue[int] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="wms2-validation", daemon=True)
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._lock = threading.Lock()
        self._waiting: list[int] = []  # queued ids, in order
        self._progress: dict[int, JobProgress] = {}  # the running validation's progress (in memory only)

    def start(self) -> None:
        """Start the thread after queueing what a previous server left unfinished."""
        with self.db.session() as session:
            stale = list(session.scalars(select(ValidationRow.id).where(
                or_(ValidationRow.status == "queued", ValidationRow.status == "running")).order_by(ValidationRow.id)))
            for row in session.scalars(select(ValidationRow).where(ValidationRow.id.in_(stale))):
                row.status = "queued"
        for vid in stale:
            self.submit(vid)
        self._thread.start()

    def submit(self, vid: int) -> None:
        with self._lock:
            self._pending += 1
            self._idle.clear()
            self._waiting.append(vid)
        self._queue.put(vid)

    def progress(self, vid: int) -> JobProgress | None:
        """The progress of validation ``vid`` while it runs in this process, else None."""
        with self._lock:
            return self._progress.get(vid)

    def queue_position(self, vid: int) -> int | None:
        """1 = the next to run; None when ``vid`` is not waiting in this process."""
        with self._lock:
            return self._waiting.index(vid) + 1 if vid in self._waiting else None

    def _report(self, vid: int) -> Callable[[str, int, int], None]:
        def report(stage: str, done: int, total: int) -> None:
            with self._lock:
                self._progress[vid] = JobProgress(stage, done, total)
        return report

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once every submitted validation has finished (tests, shutdown)."""
        return self._idle.wait(timeout)

    def _loop(self) -> None:
        while True:
            vid = self._queue.get()
            with self._lock:
                if vid in self._waiting:
                    self._waiting.remove(vid)
            try:
                run_validation(self.settings, self.db, vid, self._report(vid))
            finally:
                with self._lock:
                    self._progress.pop(vid, None)
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()
