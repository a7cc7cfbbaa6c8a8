"""Parent side of ``Submit.from_dag``: option mapping and the short-lived child process.

``from_dag`` must run with cwd = the DAG's directory and may kill its interpreter (reference §6.1), so
it runs in ``python -m wms2.engines.htcondor.from_dag_child`` (:mod:`.from_dag_child`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import wms2
from wms2.engines.base import BadDag, EngineError, SubmitOptions

CHILD_MODULE = "wms2.engines.htcondor.from_dag_child"
# How much of the child's stderr goes into an error message.
STDERR_TAIL_CHARS = 2000


def from_dag_options(options: SubmitOptions, dagman_path: str | None = None) -> dict[str, int | bool | str]:
    """The ``Submit.from_dag`` option dict for ``options`` (keys from reference §5.1).

    - ``rescue=None``: DAGMan's automatic rescue (``AutoRescue`` default 1, nothing passed);
      ``rescue=0``: no rescue (``AutoRescue=False``); ``rescue=N>0``: ``DoRescueFrom=N``.
    - Without ``force``, ``update_submit`` is passed so that a resubmission rewrites the previous
      ``.condor.sub`` instead of failing when no rescue DAG exists (e.g. after a startup error).
    """
    if options.force and options.rescue:
        raise ValueError("SubmitOptions: force cannot be combined with an explicit rescue number (ref. §5.1)")
    if options.rescue is not None and options.rescue < 0:
        raise ValueError(f"SubmitOptions.rescue: {options.rescue} is negative")
    opts: dict[str, int | bool | str] = {}
    if options.force:
        opts["force"] = True
    else:
        opts["update_submit"] = True
    if options.rescue == 0:
        opts["AutoRescue"] = False
    elif options.rescue is not None:
        opts["DoRescueFrom"] = options.rescue
    if options.priority:
        opts["priority"] = options.priority
    if options.batch_name:
        opts["batch-name"] = options.batch_name
    if options.max_idle is not None:
        opts["maxidle"] = options.max_idle
    if options.max_jobs is not None:
        opts["maxjobs"] = options.max_jobs
    if dagman_path:
        opts["dagman"] = dagman_path
    return opts


@dataclass(frozen=True)
class FromDagRunner:
    """Runs the child for one DAG file and returns the DAGMan job's submit description text."""

    dagman_path: str | None = None
    timeout_s: float = 60.0
    python: str = sys.executable

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        src = str(Path(wms2.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        return env

    def check_dagman(self) -> None:
        if self.dagman_path:
            if not Path(self.dagman_path).is_file():
                raise EngineError(f"engine.dagman_path: {self.dagman_path} is not a file")
        elif shutil.which("condor_dagman") is None:
            raise EngineError(
                "condor_dagman is not on PATH (Submit.from_dag needs it): install HTCondor on this submit "
                "host or set engine.dagman_path"
            )

    def run(self, dag_file: Path, options: SubmitOptions) -> str:
        dag = dag_file.resolve()
        if not dag.is_file():
            raise BadDag(f"{dag_file}: DAG file not found")
        opts = from_dag_options(options, self.dagman_path)
        self.check_dagman()
        try:
            proc = subprocess.run(
                [self.python, "-m", CHILD_MODULE, dag.name],
                cwd=dag.parent,
                input=json.dumps(opts),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                env=self._child_env(),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BadDag(f"{dag}: Submit.from_dag did not finish within {self.timeout_s} s") from exc
        return _parse_child_result(dag, proc)


def _parse_child_result(dag: Path, proc: subprocess.CompletedProcess[str]) -> str:
    stderr = proc.stderr.strip()[-STDERR_TAIL_CHARS:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    payload: dict[str, object] = {}
    if lines:
        try:
            decoded = json.loads(lines[-1])
        except json.JSONDecodeError:
            decoded = {}
        payload = decoded if isinstance(decoded, dict) else {}
    if proc.returncode == 0 and payload.get("ok") is True and isinstance(payload.get("submit"), str):
        return str(payload["submit"])
    error = payload.get("error") or f"the from_dag process exited with status {proc.returncode}"
    detail = f"; stderr: {stderr}" if stderr else ""
    raise BadDag(f"{dag}: Submit.from_dag refused the DAG: {error}{detail}")
