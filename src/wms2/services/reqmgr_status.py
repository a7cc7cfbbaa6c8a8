"""ReqMgr2's request statuses as WMS2 sees them, and the status that mirrors WMS2's own progress.

ReqMgr2 enforces its chain (``cms-formats.md`` §1.2, ``reqmgr2-local.md``): ``assigned -> staging ->
staged -> acquired -> running-open -> running-closed -> completed``, with ``aborted -> aborted-completed``
and ``failed`` as side exits.  WMS2 writes only the steps an agent (or MSTransferor / the global
WorkQueue, whose jobs WMS2 takes over for its teams) writes, one step per PUT, and never backwards.
"""

from __future__ import annotations

from collections import deque

from wms2.domain.enums import RequestStatus

# The edges WMS2 may write, as an agent does (a subset of ReqMgr2's transition table: no human-only
# moves such as assigned, force-complete, rejected, closed-out, announced).
AGENT_EDGES: dict[str, tuple[str, ...]] = {
    "assigned": ("staging", "aborted"),
    "staging": ("staged", "aborted"),
    "staged": ("acquired", "aborted", "failed"),
    "acquired": ("running-open", "aborted", "failed"),
    "running-open": ("running-closed", "aborted"),
    "running-closed": ("completed", "aborted"),
    "force-complete": ("completed",),
    "aborted": ("aborted-completed",),
}
# Forward order, to refuse going backwards (side exits rank after everything on the main chain).
RANK: dict[str, int] = {s: i for i, s in enumerate((
    "new", "assignment-approved", "assigned", "staging", "staged", "acquired", "running-open", "running-closed",
    "force-complete", "completed", "closed-out", "announced", "normal-archived",
    "aborted", "failed", "aborted-completed", "rejected", "aborted-archived", "rejected-archived"))}
# The statuses in which a request of one of our teams is WMS2's business (pulled every cycle).
OWNED = ("assigned", "staging", "staged", "acquired", "running-open", "running-closed", "force-complete")
# ReqMgr2 statuses an operator sets that WMS2 must apply (abort its own work).
STOP_ORDERS = frozenset({"aborted", "rejected", "aborted-completed", "aborted-archived", "rejected-archived"})
# ReqMgr2 statuses after which WMS2 writes nothing more.
FINAL = frozenset({"completed", "closed-out", "announced", "normal-archived", "failed", "aborted-completed",
                   "aborted-archived", "rejected", "rejected-archived"})
# Progress before the first DAG: what the team's agent writes when it takes the request.
TAKEN = "acquired"


def target_status(status: RequestStatus, had_dag: bool, adaptive: bool) -> str:
    """The ReqMgr2 status mirroring a WMS2 request in ``status``.

    ``had_dag``: a DAG of the request has been submitted (ReqMgr2 ``running-open``); a non-adaptive
    request plans all its work in its first DAG, so from then on no new work will be planned
    (``running-closed``).  WMS2 ``failed`` maps to ReqMgr2 ``failed``, reachable only before running; later
    :func:`path` falls back to ``aborted -> aborted-completed`` (see :func:`fallback_target`)."""
    if status == RequestStatus.completed:
        return "completed"
    if status == RequestStatus.aborted:
        return "aborted-completed"
    if status == RequestStatus.failed:
        return "failed"
    if not had_dag:
        return TAKEN
    return "running-open" if adaptive else "running-closed"


def path(current: str, target: str) -> list[str] | None:
    """The shortest chain of agent writes from ``current`` to ``target`` (``[]`` when equal), or None."""
    if current == target:
        return []
    seen = {current}
    queue: deque[tuple[str, list[str]]] = deque([(current, [])])
    while queue:
        state, steps = queue.popleft()
        for nxt in AGENT_EDGES.get(state, ()):
            if nxt in seen:
                continue
            if nxt == target:
                return [*steps, nxt]
            seen.add(nxt)
            queue.append((nxt, [*steps, nxt]))
    return None


def fallback_target(current: str, target: str) -> str:
    """``failed`` cannot be written once a request runs: end it as ``aborted-completed`` instead."""
    if target == "failed" and path(current, target) is None:
        return "aborted-completed"
    return target


def is_behind(current: str, target: str) -> bool:
    """True when ReqMgr2's ``current`` is strictly behind ``target`` (a write is due)."""
    return RANK.get(current, -1) < RANK.get(target, -1)
