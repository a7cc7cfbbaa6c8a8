from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wms2.cli import app
from wms2.sandbox.classify import classify
from wms2.sandbox.fjr import FjrError, FjrInputFile, FjrOutputFile, FjrParseError, FjrReport, parse_fjr, parse_fjr_text
from wms2.sandbox.fjr_writer import performance_sections, write_fjr

from .conftest import FIXTURES

GOOD = [
    "CMSSWFailReport.xml",
    "CMSSWJobReportXrdSiteStatistics.xml",
    "CMSSWMergeReport2.xml",
    "CMSSWPileup.xml",
    "CMSSWProcessingReport.xml",
]


def test_every_fixture_is_covered() -> None:
    names = {p.name for p in (FIXTURES / "fjr").glob("*.xml")}
    assert names == {*GOOD, "CMSSWFailReport2.xml"}


@pytest.mark.parametrize("name", GOOD)
def test_fixture_parses(fjr_dir: Path, name: str) -> None:
    report = parse_fjr(fjr_dir / name)
    assert report.input_files or report.output_files


def test_multithreaded_report_metrics(fjr_dir: Path) -> None:
    r = parse_fjr(fjr_dir / "CMSSWJobReportXrdSiteStatistics.xml")
    assert (r.wall_s, r.cpu_s, r.threads, r.peak_rss_mb) == (153.001, 155.483, 2, 3331.98)
    assert r.events_read == 3 and r.events_written == 3
    assert r.cpu_efficiency == pytest.approx(155.483 / (153.001 * 2))
    # pileup (secondary) inputs are listed but do not count as events read
    assert [f.input_type for f in r.input_files].count("primaryFiles") == 1
    assert r.exit_code == 0


def test_processing_report_files_and_parentage(fjr_dir: Path) -> None:
    r = parse_fjr(fjr_dir / "CMSSWProcessingReport.xml")
    assert len(r.output_files) == 2
    out = r.output_files[0]
    assert out.module_label == "outputRECORECO" and out.events == 2
    assert out.runs == {"122023": [215]}
    assert out.parents[0].startswith("/store/data/BeamCommissioning09/MinimumBias/RAW")
    assert r.wall_s is None  # no PerformanceReport in this old report


def test_failure_report(fjr_dir: Path) -> None:
    r = parse_fjr(fjr_dir / "CMSSWFailReport.xml")
    assert r.exit_code == 8001
    assert r.errors[0].type == "CMSException"
    assert "CastorDbRecord" in r.error_message
    assert classify(r.exit_code, r.error_message).category == "permanent"


def test_merge_report_nan_values(fjr_dir: Path) -> None:
    r = parse_fjr(fjr_dir / "CMSSWMergeReport2.xml")
    assert r.performance["ApplicationMemory"]["AverageGrowthRateRss"] == "-nan"
    assert r.wall_s == pytest.approx(104.939)
    assert r.output_files[0].lfn.endswith("Merged.root")


def test_pileup_report(fjr_dir: Path) -> None:
    r = parse_fjr(fjr_dir / "CMSSWPileup.xml")
    assert len(r.input_files) == 14
    assert r.peak_rss_mb == pytest.approx(1505.38)


def test_truncated_report_is_a_clear_error(fjr_dir: Path) -> None:
    with pytest.raises(FjrParseError) as info:
        parse_fjr(fjr_dir / "CMSSWFailReport2.xml")
    assert info.value.line == 822
    assert "CMSSWFailReport2.xml" in str(info.value) and "line 822" in str(info.value)
    assert info.value.exit_code == 50115
    assert classify(info.value.exit_code).category == "transient"


def test_wrong_root_and_empty(tmp_path: Path) -> None:
    with pytest.raises(FjrParseError, match="expected <FrameworkJobReport>"):
        parse_fjr_text("<JobReports/>")
    empty = tmp_path / "e.xml"
    empty.write_text("")
    with pytest.raises(FjrParseError, match="empty"):
        parse_fjr(empty)


def test_writer_round_trip(tmp_path: Path) -> None:
    report = FjrReport(
        input_files=[
            FjrInputFile(
                lfn="/store/a.root",
                pfn="file:/a.root",
                events_read=5,
                runs={"1": [1, 2]},
                module_label="source",
                input_source_class="PoolSource",
            )
        ],
        output_files=[
            FjrOutputFile(
                lfn="",
                pfn="out.root",
                module_label="RECOoutput",
                events=4,
                runs={"1": [1, 2]},
                lumi_events={"1": {"1": 3, "2": 1}},
                parents=["/store/a.root"],
                data_type="MC",
                guid="g-1",
                output_module_class="PoolOutputModule",
                size=1234,
                checksums={"adler32": "0a0b0c0d"},
            )
        ],
        errors=[FjrError(exit_status=8021, type="FileReadError", message="read failure on /store/a.root")],
        performance=performance_sections(
            wall_s=2.0,
            cpu_s=3.0,
            threads=2,
            peak_rss_mb=512.0,
            peak_vsize_mb=900.0,
            events=5,
            read_mb=1.0,
            write_mb=0.5,
        ),
    )
    back = parse_fjr(write_fjr(report, tmp_path / "fjr.xml"))
    assert back.model_dump(exclude={"path"}) == report.model_copy(
        update={
            "wall_s": 2.0,
            "cpu_s": 3.0,
            "threads": 2,
            "streams": 2,
            "peak_rss_mb": 512.0,
            "peak_vsize_mb": 900.0,
            "events_processed": 5,
        }
    ).model_dump(exclude={"path"})
    assert back.bad_input_lfns() == ["/store/a.root"]


def test_cli_json(fjr_dir: Path) -> None:
    result = CliRunner().invoke(app, ["fjr", str(fjr_dir / "CMSSWJobReportXrdSiteStatistics.xml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["steps"][0]["threads"] == 2 and data["steps"][0]["peak_rss_mb"] == 3331.98
    assert data["exit_code"] == 0 and len(data["output_files"]) == 1


def test_cli_failure_and_unreadable(fjr_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    fail = runner.invoke(app, ["fjr", str(fjr_dir / "CMSSWFailReport.xml"), "--json"])
    assert fail.exit_code == 0 and json.loads(fail.stdout)["exit_code"] == 8001
    bad = runner.invoke(app, ["fjr", str(fjr_dir / "CMSSWFailReport2.xml")])
    assert bad.exit_code != 0 and "line 822" in bad.output
    missing = runner.invoke(app, ["fjr", str(tmp_path / "nope.xml")])
    assert missing.exit_code != 0 and "no such file" in missing.output
