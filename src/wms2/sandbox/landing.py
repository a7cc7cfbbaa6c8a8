"""Site election: the landing job reports the site it landed on (``wms2-job land``); its POST
script writes ``elected_site`` (:func:`elect_site`)."""

from __future__ import annotations

import sys
from pathlib import Path

from wms2.sandbox import ads
from wms2.sandbox.exitcodes import NO_SITE_NAME, process_exit_status
from wms2.sandbox.report import JobReport
from wms2.sandbox.results import ELECTED_SITE_FILE
from wms2.sandbox.submitfile import SITE_NAME, write_atomic

SITE_LINE_PREFIX = f"{ads.SITE_ATTR}="
LANDING_NODE = "landing"


def land(outdir: Path | None = None) -> int:
    """Print ``GLIDEIN_CMSSite=<site>`` as the last line of stdout; non-zero when the slot has none."""
    site = ads.machine_site()
    report = JobReport(node=LANDING_NODE, work_unit="", site=site)
    if site is None or not SITE_NAME.match(site):
        report.exit_code = NO_SITE_NAME
        report.error_message = f"no valid {ads.SITE_ATTR} in the machine ad ${ads.MACHINE_AD_ENV}: {site!r}"
        print(report.error_message, file=sys.stderr)
    else:
        print(f"{SITE_LINE_PREFIX}{site}", flush=True)
    report.write(outdir or Path.cwd())
    return process_exit_status(report.exit_code)


def site_from_output(path: Path) -> str | None:
    """The site named on the last ``GLIDEIN_CMSSite=`` line of the landing job's stdout."""
    if not path.exists():
        return None
    site = None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(SITE_LINE_PREFIX):
            site = line[len(SITE_LINE_PREFIX) :].strip()
    return site if site and SITE_NAME.match(site) else None


def elect_site(wudir: Path) -> str | None:
    """Write ``elected_site`` from ``landing.out``; returns the site (None when it cannot be read)."""
    site = site_from_output(wudir / f"{LANDING_NODE}.out")
    if site is not None:
        write_atomic(wudir / ELECTED_SITE_FILE, site + "\n")
    return site
