"""Site bans, bad-file exclusion, ban rewriting of landing nodes, re-election, metric aggregation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from wms2.config import FailureSettings
from wms2.core.aggregation import aggregate_steps, weighted_median
from wms2.core.recovery import apply_bans_to_landing, ban_clause, reelect_banned
from wms2.core.site_bans import banned_sites, derive_bans
from wms2.db.session import Database
from wms2.db.tables import InputFileRow, RequestRow, SiteBanRow, WorkflowRow
from wms2.domain.enums import InputFileState, RequestStatus, WorkflowStatus
from wms2.sandbox.results import PostClassification, PostJobInfo, PostResult


def _post(wu_dir: Path, node: str, site: str, category: str, code: int, bad: list[str] | None = None) -> None:
    wu_dir.mkdir(parents=True, exist_ok=True)
    result = PostResult(node=node, role="proc", timestamp=time.time(), attempt=3, max_retries=3, final=True,
                        exit_code=code, post_exit=0 if category == "success" else 42,
                        job=PostJobInfo(exit_code=code, site=site),
                        classification=PostClassification(category=category, retryable=False,
                                                          bad_input_files=bad or []))
    (wu_dir / f"{node}.post.json").write_text(result.model_dump_json())


def _workflows(db: Database, n: int) -> list[int]:
    ids = []
    with db.session() as s:
        for i in range(n):
            req = RequestRow(name=f"r{i}", requestor="t", request_type="X", document={}, spec={}, priority=1,
                             status=RequestStatus.active)
            s.add(req)
            s.flush()
            wf = WorkflowRow(request_id=req.id, request_name=req.name, status=WorkflowStatus.active)
            s.add(wf)
            s.flush()
            ids.append(wf.id)
    return ids


def test_site_ban_thresholds(db: Database, tmp_path: Path) -> None:
    (wf,) = _workflows(db, 1)
    for i in range(4):  # site A: 3 infrastructure failures out of 4 -> banned
        _post(tmp_path / f"mg_{i:06d}", f"proc_{i}", "T2_XX_SiteA", "infrastructure" if i < 3 else "success", 60311)
    for i in range(4, 9):  # site B: 2 of 5 -> below 50 % and below 3
        _post(tmp_path / f"mg_{i:06d}", f"proc_{i}", "T1_XX_SiteB", "infrastructure" if i < 6 else "success", 60311)
    now = datetime.now(UTC)
    with db.session() as s:
        bans = derive_bans(s, wf, tmp_path, FailureSettings(), now)
        assert [b.site for b in bans] == ["T2_XX_SiteA"]
        assert bans[0].expires_at == now + timedelta(days=7)
        assert derive_bans(s, wf, tmp_path, FailureSettings(), now) == []  # idempotent
        assert banned_sites(s, wf, now) == ["T2_XX_SiteA"]


def test_system_wide_after_three_workflows(db: Database, tmp_path: Path) -> None:
    wfs = _workflows(db, 3)
    now = datetime.now(UTC)
    for wf in wfs:
        d = tmp_path / str(wf)
        for i in range(3):
            _post(d / f"mg_{i:06d}", f"proc_{i}", "T2_XX_SiteA", "infrastructure", 60311)
        with db.session() as s:
            derive_bans(s, wf, d, FailureSettings(), now)
    with db.session() as s:
        system = [b for b in s.scalars(select(SiteBanRow)) if b.workflow_id is None]
        assert [b.site for b in system] == ["T2_XX_SiteA"]
        assert banned_sites(s, None, now) == ["T2_XX_SiteA"]


def test_bad_file_excluded_instead_of_ban(db: Database, tmp_path: Path) -> None:
    (wf,) = _workflows(db, 1)
    bad = "/store/data/x/bad.root"
    with db.session() as s:
        s.add(InputFileRow(workflow_id=wf, lfn=bad, state=InputFileState.attempted))
    for i, site in enumerate(["T2_XX_SiteA", "T2_XX_SiteA", "T2_XX_SiteA", "T1_XX_SiteB"]):
        _post(tmp_path / f"mg_{i:06d}", f"proc_{i}", site, "data", 8021, bad=[bad])
    with db.session() as s:
        bans = derive_bans(s, wf, tmp_path, FailureSettings(), datetime.now(UTC))
        assert bans == []  # the file failed at two sites: the file is bad, not site A
        assert s.scalar(select(InputFileRow.state)) == InputFileState.excluded


def test_landing_ban_rewrite_and_reelection(tmp_path: Path) -> None:
    for wu, site in (("mg_000000", "T2_XX_SiteA"), ("mg_000001", "T1_XX_SiteB"), ("mg_000002", "T1_XX_SiteB")):
        d = tmp_path / wu
        d.mkdir()
        (d / "landing.sub").write_text("request_cpus = 1\nWMS2_SiteBans = true\n"
                                       "requirements = (true) && ($(WMS2_SiteBans))\nqueue\n")
        (d / "elected_site").write_text(site + "\n")
        (d / "group.dag.rescue001").write_text("DONE landing\n")
    changed = apply_bans_to_landing(tmp_path, ["T1_XX_SiteB"], skip={"mg_000002"})
    assert changed == 2
    text = (tmp_path / "mg_000000" / "landing.sub").read_text()
    assert 'WMS2_SiteBans = (TARGET.GLIDEIN_CMSSite =!= "T1_XX_SiteB")' in text
    assert apply_bans_to_landing(tmp_path, ["T1_XX_SiteB"], skip={"mg_000002"}) == 0  # idempotent
    assert "WMS2_SiteBans = true" in (tmp_path / "mg_000002" / "landing.sub").read_text()
    assert reelect_banned(tmp_path, ["T1_XX_SiteB"], skip={"mg_000002"}) == ["mg_000001"]
    assert not (tmp_path / "mg_000001" / "elected_site").exists()
    assert not (tmp_path / "mg_000001" / "group.dag.rescue001").exists()
    assert (tmp_path / "mg_000000" / "group.dag.rescue001").exists()
    assert ban_clause([]) == "true"


def test_landing_without_macro_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "mg_000000").mkdir()
    (tmp_path / "mg_000000" / "landing.sub").write_text("requirements = true\nqueue\n")
    with pytest.raises(ValueError, match="WMS2_SiteBans"):
        apply_bans_to_landing(tmp_path, ["T1_XX_SiteB"], skip=set())


def test_weighted_median_and_aggregation() -> None:
    assert weighted_median([(1.0, 1), (100.0, 1), (2.0, 5)]) == 2.0
    with pytest.raises(ValueError):
        weighted_median([])
    agg = aggregate_steps([
        {"steps": [{"step": "s", "jobs_sampled": 8, "threads": 2, "metrics": {
            "peak_rss_mb": {"median": 100, "min": 90, "max": 120}, "cpu_efficiency": {"median": 0.5, "min": 0.4,
                                                                                         "max": 0.6}}}]},
        {"steps": [{"step": "s", "jobs_sampled": 2, "threads": 2, "metrics": {
            "peak_rss_mb": {"median": 400, "min": 380, "max": 500}, "cpu_efficiency": {"median": 0.9, "min": 0.9,
                                                                                          "max": 0.9}}}]},
    ])
    step = agg["steps"][0]
    assert step["jobs_sampled"] == 10 and agg["jobs_sampled"] == 10
    assert step["metrics"]["peak_rss_mb"] == {"median": 100.0, "max": 500, "min": 90}
    assert step["metrics"]["cpu_efficiency"]["median"] == 0.5
