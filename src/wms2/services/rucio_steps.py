"""The registration steps already done against Rucio (table ``rucio_steps``), and the fault-injection point.

A step is marked done only after Rucio confirmed it, in the caller's transaction: when WMS2 dies before
that transaction commits, the step is not marked and runs again, and the step itself recognises what
Rucio already holds (an existing DID, replica, attachment or rule), so nothing is doubled.  When the
transaction commits, a restart skips the step without asking Rucio.

``WMS2_FAULT_KILL_AFTER=<kind>[:<n>]`` makes the process SIGKILL itself right after the ``n``-th (default
first) Rucio call of that step kind succeeded and before it is recorded: the crash window the exactly-once
tests exercise (``tests/rucio/test_kill_resume.py``).  Unset in normal operation.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from wms2.db.base import utcnow
from wms2.db.rucio_tables import RucioStepRow

FAULT_ENV = "WMS2_FAULT_KILL_AFTER"
STEP_KINDS = ("container", "block", "attach_block", "replica", "attach_file", "close", "rule", "delete_rule")
_fault_counts: dict[str, int] = {}


def fault_point(kind: str) -> None:
    """SIGKILL this process when ``WMS2_FAULT_KILL_AFTER`` names ``kind`` (and its count is reached)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    target, _, count = spec.partition(":")
    if target != kind:
        return
    _fault_counts[kind] = _fault_counts.get(kind, 0) + 1
    if _fault_counts[kind] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Step:
    kind: str
    scope: str
    name: str
    target: str = ""

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.kind}|{self.scope}|{self.name}|{self.target}".encode()).hexdigest()


class StepLog:
    """Reads and records done steps in the caller's session (committed with the caller's work)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._known: dict[str, str | None] = {}

    def done(self, steps: Iterable[Step]) -> dict[str, str | None]:
        """``{key: result}`` of the given steps that are recorded as done."""
        keys = [s.key for s in steps]
        missing = [k for k in keys if k not in self._known]
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            for key, result in self.session.execute(
                    select(RucioStepRow.key, RucioStepRow.result).where(RucioStepRow.key.in_(chunk))):
                self._known[key] = result
        return {k: self._known[k] for k in keys if k in self._known}

    def is_done(self, step: Step) -> bool:
        return step.key in self.done([step])

    def result(self, step: Step) -> str | None:
        return self.done([step]).get(step.key)

    def mark(self, steps: Iterable[Step], result: str | None = None) -> None:
        now = utcnow()
        for s in steps:
            if s.key in self._known:
                continue
            self.session.add(RucioStepRow(key=s.key, kind=s.kind, scope=s.scope, name=s.name, target=s.target,
                                          result=result, done_at=now))
            self._known[s.key] = result
        self.session.flush()
