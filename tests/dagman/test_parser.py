"""DAG input file parser: fixtures, lexical rules, errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from wms2.dagman.lexer import logical_lines, tokenize, unquote
from wms2.dagman.parser import DagParseError, find_cycle, parse_dag

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
FIXTURE_DAGS = sorted((FIXTURES / "dag-files").glob("*.dag")) + sorted((FIXTURES / "dagman-runs").rglob("*.dag"))


def _write(tmp_path: Path, text: str, name: str = "t.dag") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("dag", FIXTURE_DAGS, ids=lambda p: p.name)
def test_fixture_dags_parse(dag: Path) -> None:
    spec = parse_dag(dag)
    assert spec.nodes


def test_fixture_details() -> None:
    spec = parse_dag(FIXTURES / "dag-files" / "job_dagman_final-F.dag")
    assert spec.final == "F_C"
    assert spec.nodes["F_A"].pre_skip == 5
    assert spec.nodes["F_B2"].abort_on == 2 and spec.nodes["F_B2"].abort_return is None
    assert spec.nodes["F_B3"].priority == -1
    assert spec.nodes["F_B1"].parents == ["F_A"]
    assert spec.config_file and spec.config_file.endswith("job_dagman_final-F.config")
    assert spec.node_status_file == "job_dagman_final-F.status"  # only the first declaration counts
    defer = parse_dag(FIXTURES / "dag-files" / "job_dagman_script_defer.dag")
    pre = defer.nodes["NodeA"].pre
    assert pre is not None and (pre.defer_status, pre.defer_time) == (3, 30.0)
    order = parse_dag(FIXTURES / "dag-files" / "job_dagman_cmd_order.dag")
    assert order.nodes["NodeB"].is_subdag and order.nodes["NodeB"].category == "Cat1"
    assert order.maxjobs == {"Cat1": 2}
    assert order.nodes["NodeZ"].vars == {"nodename": "$(JOB)"}
    status = parse_dag(FIXTURES / "dag-files" / "job_dagman_node_status.dag")
    assert status.status_interval == 0 and status.status_always_update
    assert status.nodes["B5"].vars == {"copystatus": "0"} and status.nodes["A"].vars == {"copystatus": "1"}
    noop = parse_dag(FIXTURES / "dag-files" / "job_dagman_noop_node-lower.dag")
    assert noop.nodes["nodeD3"].noop and noop.nodes["nodeD3"].directory == "job_dagman_noop_node-subdir"


def test_lexical_rules(tmp_path: Path) -> None:
    text = (
        "# comment\n// other comment\n\n"
        "job A a.sub DIR 'my dir' noop\n"
        "Job \\\n  B \\\n b.sub\n"
        'Job "C" c.sub\n'
        "parent A child B\n"
        "Script Pre B pre.sh $JOB \"quoted arg\" # not a comment\n"
        "Retry B 3 unless_exit 42\n"
        "Abort_Dag_On A 5 Return 1\n"
        "VARS B foo = Bar baz= 'q x' +Site=\"T2\" esc=\"a\\\"b\"\n"
        "Pre-Skip B 3\n"
    )
    spec = parse_dag(_write(tmp_path, text))
    assert list(spec.nodes) == ["A", "B", '"C"']
    assert spec.nodes["A"].directory == "my dir" and spec.nodes["A"].noop
    pre = spec.nodes["B"].pre
    assert pre is not None and pre.command == 'pre.sh $JOB "quoted arg" # not a comment'
    assert (spec.nodes["B"].retries, spec.nodes["B"].unless_exit) == (3, 42)
    assert (spec.nodes["A"].abort_on, spec.nodes["A"].abort_return) == (5, 1)
    assert spec.nodes["B"].vars == {"foo": "Bar", "baz": "q x", "My.Site": "T2", "esc": 'a"b'}
    assert spec.nodes["B"].pre_skip == 3


def test_pass_order_and_last_one_wins(tmp_path: Path) -> None:
    text = "PARENT A CHILD B\nRETRY ALL_NODES 3\nRETRY A 10\nJOB A a.sub\nJOB B b.sub\nFINAL F f.sub\n"
    spec = parse_dag(_write(tmp_path, text))
    assert spec.nodes["A"].retries == 10 and spec.nodes["B"].retries == 3
    assert spec.nodes["F"].retries == 0  # ALL_NODES skips FINAL


@pytest.mark.parametrize(("text", "message"), [
    ("JOB A a.sub\nFOO bar\n", "t.dag:2: 'FOO' is not a valid DAG command"),
    ("JOB A a.sub\nPARENT A CHILD X\n", "t.dag:2: Failed to parse PARENT command: Unknown node 'X'"),
    ("JOB A a.sub\nJOB A b.sub\n", "t.dag:2: Failed to parse JOB command: Node name 'A' is not unique"),
    ("JOB A a.sub\nRETRY A x\n", "t.dag:2: Failed to parse RETRY command: Invalid max retry value 'x'"),
    ("JOB A 'a.sub\n", "t.dag:1: Invalid quoting"),
    ("JOB PARENT a.sub\n", "t.dag:1: Failed to parse JOB command: Node name is a reserved word"),
    ("SUBDAG A a.dag\n", "t.dag:1: Failed to parse SUBDAG command: Missing EXTERNAL keyword"),
    ("JOB A a.sub\nPARENT A B\n", "t.dag:2: Failed to parse PARENT command: Missing CHILD specifier"),
    ("FINAL F f.sub\nFINAL G g.sub\n", "t.dag:2: Failed to parse FINAL command: Only one FINAL node is allowed"),
])
def test_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DagParseError) as info:
        parse_dag(_write(tmp_path, text))
    assert any(e.startswith(f"{tmp_path}/{message}") for e in info.value.errors), info.value.errors


def test_cycles_are_not_refused_but_named(tmp_path: Path) -> None:
    spec = parse_dag(_write(tmp_path, "JOB A a.sub\nJOB B b.sub\nJOB C c.sub\nPARENT A CHILD B\n"
                                      "PARENT B CHILD A\nPARENT A CHILD C\nJOB D d.sub\n"))
    assert sorted(find_cycle(spec)) == ["A", "B", "C"]


def test_rescue_applied_on_top(tmp_path: Path) -> None:
    dag = _write(tmp_path, "JOB A a.sub\nJOB B b.sub\nPARENT A CHILD B\n")
    rescue = _write(tmp_path, "# Rescue DAG\nDONE A\n", "t.dag.rescue001")
    spec = parse_dag(dag, rescue, 1)
    assert spec.nodes["A"].done and not spec.nodes["B"].done and spec.rescue_number == 1


def test_lexer_helpers() -> None:
    assert [t for t, _ in tokenize('a "b c" \'d\\\'e\'')] == ["a", '"b c"', "'d\\'e'"]
    assert unquote('"b c"') == "b c" and unquote("'d\\'e'") == "d'e"
    lines = logical_lines("A \\\n# skipped\nB\n\nC")
    assert [(ln.lineno, ln.text) for ln in lines] == [(1, "A B"), (5, "C")]


def test_large_fan_out_parses_in_linear_time(tmp_path: Path) -> None:
    names = [f"n{i}" for i in range(20000)]
    text = "".join(f"JOB {n} a.sub\n" for n in names)
    text += f"PARENT {names[0]} CHILD {' '.join(names[1:-1])}\nPARENT {' '.join(names[1:-1])} CHILD {names[-1]}\n"
    start = time.perf_counter()
    spec = parse_dag(_write(tmp_path, text))
    assert time.perf_counter() - start < 20  # was quadratic (minutes) before edges were de-duplicated by set
    assert len(spec.nodes[names[0]].children) == 19998 and len(spec.nodes[names[-1]].parents) == 19998
