# ruff: noqa: E501
"""Table-driven test of the whole DAG grammar: every line below comes from DAGMan's grammar (the manual's
command syntax and HTCondor's golden parser test).  Invalid lines must be refused with ``file:line:`` and
DAGMan's reason; valid lines must parse to what they mean."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wms2.dagman.model import DagSpec
from wms2.dagman.parser import DagParseError, parse_dag

PRELUDE = "JOB A a.sub\nJOB B b.sub\nJOB C c.sub\nFINAL F f.sub\n"
TEST_LINE = PRELUDE.count("\n") + 1
FP = "Failed to parse"

INVALID: list[tuple[str, str]] = [
    # node definitions (JOB, FINAL, PROVISIONER, SERVICE, SUBDAG)
    ("JOB", f"{FP} JOB command: Missing node name"),
    ("JOB ALL_NODES", f"{FP} JOB command: Node name is a reserved word"),
    ("JOB PARENT", f"{FP} JOB command: Node name is a reserved word"),
    ("JOB CHILD", f"{FP} JOB command: Node name is a reserved word"),
    ("job all_nodes x.sub", f"{FP} JOB command: Node name is a reserved word"),
    ("SERVICE FOO+BAR submit.desc", f"{FP} SERVICE command: Node name contains illegal charater"),
    ("JOB X+Y x.sub", f"{FP} JOB command: Node name contains illegal charater"),
    ("FINAL G", f"{FP} FINAL command: No submit description provided"),
    ("PROVISIONER P foo.sub DIR", f"{FP} PROVISIONER command: No directory path provided for DIR subcommand"),
    ("JOB X foo.sub garbage", f"{FP} JOB command: Unexpected token 'garbage'"),
    ("SUBDAG EXTERNAL X foo.dag NOOP DONE DIR subdir garbage", f"{FP} SUBDAG command: Unexpected token 'garbage'"),
    ("SUBDAG", f"{FP} SUBDAG command: Missing EXTERNAL keyword"),
    ("SUBDAG X x.dag", f"{FP} SUBDAG command: Missing EXTERNAL keyword"),
    ("SUBDAG EXTERNAL", f"{FP} SUBDAG command: Missing node name"),
    ("SUBDAG EXTERNAL X", f"{FP} SUBDAG command: No DAG file provided"),
    ("SERVICE", f"{FP} SERVICE command: Missing node name"),
    ("SERVICE S", f"{FP} SERVICE command: No submit description provided"),
    ("PROVISIONER", f"{FP} PROVISIONER command: Missing node name"),
    ("JOB A other.sub", f"{FP} JOB command: Node name 'A' is not unique"),
    ("SERVICE A other.sub", f"{FP} SERVICE command: Node name 'A' is not unique"),
    ("JOB X x.condor.sub", f"{FP} JOB command: use of the JOB keyword for nested DAGs is prohibited"),
    ("FINAL G g.sub", f"{FP} FINAL command: Only one FINAL node is allowed"),
    ("JOB X x.sub DIR", f"{FP} JOB command: No directory path provided for DIR subcommand"),
    ("JOB X {", f"{FP} JOB command: Missing inline description closing token: }}"),
    ("SERVICE X @=end", f"{FP} SERVICE command: Missing inline description closing token: @end"),
    # SPLICE
    ("SPLICE", f"{FP} SPLICE command: Missing splice name"),
    ("SPLICE name", f"{FP} SPLICE command: Missing DAG file"),
    ("SPLICE name splice.dag DIR", f"{FP} SPLICE command: No directory path provided for DIR subcommand"),
    ("SPLICE name splice.dag garbage", f"{FP} SPLICE command: Unexpected token 'garbage'"),
    ("SPLICE name splice.dag DIR subdir garbage", f"{FP} SPLICE command: Unexpected token 'garbage'"),
    ("SPLICE name missing.dag", f"{FP} SPLICE command: Splice DAG file"),
    ("SPLICE A splice.dag", f"{FP} SPLICE command: Splice name 'A' is not unique"),
    ("SPLICE PARENT splice.dag", f"{FP} SPLICE command: Node name is a reserved word"),
    ("SPLICE self t.dag", f"{FP} SPLICE command: Recursive SPLICE of file t.dag"),
    # PARENT / CHILD
    ("PARENT", f"{FP} PARENT command: No parent node(s) specified"),
    ("PARENT CHILD A B C", f"{FP} PARENT command: No parent node(s) specified"),
    ("PARENT A B C", f"{FP} PARENT command: Missing CHILD specifier"),
    ("PARENT A CHILD", f"{FP} PARENT command: No children node(s) specified"),
    ("PARENT A CHILD Z", f"{FP} PARENT command: Unknown node 'Z'"),
    ("PARENT Z CHILD A", f"{FP} PARENT command: Unknown node 'Z'"),
    ("PARENT F CHILD A", f"{FP} PARENT command: FINAL node F cannot be used in PARENT/CHILD"),
    ("PARENT A CHILD F", f"{FP} PARENT command: FINAL node F cannot be used in PARENT/CHILD"),
    ("WEAK CHILD A", f"{FP} PARENT command: WEAK must be followed by PARENT"),
    ("WEAK PARENT A CHILD", f"{FP} PARENT command: No children node(s) specified"),
    # SCRIPT
    ("SCRIPT", f"{FP} SCRIPT command: Missing script type (PRE, POST, HOLD) and optional sub-commands (DEFER, DEBUG)"),
    ("SCRIPT DEFER", f"{FP} SCRIPT command: DEFER missing status value"),
    ("SCRIPT DEFER foo", f"{FP} SCRIPT command: Invalid DEFER status value 'foo'"),
    ("SCRIPT DEFER 1", f"{FP} SCRIPT command: DEFER missing time value"),
    ("SCRIPT DEFER 1 foo", f"{FP} SCRIPT command: Invalid DEFER time value 'foo'"),
    ("SCRIPT DEBUG", f"{FP} SCRIPT command: DEBUG missing filename"),
    ("SCRIPT DEBUG script.out", f"{FP} SCRIPT command: DEBUG missing output stream type (STDOUT, STDERR, ALL)"),
    ("SCRIPT DEBUG script.out UNKNOWN", f"{FP} SCRIPT command: Unknown DEBUG output stream type 'UNKNOWN'"),
    ("SCRIPT PRE", f"{FP} SCRIPT command: No node name specified"),
    ("SCRIPT PRE A", f"{FP} SCRIPT command: No script specified"),
    ("SCRIPT PRE A       ", f"{FP} SCRIPT command: No script specified"),
    ("SCRIPT DEFER 1 2", f"{FP} SCRIPT command: Missing script type"),
    ("SCRIPT MIDDLE A x.sh", f"{FP} SCRIPT command: Unknown script type 'MIDDLE'"),
    ("SCRIPT POST Z x.sh", f"{FP} SCRIPT command: Unknown node 'Z'"),
    # RETRY
    ("RETRY", f"{FP} RETRY command: No node name specified"),
    ("RETRY A", f"{FP} RETRY command: Missing max retry value"),
    ("RETRY A foo", f"{FP} RETRY command: Invalid max retry value 'foo' (Must be positive integer)"),
    ("RETRY A -1", f"{FP} RETRY command: Invalid max retry value '-1' (Must be positive integer)"),
    ("RETRY A 1 garbage", f"{FP} RETRY command: Unexpected token 'garbage'"),
    ("RETRY A 1 UNLESS-EXIT", f"{FP} RETRY command: UNLESS-EXIT missing exit code"),
    ("RETRY A 1 UNLESS-EXIT foo", f"{FP} RETRY command: Invalid UNLESS-EXIT code 'foo' specified"),
    ("RETRY A 1 UNLESS-EXIT 1 garbage", f"{FP} RETRY command: Unexpected token 'garbage'"),
    ("RETRY F 1", f"{FP} RETRY command: RETRY cannot be used on the FINAL node F"),
    ("RETRY Z 1", f"{FP} RETRY command: Unknown node 'Z'"),
    # ABORT-DAG-ON
    ("ABORT_DAG_ON", f"{FP} ABORT_DAG_ON command: No node name specified"),
    ("ABORT_DAG_ON A", f"{FP} ABORT_DAG_ON command: Missing exit status to abort on"),
    ("ABORT_DAG_ON A foo", f"{FP} ABORT_DAG_ON command: Invalid exit status 'foo' specified"),
    ("ABORT_DAG_ON A 1 garbage", f"{FP} ABORT_DAG_ON command: Unexpected token 'garbage'"),
    ("ABORT_DAG_ON A 1 RETURN", f"{FP} ABORT_DAG_ON command: RETURN is missing value"),
    ("ABORT_DAG_ON A 1 RETURN foo", f"{FP} ABORT_DAG_ON command: Invalid RETURN code 'foo' (Must be between 0 and 255)"),
    ("ABORT-DAG-ON A 1 RETURN 256", f"{FP} ABORT_DAG_ON command: Invalid RETURN code '256' (Must be between 0 and 255)"),
    ("ABORT_DAG_ON A 1 RETURN 1 garbage", f"{FP} ABORT_DAG_ON command: Unexpected token 'garbage'"),
    ("ABORT-DAG-ON F 1", f"{FP} ABORT_DAG_ON command: ABORT_DAG_ON cannot be used on the FINAL node F"),
    # VARS
    ("VARS", f"{FP} VARS command: No node name specified"),
    ("VARS A no-pair", f"{FP} VARS command: Non key=value token specified: no-pair"),
    ("VARS A +='testing 123'", f"{FP} VARS command: Variable name must contain at least one alphanumeric character"),
    ("VARS A QUEUE_invalid=1", f"{FP} VARS command: Illegal variable name 'QUEUE_invalid': name can not begin with 'queue'"),
    ("VARS A", f"{FP} VARS command: No key=value pairs specified"),
    ("VARS A PREPEND", f"{FP} VARS command: No key=value pairs specified"),
    ("VARS A foo =", f"{FP} VARS command: No value specified for variable 'foo'"),
    ("VARS A foo", f"{FP} VARS command: Non key=value token specified: foo"),
    ("VARS A a=1 b", f"{FP} VARS command: Non key=value token specified: b"),
    ("VARS Z a=1", f"{FP} VARS command: Unknown node 'Z'"),
    # PRIORITY / PRE_SKIP / CATEGORY / MAXJOBS
    ("PRIORITY", f"{FP} PRIORITY command: No node name specified"),
    ("PRIORITY A", f"{FP} PRIORITY command: Missing priority value"),
    ("PRIORITY A foo", f"{FP} PRIORITY command: Invalid priority value 'foo'"),
    ("PRIORITY A 1 garbage", f"{FP} PRIORITY command: Unexpected token 'garbage'"),
    ("PRIORITY F 1", f"{FP} PRIORITY command: PRIORITY cannot be used on the FINAL node F"),
    ("PRE_SKIP", f"{FP} PRE_SKIP command: No node name specified"),
    ("PRE_SKIP A", f"{FP} PRE_SKIP command: Missing exit code"),
    ("PRE_SKIP A foo", f"{FP} PRE_SKIP command: Invalid exit code 'foo'"),
    ("PRE_SKIP A 1 garbage", f"{FP} PRE_SKIP command: Unexpected token 'garbage'"),
    ("CATEGORY", f"{FP} CATEGORY command: No node name specified"),
    ("CATEGORY A", f"{FP} CATEGORY command: No category name specified"),
    ("CATEGORY A FOO garbage", f"{FP} CATEGORY command: Unexpected token 'garbage'"),
    ("CATEGORY F cat", f"{FP} CATEGORY command: CATEGORY cannot be used on the FINAL node F"),
    ("MAXJOBS", f"{FP} MAXJOBS command: No category name specified"),
    ("MAXJOBS FOO", f"{FP} MAXJOBS command: No throttle limit specified"),
    ("MAXJOBS FOO foo", f"{FP} MAXJOBS command: Invalid throttle limit 'foo'"),
    ("MAXJOBS FOO -1", f"{FP} MAXJOBS command: Invalid throttle limit '-1'"),
    ("MAXJOBS FOO 1 garbage", f"{FP} MAXJOBS command: Unexpected token 'garbage'"),
    # SAVE_POINT_FILE / TOLERANCE / DONE
    ("SAVE_POINT_FILE", f"{FP} SAVE_POINT_FILE command: No node name specified"),
    ("SAVE_POINT_FILE A file garbage", f"{FP} SAVE_POINT_FILE command: Unexpected token 'garbage'"),
    ("SAVE_POINT_FILE ALL_NODES", f"{FP} SAVE_POINT_FILE command: ALL_NODES cannot be used with SAVE_POINT_FILE"),
    ("SAVE_POINT_FILE F", f"{FP} SAVE_POINT_FILE command: SAVE_POINT_FILE cannot be used on the FINAL node F"),
    ("TOLERANCE", f"{FP} TOLERANCE command: No node name specified"),
    ("TOLERANCE A", f"{FP} TOLERANCE command: Missing job failure tolerance value"),
    ("TOLERANCE A lots", f"{FP} TOLERANCE command: Invalid job failure tolerance value 'lots'"),
    ("TOLERANCE A 2 SOMETIMES", f"{FP} TOLERANCE command: Unexpected token 'SOMETIMES'"),
    ("DONE", f"{FP} DONE command: No node name specified"),
    ("DONE A garbage", f"{FP} DONE command: Unexpected token 'garbage'"),
    ("DONE Z", f"{FP} DONE command: Unknown node 'Z'"),
    # files and submit-time commands
    ("CONFIG", f"{FP} CONFIG command: No configuration file specified"),
    ("CONFIG file garbage", f"{FP} CONFIG command: Unexpected token 'garbage'"),
    ("DOT", f"{FP} DOT command: No file specified"),
    ("DOT file garbage", f"{FP} DOT command: Unexpected token 'garbage'"),
    ("DOT file INCLUDE", f"{FP} DOT command: Missing INCLUDE header file"),
    ("NODE_STATUS_FILE", f"{FP} NODE_STATUS_FILE command: No file specified"),
    ("NODE_STATUS_FILE file garbage", f"{FP} NODE_STATUS_FILE command: Unexpected token 'garbage'"),
    ("ENV", f"{FP} ENV command: Missing action (SET or GET) and variables"),
    ("ENV garbage", f"{FP} ENV command: Unexpected token 'garbage'"),
    ("ENV SET", f"{FP} ENV command: No environment variables provided"),
    ("ENV GET     ", f"{FP} ENV command: No environment variables provided"),
    ("INCLUDE", f"{FP} INCLUDE command: No include file specified"),
    ("INCLUDE file garbage", f"{FP} INCLUDE command: Unexpected token 'garbage'"),
    ("INCLUDE missing.dag", f"{FP} INCLUDE command: Include file missing.dag does not exist"),
    ("INCLUDE t.dag", f"{FP} INCLUDE command: Recursive INCLUDE of file t.dag"),
    ("JOBSTATE_LOG", f"{FP} JOBSTATE_LOG command: No include file specified"),
    ("JOBSTATE_LOG file garbage", f"{FP} JOBSTATE_LOG command: Unexpected token 'garbage'"),
    ("SET_JOB_ATTR", f"{FP} SET_JOB_ATTR command: No attribute line (key = value) provided"),
    ("REJECT garbage", f"{FP} REJECT command: Unexpected token 'garbage'"),
    ("DNE blah blah blah blah", "'DNE' is not a valid DAG command"),
    ("DATA A a.sub", "'DATA' is not a valid DAG command"),
    ("NODE A a.sub", "'NODE' is not a valid DAG command"),
    ("JOB A a.sub # trailing comment", f"{FP} JOB command: Unexpected token '#'"),
    ("JOB X 'x.sub", "Invalid quoting"),
    # SUBMIT-DESCRIPTION, CONNECT, PIN_IN / PIN_OUT
    ("SUBMIT_DESCRIPTION", f"{FP} SUBMIT_DESCRIPTION command: No submit description name provided"),
    ("SUBMIT_DESCRIPTION foo", f"{FP} SUBMIT_DESCRIPTION command: No inline description provided"),
    ("SUBMIT_DESCRIPTION foo non-inline-tag", f"{FP} SUBMIT_DESCRIPTION command: No inline description provided"),
    ("SUBMIT-DESCRIPTION foo @=end", f"{FP} SUBMIT_DESCRIPTION command: Missing inline description closing token: @end"),
    ("CONNECT", f"{FP} CONNECT command: Missing splice(s) to connect"),
    ("CONNECT s1", f"{FP} CONNECT command: Missing splice(s) to connect"),
    ("CONNECT s1 s2 garbage", f"{FP} CONNECT command: Unexpected token 'garbage'"),
    ("CONNECT A B", f"{FP} CONNECT command: Splice 'A' not found (only splices can be connected)"),
    ("PIN_IN", f"{FP} PIN_IN command: No node name specified"),
    ("PIN_OUT A", f"{FP} PIN_OUT command: No pin number specified"),
    ("PIN_IN A foo", f"{FP} PIN_IN command: Invalid pin number 'foo'"),
    ("PIN_IN A 0", f"{FP} PIN_IN command: Invalid pin number '0'"),
    ("PIN_OUT A 1 garbage", f"{FP} PIN_OUT command: Unexpected token 'garbage'"),
    ("PIN_IN Z 1", f"{FP} PIN_IN command: Unknown node 'Z'"),
]

Check = Callable[[DagSpec], bool]
VALID: list[tuple[str, Check]] = [
    ("REJECT", lambda s: s.reject is not None and s.reject.endswith(f"t.dag:{TEST_LINE}")),
    ("JOB X foo.sub", lambda s: s.nodes["X"].submit == "foo.sub"),
    ("JOB X foo.sub DIR subdir/test NOOP", lambda s: s.nodes["X"].directory == "subdir/test" and s.nodes["X"].noop),
    ("JOB X bar.sub DONE", lambda s: s.nodes["X"].done),
    ("Job \"Q\" q.sub", lambda s: '"Q"' in s.nodes),
    ("JOB X {\n    executable = /bin/sleep\n    queue 1\n} NOOP DIR foo",
     lambda s: s.nodes["X"].inline_submit == ["executable = /bin/sleep", "queue 1"] and s.nodes["X"].noop
     and s.nodes["X"].directory == "foo"),
    ("PROVISIONER E foo.sub", lambda s: s.provisioner == "E" and s.nodes["E"].kind == "PROVISIONER"),
    ("SERVICE G testing.sub DIR one/two/three", lambda s: s.services["G"].directory == "one/two/three"
     and "G" not in s.nodes),
    ("SUBDAG EXTERNAL INNER test.dag DIR subdir NOOP DONE", lambda s: s.nodes["INNER"].is_subdag
     and s.nodes["INNER"].done and s.nodes["INNER"].noop),
    ("SPLICE sp splice.dag", lambda s: "sp+X" in s.nodes and s.splices["sp"].initial == ["sp+X"]),
    ("SPLICE sp splice.dag DIR sub", lambda s: s.nodes["sp+X"].directory == "sub/xdir"),
    ("SUBMIT_DESCRIPTION echo-desc @=desc\n    executable = /bin/echo\n\n   \n    queue 10\n@desc\nJOB E echo-desc",
     lambda s: s.nodes["E"].inline_submit == ["executable = /bin/echo", "queue 10"]),
    ("PARENT A CHILD B", lambda s: s.nodes["B"].parents == ["A"]),
    ("Parent \\\n  A Child B C", lambda s: s.nodes["C"].parents == ["A"] and s.nodes["B"].parents == ["A"]),
    ("WEAK PARENT A CHILD B", lambda s: s.nodes["B"].weak_parents == {"A"}),
    ("SCRIPT DEFER 3 20 DEBUG foo ALL PRE A my.sh", lambda s: s.nodes["A"].pre is not None
     and (s.nodes["A"].pre.defer_status, s.nodes["A"].pre.debug_file) == (3, "foo")),
    ('SCRIPT DEBUG bar STDOUT DEFER 8 100 PRE B my.sh $NODES "this is a test"',
     lambda s: s.nodes["B"].pre is not None and s.nodes["B"].pre.command == 'my.sh $NODES "this is a test"'),
    ("SCRIPT DEFER 5 10 POST C my.sh 1 1 testing", lambda s: s.nodes["C"].post is not None
     and s.nodes["C"].post.defer_time == 10),
    ("SCRIPT DEBUG script.err STDERR POST A my.sh", lambda s: s.nodes["A"].post is not None
     and s.nodes["A"].post.debug_type == "STDERR"),
    ("SCRIPT HOLD A my.sh", lambda s: s.nodes["A"].hold is not None and any("HOLD" in n for n in s.notes)),
    ("RETRY A 100 UNLESS-EXIT 2", lambda s: (s.nodes["A"].retries, s.nodes["A"].unless_exit) == (100, 2)),
    ("RETRY ALL_NODES 3", lambda s: s.nodes["C"].retries == 3 and s.nodes["F"].retries == 0),
    ("ABORT-DAG-ON B 32 RETURN 8", lambda s: (s.nodes["B"].abort_on, s.nodes["B"].abort_return) == (32, 8)),
    ("ABORT_DAG_ON C 5", lambda s: (s.nodes["C"].abort_on, s.nodes["C"].abort_return) == (5, None)),
    ("VARS A PREPEND foo = Bar    baz= foo  k=v a =32",
     lambda s: s.nodes["A"].vars == {"foo": "Bar", "baz": "foo", "k": "v", "a": "32"}),
    ("VARS B APPEND a =\"woah =!= UNDEFINED\" test='12\\'34'",
     lambda s: s.nodes["B"].append_vars == {"a": "woah =!= UNDEFINED", "test": "12'34"}),
    ("VARS ALL_NODES +Site=\"T2\"", lambda s: s.nodes["A"].vars == {"My.Site": "T2"}),
    ("PRIORITY A -82", lambda s: s.nodes["A"].priority == -82),
    ("PRE-SKIP A 12", lambda s: s.nodes["A"].pre_skip == 12),
    ("SAVE-POINT-FILE B", lambda s: s.nodes["B"].save_file == "B-t.dag.save"),
    ("SAVE_POINT_FILE C ../custom/path/important.save", lambda s: s.nodes["C"].save_file == "../custom/path/important.save"),
    ("CATEGORY C CAT-1\nMAXJOBS CAT-1 2", lambda s: s.nodes["C"].category == "CAT-1" and s.maxjobs == {"CAT-1": 2}),
    ("CONFIG /path/to/custom/dag.conf", lambda s: s.config_file == "/path/to/custom/dag.conf"),
    ("DOT visual.dot", lambda s: s.dot is not None and (s.dot.update, s.dot.overwrite) == (False, True)),
    ("DOT visual-2.dot UPDATE OVERWRITE", lambda s: s.dot is not None and s.dot.update and s.dot.overwrite),
    ("DOT visual-3.dot DONT-UPDATE DONT-OVERWRITE INCLUDE ../path/to/header.dot",
     lambda s: s.dot is not None and not s.dot.overwrite and s.dot.include == "../path/to/header.dot"),
    ("NODE_STATUS_FILE foo 82 ALWAYS-UPDATE 1000", lambda s: (s.node_status_file, s.status_interval,
                                                              s.status_always_update) == ("foo", 1000.0, True)),
    ("ENV SET   foo bar baz", lambda s: s.env == ["SET   foo bar baz"]),
    ("ENV GET  foo=bar;baz=10;", lambda s: s.env == ["GET  foo=bar;baz=10;"]),
    ("DONE A", lambda s: s.nodes["A"].done),
    ("INCLUDE inc.dag", lambda s: "I" in s.nodes),
    ("JOBSTATE_LOG some.log", lambda s: s.jobstate_log == "some.log"),
    ("SET_JOB_ATTR foo=bar", lambda s: s.job_attrs == {"foo": "bar"}),
    ("TOLERANCE A 10% FAIL-FAST", lambda s: (s.nodes["A"].tolerance, s.nodes["A"].tolerance_pct,
                                             s.nodes["A"].fail_fast) == (10, True, True)),
    ("TOLERANCE ALL_NODES 2 WAIT", lambda s: s.nodes["B"].tolerance == 2 and s.nodes["B"].fail_fast is False),
    ("SPLICE p1 pins_out.dag\nSPLICE p2 pins_in.dag\nCONNECT p1 p2",
     lambda s: s.nodes["p2+In"].parents == ["p1+Out"]),
    ("SPLICE outer outer.dag", lambda s: "outer+mid+X" in s.nodes and "outer+mid" in s.splices),
    ("SPLICE sp splice.dag\nPARENT A CHILD sp\nPARENT sp CHILD B",
     lambda s: s.nodes["sp+X"].parents == ["A"] and s.nodes["B"].parents == ["sp+X"]),
]


def _files(root: Path) -> None:
    (root / "splice.dag").write_text("JOB X x.sub DIR xdir\nCATEGORY X cat\n")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "splice.dag").write_text("JOB X x.sub DIR xdir\n")
    (root / "final_splice.dag").write_text("JOB X x.sub\nFINAL G g.sub\n")
    (root / "inc.dag").write_text("JOB I i.sub\n")
    (root / "pins_out.dag").write_text("JOB Out o.sub\nPIN_OUT Out 1\n")
    (root / "pins_in.dag").write_text("JOB In i.sub\nPIN_IN In 1\n")
    (root / "outer.dag").write_text("SPLICE mid splice.dag\n")


def _dag(tmp_path: Path, line: str) -> Path:
    _files(tmp_path)
    path = tmp_path / "t.dag"
    path.write_text(PRELUDE + line + "\n")
    return path


def test_table_sizes() -> None:
    assert len(INVALID) >= 100 and len(VALID) >= 30


@pytest.mark.parametrize(("line", "reason"), INVALID, ids=[f"bad{i}" for i in range(len(INVALID))])
def test_invalid_line_is_refused_with_file_line_and_reason(tmp_path: Path, line: str, reason: str) -> None:
    dag = _dag(tmp_path, line)
    with pytest.raises(DagParseError) as info:
        parse_dag(dag)
    prefix = f"{dag}:{TEST_LINE}: "
    matching = [e for e in info.value.errors if e.startswith(prefix)]
    assert matching, info.value.errors
    assert any(e[len(prefix):].startswith(reason) for e in matching), (reason, matching)


@pytest.mark.parametrize(("line", "check"), VALID, ids=[f"ok{i}" for i in range(len(VALID))])
def test_valid_line_parses_to_its_meaning(tmp_path: Path, line: str, check: Check) -> None:
    spec = parse_dag(_dag(tmp_path, line))
    assert check(spec)


def test_final_inside_a_splice_is_refused_at_the_splice_line(tmp_path: Path) -> None:
    dag = _dag(tmp_path, "SPLICE fin final_splice.dag")
    with pytest.raises(DagParseError) as info:
        parse_dag(dag)
    assert info.value.errors == [f"{tmp_path / 'final_splice.dag'}:2: Failed to parse FINAL command: "
                                 "FINAL node G is not allowed in a splice"]


def test_final_done_is_ignored_with_a_note(tmp_path: Path) -> None:
    spec = parse_dag(_dag(tmp_path, "DONE F"))
    assert not spec.nodes["F"].done and any("DONE is ignored for FINAL node F" in n for n in spec.notes)
