"""Submit descriptions: one per role per work unit, ``$(node)`` from the group DAG's VARS.

Everything constant for the round is rendered (and checked) once into a template; per WU only the
WU name and the requirements (data location) change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wms2.config import PlanningSettings
from wms2.planning.params import RoleResources
from wms2.planning.render import quoting as q

SITE_ATTR = "GLIDEIN_CMSSite"
LAUNCHER = "../sandbox/wms2-job"
# Sub-DAG file names, fixed by the contract between planner, engines and sandbox.
ROLE_FILES = {"Landing": "landing.sub", "Processing": "proc.sub", "Merge": "merge.sub", "Cleanup": "cleanup.sub"}
ROLE_ARGUMENTS = {
    "Landing": "land",
    "Processing": "run --manifest manifest.json --node $(node)",
    "Merge": "merge --manifest manifest.json",
    "Cleanup": "cleanup --manifest manifest.json",
}
# ClassAd JobStatus codes (HTCondor): 1 idle, 2 running, 5 held.
IDLE, RUNNING, HELD = 1, 2, 5


@dataclass(frozen=True)
class SubmitContext:
    request_name: str
    workflow_id: str
    round: int
    priority: int
    allowed_sites: tuple[str, ...]
    denied_sites: tuple[str, ...]
    transfer_files: bool  # False: shared filesystem (local mode), the job runs in the WU directory


def requirements(allowed: Sequence[str], denied: Sequence[str], location: Sequence[str] = ()) -> str:
    """Site constraints as one ClassAd expression (``true`` when there are none).

    ``location`` (sites holding the WU's input) narrows the whitelist; bans and the blacklist always
    exclude.  WMS2 never picks a site: HTCondor matches within these constraints (invariant 5).
    """
    clauses = []
    positive = list(location) or list(allowed)
    if positive:
        alts = " || ".join(f"{SITE_ATTR} =?= {q.classad_string(q.site(s, 'site'), 'site')}" for s in positive)
        clauses.append(f"({alts})")
    for s in denied:
        clauses.append(f"({SITE_ATTR} =!= {q.classad_string(q.site(s, 'site_ban'), 'site_ban')})")
    return " && ".join(clauses) if clauses else "true"


def _guards(res: RoleResources, ctx: SubmitContext, p: PlanningSettings) -> list[str]:
    """periodic_remove: held too long, idle too long (per priority tier), disk overuse, wall time."""
    idle = p.max_idle_seconds_high_priority if ctx.priority >= p.high_priority_threshold \
        else p.max_idle_seconds_low_priority
    wall = max(p.min_wall_time_guard_s, int(res.wall_time_s * p.max_wall_time_factor))
    disk = q.number(p.disk_overuse_factor, "planning.disk_overuse_factor")
    held = f"(JobStatus == {HELD} && time() - EnteredCurrentStatus > {int(p.max_held_seconds)})"
    idle_c = f"(JobStatus == {IDLE} && time() - EnteredCurrentStatus > {int(idle)})"
    disk_c = f"(JobStatus == {RUNNING} && DiskUsage > {disk} * RequestDisk)"
    wall_c = f"(JobStatus == {RUNNING} && time() - JobCurrentStartDate > {wall})"
    reason = (
        f'ifThenElse({held}, "held for more than {int(p.max_held_seconds)} s", '
        f'ifThenElse({idle_c}, "idle for more than {int(idle)} s", '
        f'ifThenElse({disk_c}, "disk usage above {disk} x request_disk", '
        f'ifThenElse({wall_c}, "wall time above {wall} s", "removed by periodic_remove"))))'
    )
    return [f"periodic_remove = {held} || {idle_c} || {disk_c} || {wall_c}", f"+PeriodicRemoveReason = {reason}"]


# Landing nodes carry the site bans in a macro of their own, so that bans derived after the round was
# planned can be applied to a rescue by rewriting that one line (wms2.core.recovery.apply_bans_to_landing).
SITE_BANS_MACRO = "WMS2_SiteBans"


def _requirement_lines(role: str) -> list[str]:
    if role != "Landing":
        return ["requirements = @REQUIREMENTS@"]
    return [f"{SITE_BANS_MACRO} = true", f"requirements = (@REQUIREMENTS@) && ($({SITE_BANS_MACRO}))"]


def role_template(role: str, res: RoleResources, ctx: SubmitContext, p: PlanningSettings) -> str:
    """The role's submit description with ``@WU@`` and ``@REQUIREMENTS@`` left to fill per WU."""
    lines = [
        f"# WMS2 {role} jobs of work unit @WU@ (request {q.name(ctx.request_name, 'request_name')},"
        f" round {q.integer(ctx.round, 'round')})",
        "universe = vanilla",
        f"executable = {LAUNCHER}",
        f'arguments = "{ROLE_ARGUMENTS[role]}"',
        "output = $(node).out",
        "error = $(node).err",
    ]
    if ctx.transfer_files:
        lines += ["should_transfer_files = YES", "when_to_transfer_output = ON_EXIT",
                  "transfer_input_files = manifest.json"]
    else:
        lines.append("should_transfer_files = NO")
    lines += [
        f"+CMS_RequestName = {q.classad_string(ctx.request_name, 'request_name')}",
        f"+CMS_WorkflowID = {q.classad_string(q.name(ctx.workflow_id, 'workflow_id'), 'workflow_id')}",
        f'+CMS_NodeRole = "{role}"',
        f"+WMS2_Round = {ctx.round}",
        '+WMS2_WorkUnit = "@WU@"',
        f"request_cpus = {q.integer(res.cpus, f'{role}.request_cpus', 1)}",
        f"request_memory = {q.integer(res.memory_mb, f'{role}.request_memory', 1)}",
        f"request_disk = {q.integer(res.disk_kb, f'{role}.request_disk', 1)}",
        "@DESIRED@",
        *_requirement_lines(role),
        *_guards(res, ctx, p),
    ]
    if role != "Landing":
        lines.append("include : $(node).override.sub")
    lines.append("queue")
    return "\n".join(lines) + "\n"


def fill(template: str, wu: str, reqs: str, desired: Sequence[str]) -> str:
    for s in desired:
        q.site(s, "DESIRED_Sites")
    line = f'+DESIRED_Sites = "{",".join(desired)}"' if desired else "# no site preference (+DESIRED_Sites unset)"
    return template.replace("@WU@", wu).replace("@REQUIREMENTS@", reqs).replace("@DESIRED@", line)
