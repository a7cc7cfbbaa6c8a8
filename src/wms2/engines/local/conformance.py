"""Conformance of the local engine with real DAGMan, on the fixture DAG files (issue 14).

Every ``*.dag`` under ``fixtures/dag-files`` and ``fixtures/dagman-runs`` is parsed, then staged in a
work directory and run on the local pool with stand-ins for what the fixtures do not include: each
node's submit file becomes a one-line shell job, each script a shell stand-in.  When the fixture holds
the files of a real DAGMan run (``dagman-runs``), the stand-ins replay that run's outcome (the exit
status each failed job or POST script had, read from the real node status file), so the files the
local engine writes can be compared with the real ones: node status file, rescue DAG, metrics,
``dagman.out`` and the nodes log.
"""

from __future__ import annotations

import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from wms2.dagman.lexer import logical_lines, normalize_keyword, tokenize
from wms2.dagman.parser import DagParseError, parse_dag
from wms2.dagman.status_file import read_status_file
from wms2.engines.base import EngineError, SubmitOptions
from wms2.engines.local.client import LocalEngine
from wms2.engines.local.conformance_compare import compare_outputs

REAL_OUTPUTS = (".dagman.out", ".nodes.log", ".metrics", ".dagman.log", ".node_status", ".lock")
SUBMIT_COMMANDS = {"JOB", "FINAL", "SERVICE", "PROVISIONER"}
STANDINS = "standins"
_JOB_FAILED = re.compile(r"Job proc \(\S+\) failed with status (-?\d+)")
_POST_FAILED = re.compile(r"POST Script failed with status (-?\d+)")
WAIT_POLL_S = 0.1  # how often a finished run is looked for
_PRE_FAILED = re.compile(r"^PRE Script failed with status (-?\d+)")


@dataclass
class FileResult:
    file: str  # relative to the fixtures directory
    parsed_ok: bool = False
    error: str = ""
    staged: Path | None = None
    cluster: int | None = None
    ran_ok: bool = False
    exit_code: int | None = None
    real_outputs: bool = False
    mismatches: list[str] = field(default_factory=list)


def fixture_dags(fixtures: Path) -> list[Path]:
    return sorted((fixtures / "dag-files").glob("*.dag")) + sorted((fixtures / "dagman-runs").rglob("*.dag"))


def fixture_root(fixtures: Path, dag: Path) -> Path:
    """The directory copied for a fixture: dag-files itself, or the whole run directory."""
    rel = dag.relative_to(fixtures)
    return fixtures / rel.parts[0] if rel.parts[0] == "dag-files" else fixtures / rel.parts[0] / rel.parts[1]


def _outcomes(dag: Path) -> dict[str, tuple[int, int, int]]:
    """Per node (PRE, job, POST) exit codes of the real run, from its node status file."""
    real = dag.with_suffix(".node_status")
    if not real.is_file():
        return {}
    outcomes: dict[str, tuple[int, int, int]] = {}
    for node in read_status_file(real).nodes:
        job = _JOB_FAILED.search(node.details)
        post = _POST_FAILED.search(node.details)
        pre = _PRE_FAILED.search(node.details)
        outcomes[node.node] = (int(pre.group(1)) if pre else 0, int(job.group(1)) if job else 0,
                               int(post.group(1)) if post else 0)
    return outcomes


