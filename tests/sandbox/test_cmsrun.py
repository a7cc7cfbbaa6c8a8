from __future__ import annotations

import json
from pathlib import Path

from wms2.sandbox import cmsrun
from wms2.sandbox.manifest import CmsRunConfig, JobSpec, OutputModule, StepSpec
from wms2.sandbox.steps import StepInput, _cmsrun_command

CFG = CmsRunConfig(
    cmssw_version="CMSSW_14_0_7",
    scram_arch="el9_amd64_gcc12",
    pset="PSet.py",
    global_tag="140X_mcRun3",
    arguments=["--customise", "x"],
)


def test_plain_command(tmp_path: Path) -> None:
    cmd = cmsrun.build_command(CFG, workdir=tmp_path, fjr="FrameworkJobReport.xml", sandbox_dir=Path("/sb"))
    assert cmd == [
        "/sb/cmsrun.sh",
        "el9_amd64_gcc12",
        "CMSSW_14_0_7",
        "/sb/pset_tweak.py",
        "FrameworkJobReport.xml",
        "--customise",
        "x",
    ]
    env = cmsrun.build_env(CFG, tweak=tmp_path / "tweak.json", sandbox_dir=Path("/sb"))
    assert env == {"WMS2_PSET": "/sb/PSet.py", "WMS2_PSET_TWEAK": str(tmp_path / "tweak.json")}


def test_apptainer_command(tmp_path: Path) -> None:
    cfg = CFG.model_copy(update={"apptainer_image": "/cvmfs/unpacked.cern.ch/cms/el9:x86_64", "pset": "/abs/PSet.py"})
    cmd = cmsrun.build_command(cfg, workdir=tmp_path, fjr="f.xml", sandbox_dir=Path("/sb"))
    assert cmd[:2] == ["apptainer", "exec"]
    assert cmd[cmd.index("--pwd") + 1] == str(tmp_path)
    binds = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--bind"]
    assert binds == ["/cvmfs", str(tmp_path), "/sb"]
    image_at = cmd.index("/cvmfs/unpacked.cern.ch/cms/el9:x86_64")
    assert cmd[image_at + 1] == "/sb/cmsrun.sh"
    assert cmsrun.resolve_pset(cfg) == Path("/abs/PSet.py")


def test_lumi_ranges() -> None:
    assert cmsrun.lumi_ranges({"2": [5], "1": [1, 2, 3, 7, 9, 10]}) == ["1:1-1:3", "1:7-1:7", "1:9-1:10", "2:5-2:5"]


def test_tweak_for_processing_and_generation(tmp_path: Path) -> None:
    step = StepSpec(
        name="RECO",
        index=0,
        kind="cmsrun",
        threads=4,
        cmsrun=CFG,
        outputs=[OutputModule(module="AODoutput", tier="AOD", dataset="/A/B/AOD")],
    )
    job = JobSpec(node="proc_000000", index=0)
    inputs = [
        StepInput(lfn="/store/a.root", pfn="root://x//store/a.root", events=100, first_event=50, lumis={"1": [4, 5]})
    ]
    cmd, env = _cmsrun_command(step, job, inputs, tmp_path)
    tweak = json.loads(Path(env["WMS2_PSET_TWEAK"]).read_text())
    assert tweak["input_files"] == ["root://x//store/a.root"] and tweak["skip_events"] == 50
    assert tweak["max_events"] == 100 and tweak["threads"] == 4 and tweak["lumis"] == ["1:4-1:5"]
    assert tweak["outputs"] == {"AODoutput": "AODoutput.root"} and cmd[-2:] == ["--customise", "x"]
    gen = JobSpec(node="proc_000001", index=1, first_event=1001, events=500, run=1, lumis={"1": [3, 4]})
    _, env = _cmsrun_command(step, gen, [], tmp_path)
    tweak = json.loads(Path(env["WMS2_PSET_TWEAK"]).read_text())
    assert (tweak["first_event"], tweak["max_events"], tweak["run"], tweak["first_lumi"]) == (1001, 500, 1, 3)


def test_runner_files_are_shipped() -> None:
    assert (cmsrun.SANDBOX_DIR / cmsrun.RUNNER_SCRIPT).stat().st_mode & 0o111
    assert (cmsrun.SANDBOX_DIR / cmsrun.TWEAK_PSET).is_file()
