"""A real cmsRun step: the command line and the PSet tweak the wrapper runs it with.

``cmsrun.sh`` (shipped next to this module) sets up the CMSSW release (cmsset_default.sh, ``scram
project``, ``scram runtime``) and execs ``cmsRun -j <fjr> pset_tweak.py <arguments>``; ``pset_tweak.py``
loads the request PSet and applies the job's inputs from a JSON tweak.  With an apptainer image the
whole thing runs inside ``apptainer exec`` with the working directory and CVMFS bound.
"""

from __future__ import annotations

from pathlib import Path

from msgspec import field

from wms2.sandbox.contract import Contract
from wms2.sandbox.manifest import CmsRunConfig

SANDBOX_DIR = Path(__file__).resolve().parent
RUNNER_SCRIPT = "cmsrun.sh"
TWEAK_PSET = "pset_tweak.py"
CVMFS = "/cvmfs"


class PsetTweak(Contract, kw_only=True):
    input_files: list[str] = field(default_factory=list)
    skip_events: int = 0
    max_events: int = -1
    lumis: list[str] = field(default_factory=list)  # 'run:lumi-run:lumi' ranges
    first_event: int | None = None
    run: int | None = None
    first_lumi: int | None = None
    threads: int = 1
    outputs: dict[str, str] = field(default_factory=dict)  # output module -> file name
    global_tag: str | None = None


def lumi_ranges(lumis: dict[str, list[int]]) -> list[str]:
    """{run: [lumis]} as CMSSW VLuminosityBlockRange strings, contiguous lumis collapsed."""
    ranges: list[str] = []
    for run in sorted(lumis, key=int):
        numbers = sorted(set(lumis[run]))
        start = prev = None
        for lumi in [*numbers, None]:
            if start is None:
                start = prev = lumi
            elif lumi is not None and lumi == prev + 1:
                prev = lumi
            else:
                ranges.append(f"{run}:{start}-{run}:{prev}")
                start = prev = lumi
    return ranges


def write_tweak(tweak: PsetTweak, path: Path) -> Path:
    import json  # deferred: only cmsRun steps write a tweak; every job wrapper imports this module

    path.write_text(json.dumps(tweak.model_dump(exclude_none=True), indent=1))
    return path


def resolve_pset(cfg: CmsRunConfig, sandbox_dir: Path = SANDBOX_DIR) -> Path:
    pset = Path(cfg.pset)
    return pset if pset.is_absolute() else sandbox_dir / pset


def build_command(cfg: CmsRunConfig, *, workdir: Path, fjr: str, sandbox_dir: Path = SANDBOX_DIR) -> list[str]:
    """The argv that runs this step in ``workdir``."""
    inner = [
        str(sandbox_dir / RUNNER_SCRIPT),
        cfg.scram_arch,
        cfg.cmssw_version,
        str(sandbox_dir / TWEAK_PSET),
        fjr,
        *cfg.arguments,
    ]
    if not cfg.apptainer_image:
        return inner
    binds = [CVMFS, str(workdir), str(sandbox_dir)]
    return [
        "apptainer",
        "exec",
        "--no-home",
        "--pwd",
        str(workdir),
        *[arg for b in binds for arg in ("--bind", b)],
        cfg.apptainer_image,
        *inner,
    ]


def build_env(cfg: CmsRunConfig, *, tweak: Path, sandbox_dir: Path = SANDBOX_DIR) -> dict[str, str]:
    """Variables the runner and the tweak PSet read (added to the job environment)."""
    return {"WMS2_PSET": str(resolve_pset(cfg, sandbox_dir)), "WMS2_PSET_TWEAK": str(tweak)}
