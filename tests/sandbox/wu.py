"""A hand-made one-work-unit directory (CONTRACTS.md layout) and a tiny driver that plays DAGMan.

The driver runs the node scripts the way the group DAG would: landing (POST), then for each processing
node PRE -> job -> POST with RETRY semantics, then merge (PRE, job, POST) and cleanup (PRE, job).
Each job runs with the WU directory as its working directory and gets ``_CONDOR_MACHINE_AD`` and
``_CONDOR_JOB_AD`` files; the job ad is built from the role's submit file plus ``<node>.override.sub``
(later keys win), as HTCondor would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from wms2.sandbox.manifest import (
    FaultSpec,
    InputFileSlice,
    JobSpec,
    MergeSpec,
    OutputModule,
    PostSpec,
    SimulatorConfig,
    StageOutSpec,
    StepSpec,
    WorkUnitManifest,
)
from wms2.sandbox.ship import install_sandbox
from wms2.sandbox.submitfile import parse_submit

SITE = "T2_XX_Local"
DATASET = "/Prim/Era-Proc-v1/GEN-SIM"
ROLE_SUB = {
    "landing": "request_cpus = 1\nrequest_memory = 400\n",
    "proc": 'request_cpus = 1\nrequest_memory = 400\nrequirements = (TARGET.Arch == "X86_64")\n',
    "merge": "request_cpus = 1\nrequest_memory = 400\n",
    "cleanup": "request_cpus = 1\nrequest_memory = 100\n",
}
RETRIES = {"landing": 3, "proc": 3, "merge": 2, "cleanup": 1}


def make_manifest(
    storage: Path,
    *,
    jobs: int = 3,
    events: int = 20,
    faults: list[FaultSpec] | None = None,
    inputs: bool = False,
    post: PostSpec | None = None,
    max_merge_size: int = 4 * 1024**3,
    memory_mb: float = 150.0,
) -> WorkUnitManifest:
    job_specs = []
    for i in range(jobs):
        files = []
        if inputs:
            files = [
                InputFileSlice(
                    lfn=f"/store/data/Era/Prim/RAW/v1/000/{i:03d}.root",
                    events=events,
                    lumis={"1": [10 * i + 1, 10 * i + 2]},
                )
            ]
        job_specs.append(
            JobSpec(
                node=f"proc_{i:06d}",
                index=i,
                first_event=None if inputs else 1 + i * events,
                events=0 if inputs else events,
                run=1,
                lumis={} if inputs else {"1": [i + 1]},
                input_files=files,
            )
        )
    step = StepSpec(
        name="GEN-SIM",
        index=0,
        kind="simulator",
        threads=1,
        outputs=[
            OutputModule(
                module="RAWSIMoutput",
                tier="GEN-SIM",
                dataset=DATASET,
                merged_lfn_base="/store/mc/Era/Prim/GEN-SIM/Proc-v1",
                unmerged_lfn_base="/store/unmerged/Era/Prim/GEN-SIM/Proc-v1",
            )
        ],
        simulator=SimulatorConfig(cpu_seconds_per_event=0.002, memory_mb=memory_mb, size_per_event_kb={"GEN-SIM": 4.0}),
    )
    return WorkUnitManifest(
        request_name="req_test",
        workflow_id="wf-1",
        round=0,
        work_unit="mg_000000",
        steps=[step],
        jobs=job_specs,
        stageout=StageOutSpec(mode="local", storage_root=str(storage)),
        merge=MergeSpec(max_merge_size=max_merge_size),
        post=post or PostSpec(cooloff_base_s=0, cooloff_max_s=0),
        faults=faults or [],
    )


@dataclass
class NodeRun:
    node: str
    attempts: int = 0
    post_exits: list[int] = field(default_factory=list)
    job_ads: list[dict[str, str]] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return bool(self.post_exits) and self.post_exits[-1] == 0


class WorkUnit:
    def __init__(self, root: Path, manifest: WorkUnitManifest, site: str = SITE):
        self.root = root
        self.sandbox = root / "sandbox"
        self.launcher = install_sandbox(self.sandbox, sys.executable)
        self.dir = root / manifest.work_unit
        self.dir.mkdir(parents=True)
        manifest.dump(self.dir / "manifest.json")
        self.manifest = manifest
        for role, text in ROLE_SUB.items():
            (self.dir / f"{role}.sub").write_text(text + "include : $(node).override.sub\nqueue\n")
        self.machine_ad = root / "machine.ad"
        self.set_site(site)

    def set_site(self, site: str | None) -> None:
        lines = ["Cpus = 2", "Memory = 4000", 'Name = "slot1@localhost"']
        if site:
            lines.append(f'GLIDEIN_CMSSite = "{site}"')
        self.machine_ad.write_text("\n".join(lines) + "\n")

    def _script(self, *args: str) -> int:
        return subprocess.run([str(self.launcher), *args], cwd=self.dir, check=False).returncode

    def _job_ad(self, node: str, role: str) -> dict[str, str]:
        text = (self.dir / f"{role}.sub").read_text()
        override = self.dir / f"{node}.override.sub"
        if override.exists():
            text += override.read_text()
        values = parse_submit(text)
        ad = {"RequestMemory": values.get("request_memory", "0"), "RequestCpus": values.get("request_cpus", "1")}
        for line in text.splitlines():
            if line.startswith("+") and "=" in line:
                key, _, value = line[1:].partition("=")
                ad[key.strip()] = value.strip()
        if "requirements" in values:
            ad["Requirements"] = values["requirements"]
        return ad

    def _job(self, node: str, role: str, args: list[str]) -> tuple[int, dict[str, str]]:
        ad = self._job_ad(node, role)
        ad_file = self.root / f"{node}.jobad"
        ad_file.write_text("".join(f"{k} = {v}\n" for k, v in ad.items()))
        env = dict(
            os.environ,
            _CONDOR_MACHINE_AD=str(self.machine_ad),
            _CONDOR_JOB_AD=str(ad_file),
            _CONDOR_SCRATCH_DIR=str(self.dir),
        )
        with open(self.dir / f"{node}.out", "w") as out, open(self.dir / f"{node}.err", "w") as err:
            rc = subprocess.run(
                [str(self.launcher), *args], cwd=self.dir, env=env, stdout=out, stderr=err, check=False
            ).returncode
        return rc, ad

    def run_node(self, node: str, role: str, args: list[str], pre: bool = True, post: bool = True) -> NodeRun:
        result = NodeRun(node)
        max_retries = RETRIES[role]
        for retry in range(max_retries + 1):
            result.attempts += 1
            if pre:
                assert self._script("pre", node) == 0
            rc, ad = self._job(node, role, args)
            result.job_ads.append(ad)
            ret = rc  # subprocess reports a signal as -N, like DAGMan $RETURN
            if not post:
                result.post_exits.append(0 if rc == 0 else 1)
            else:
                result.post_exits.append(self._script("post", node, str(ret), str(retry), str(max_retries)))
            if result.post_exits[-1] == 0 or result.post_exits[-1] in (42, 43):
                break
        return result

    def land(self) -> NodeRun:
        return self.run_node("landing", "landing", ["land"], pre=False)

    def proc(self, node: str) -> NodeRun:
        return self.run_node(node, "proc", ["run", "--manifest", "manifest.json", "--node", node])

    def merge(self) -> NodeRun:
        return self.run_node("merge", "merge", ["merge", "--manifest", "manifest.json"])

    def cleanup(self) -> NodeRun:
        return self.run_node("cleanup", "cleanup", ["cleanup", "--manifest", "manifest.json"], post=False)

    def run_all(self) -> dict[str, NodeRun]:
        runs = {"landing": self.land()}
        for job in self.manifest.jobs:
            runs[job.node] = self.proc(job.node)
            if runs[job.node].post_exits[-1] == 43:
                return runs
        if all(r.succeeded for r in runs.values()):
            runs["merge"] = self.merge()
            if runs["merge"].succeeded:
                runs["cleanup"] = self.cleanup()
        return runs
