"""Site bans (design §6.5): derived after each round from final node failures; only ever *exclude*.

A site with more than ``site_ban_failure_fraction`` of its final attempts failing for infrastructure or
data reasons, and at least ``site_ban_min_failures`` such failures, is banned for the workflow for
``site_ban_days``.  A site banned by ``system_ban_workflows`` or more workflows is banned system-wide.
Input-data failures of the same file at several sites exclude the *file* instead.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from wms2.config import FailureSettings
from wms2.core.post_results import iter_post_results
from wms2.db.tables import InputFileRow, SiteBanRow
from wms2.domain.enums import InputFileState
from wms2.sandbox.classify import classify
from wms2.sandbox.results import PostResult


@dataclass
class SiteFailureStats:
    attempts: Counter[str] = field(default_factory=Counter)
    infrastructure: Counter[str] = field(default_factory=Counter)
    data_failures: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (site, bad LFNs)
    bad_file_sites: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def ban_failures(self, site: str, min_sites: int) -> int:
        """Infrastructure failures, plus data failures not explained by a file bad at several sites."""
        explained = {lfn for lfn, sites in self.bad_file_sites.items() if len(sites) >= min_sites}
        data = sum(1 for s, lfns in self.data_failures if s == site and not (set(lfns) & explained))
        return self.infrastructure[site] + data


def node_category(result: PostResult) -> str:
    """The node's own failure category.  ``catastrophic`` is a verdict on the WU (siblings failing the
    same way); for site bans what matters is why the node failed, so it is classified again."""
    category = result.classification.category
    if category != "catastrophic":
        return category
    tail = "\n".join(result.log_tail)
    return classify(result.exit_code, str(result.cmssw.get("error_message") or result.message), tail).category


def collect(submit_dir: Path) -> SiteFailureStats:
    stats = SiteFailureStats()
    for _wu, result in iter_post_results(submit_dir, final_only=True):
        site = result.job.site
        if not site or result.role == "Landing":
            continue
        stats.attempts[site] += 1
        category = node_category(result)
        if category == "infrastructure":
            stats.infrastructure[site] += 1
        elif category == "data":
            stats.data_failures.append((site, tuple(result.classification.bad_input_files)))
        for lfn in result.classification.bad_input_files:
            stats.bad_file_sites[lfn].add(site)
    return stats


def active_bans(session: Session, workflow_id: int | None, now: datetime) -> list[SiteBanRow]:
    """Bans in force for a workflow: its own plus system-wide ones."""
    clauses = [SiteBanRow.workflow_id.is_(None)]
    if workflow_id is not None:
        clauses.append(SiteBanRow.workflow_id == workflow_id)
    stmt = select(SiteBanRow).where(or_(*clauses), SiteBanRow.removed_at.is_(None),
                                    or_(SiteBanRow.expires_at.is_(None), SiteBanRow.expires_at > now))
    return list(session.scalars(stmt.order_by(SiteBanRow.id)))


def banned_sites(session: Session, workflow_id: int | None, now: datetime) -> list[str]:
    return sorted({b.site for b in active_bans(session, workflow_id, now)})


def derive_bans(session: Session, workflow_id: int, submit_dir: Path, cfg: FailureSettings,
                now: datetime) -> list[SiteBanRow]:
    """Create the bans this round's failures call for; exclude bad input files. Returns new bans."""
    stats = collect(submit_dir)
    _exclude_bad_files(session, workflow_id, stats, cfg)
    current = {b.site for b in active_bans(session, workflow_id, now) if b.workflow_id == workflow_id}
    created: list[SiteBanRow] = []
    for site, attempts in sorted(stats.attempts.items()):
        failures = stats.ban_failures(site, cfg.bad_file_min_sites)
        too_few = failures < cfg.site_ban_min_failures or failures / attempts <= cfg.site_ban_failure_fraction
        if site in current or too_few:
            continue
        ban = SiteBanRow(site=site, workflow_id=workflow_id, created_at=now,
                         expires_at=now + timedelta(days=cfg.site_ban_days),
                         reason=f"{failures} of {attempts} final attempts at {site} failed for infrastructure"
                                f" or data reasons (> {cfg.site_ban_failure_fraction:.0%})",
                         failure_data={"attempts": attempts, "failures": failures})
        session.add(ban)
        created.append(ban)
    session.flush()
    for ban in created:
        _maybe_system_wide(session, ban.site, cfg, now)
    return created


def _exclude_bad_files(session: Session, workflow_id: int, stats: SiteFailureStats, cfg: FailureSettings) -> None:
    bad = sorted(lfn for lfn, sites in stats.bad_file_sites.items() if len(sites) >= cfg.bad_file_min_sites)
    single = {lfn: sorted(sites) for lfn, sites in stats.bad_file_sites.items() if len(sites) < cfg.bad_file_min_sites}
    if bad:
        session.execute(update(InputFileRow).where(InputFileRow.workflow_id == workflow_id,
                                                   InputFileRow.lfn.in_(bad))
                        .values(state=InputFileState.excluded))
    for lfn, sites in single.items():
        row = session.scalar(select(InputFileRow).where(InputFileRow.workflow_id == workflow_id,
                                                        InputFileRow.lfn == lfn))
        if row is not None:
            seen = sorted(set(row.failures.get("sites", [])) | set(sites))
            row.failures = {**row.failures, "sites": seen}
            if len(seen) >= cfg.bad_file_min_sites:
                row.state = InputFileState.excluded


def _maybe_system_wide(session: Session, site: str, cfg: FailureSettings, now: datetime) -> None:
    live = [b for b in active_bans(session, None, now) if b.site == site]
    if any(b.workflow_id is None for b in live):
        return
    workflows = {b.workflow_id for b in session.scalars(select(SiteBanRow).where(
        SiteBanRow.site == site, SiteBanRow.workflow_id.is_not(None), SiteBanRow.removed_at.is_(None),
        or_(SiteBanRow.expires_at.is_(None), SiteBanRow.expires_at > now)))}
    if len(workflows) >= cfg.system_ban_workflows:
        session.add(SiteBanRow(site=site, workflow_id=None, created_at=now,
                               expires_at=now + timedelta(days=cfg.site_ban_days),
                               reason=f"banned by {len(workflows)} workflows", failure_data={"workflows": sorted(
                                   w for w in workflows if w is not None)}))


def lift_ban(session: Session, ban_id: int, by: str, now: datetime) -> SiteBanRow:
    ban = session.get(SiteBanRow, ban_id)
    if ban is None:
        raise KeyError(f"no site ban with id {ban_id}")
    if ban.removed_at is None:
        ban.removed_at, ban.removed_by = now, by
    return ban