def _write_exec(path: Path, code: int) -> Path:
    path.write_text(f"#!/bin/sh\n# conformance stand-in\nexit {code}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _replace_token(text: str, tokens: list[tuple[str, int]], index: int, new: str) -> str:
    end = tokens[index][1]
    start = end - len(tokens[index][0])
    return text[:start] + new + text[end:]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _rewrite_line(text: str, standins: Path, outcomes: dict[str, tuple[int, int, int]]) -> str:
    tokens = tokenize(text)
    cmd = normalize_keyword(tokens[0][0])
    if cmd in SUBMIT_COMMANDS and len(tokens) >= 3 and tokens[2][0] != "{" and not tokens[2][0].startswith("@="):
        node = tokens[1][0]
        code = outcomes.get(node, (0, 0, 0))[1]
        sub = standins / f"{_safe(node)}.sub"
        sub.write_text(f"executable = /bin/sh\narguments = \"-c 'exit {code}'\"\nqueue\n")
        return _replace_token(text, tokens, 2, str(sub))
    if cmd == "SCRIPT":
        i = 1
        while i < len(tokens) and normalize_keyword(tokens[i][0]) in ("DEFER", "DEBUG"):
            i += 3
        if i + 2 < len(tokens):
            kind, node = tokens[i][0].upper(), tokens[i + 1][0]
            pre, _, post = outcomes.get(node, (0, 0, 0))
            code = pre if kind == "PRE" else post if kind == "POST" else 0
            script = _write_exec(standins / f"{_safe(node)}.{kind.lower()}.sh", code)
            return _replace_token(text, tokens, i + 2, str(script))
    return text


def _rewrite_dag(dag: Path, real_dag: Path, standins: Path) -> None:
    """Rewrite a staged DAG file so that every submit file and script is a stand-in."""
    outcomes = _outcomes(real_dag)
    out: list[str] = []
    for line in logical_lines(dag.read_text()):
        if line.body is not None:  # inline descriptions are kept as they are
            words = line.text.split()
            closing = "}" if words[2] == "{" else "@" + words[2][2:]
            out += [" ".join(words[:3]), *line.body, f"{closing} {' '.join(words[3:])}".strip()]
            continue
        out.append(_rewrite_line(line.text, standins, outcomes))
    dag.write_text("\n".join(out) + "\n")


def stage(fixtures: Path, dag: Path, work: Path) -> Path:
    """Copy the fixture's directory to ``work``, drop the real outputs, put stand-ins in; returns the
    staged DAG file."""
    root = fixture_root(fixtures, dag)
    target = work / root.name
    shutil.copytree(root, target)
    for path in list(target.rglob("*")):
        if path.is_file() and (path.name.endswith(REAL_OUTPUTS) or ".rescue" in path.name):
            path.unlink()
    standins = target / STANDINS
    standins.mkdir(exist_ok=True)
    for staged in target.rglob("*.dag"):
        _rewrite_dag(staged, root / staged.relative_to(target), standins)
    staged_dag = target / dag.relative_to(root)
    _prepare_dirs(staged_dag)
    return staged_dag


def _prepare_dirs(dag: Path) -> None:
    """Node directories and CONFIG files the fixtures name but do not include; sub-DAGs too."""
    spec = parse_dag(dag)
    if spec.config_file and not Path(spec.config_file).exists():
        Path(spec.config_file).write_text("# conformance stand-in: empty DAGMan config\n")
    for node in [*spec.nodes.values(), *spec.services.values()]:
        directory = spec.node_dir(node)
        directory.mkdir(parents=True, exist_ok=True)
        if node.is_subdag:
            inner = directory / node.submit
            if not inner.exists():
                inner.write_text("JOB standin_node /bin/true NOOP\n")
            _prepare_dirs(inner)


def parse_all(fixtures: Path) -> list[FileResult]:
    results: list[FileResult] = []
    for dag in fixture_dags(fixtures):
        result = FileResult(file=str(dag.relative_to(fixtures)))
        try:
            parse_dag(dag)
            result.parsed_ok = True
        except DagParseError as exc:
            result.error = "; ".join(exc.errors)
        result.real_outputs = Path(str(dag) + ".dagman.out").is_file()
        results.append(result)
    return results


def compare(fixtures: Path, result: FileResult) -> None:
    """Compare the staged run's files with the real ones (only for fixtures of real runs)."""
    if result.staged is None or not result.real_outputs:
        return
    real = fixtures / result.file
    result.mismatches = [f"{result.file}: {m}" for m in compare_outputs(real, result.staged)]


def run_all(fixtures: Path, work: Path, engine: LocalEngine, timeout: float) -> list[FileResult]:
    """Parse every fixture DAG, run the runnable ones at once on the pool, compare with real runs."""
    results = parse_all(fixtures)
    for index, result in enumerate(results):
        if not result.parsed_ok:
            continue
        try:
            result.staged = stage(fixtures, fixtures / result.file, work / f"{index:02d}")
            result.cluster = engine.submit_dag(result.staged, SubmitOptions()).cluster_id
        except (DagParseError, EngineError, OSError) as exc:
            result.error = f"not runnable: {exc}"
    for result in results:
        if result.cluster is None:
            continue
        try:
            info = engine.wait(result.cluster, timeout=timeout, poll=WAIT_POLL_S)
        except TimeoutError as exc:
            result.error = str(exc)
            continue
        result.exit_code, result.ran_ok = info.exit_code, info.exit_code is not None
        compare(fixtures, result)
    return results
