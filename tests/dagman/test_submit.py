"""Submit description parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from wms2.dagman.submit import SubmitError, parse_environment, parse_submit, split_arguments


def test_macros_vars_include_and_attrs(tmp_path: Path) -> None:
    (tmp_path / "proc_1.override.sub").write_text('+DESIRED_Sites = "T2_X"\nrequest_memory = 3000\n')
    sub = tmp_path / "proc.sub"
    sub.write_text(
        "# comment\n"
        "executable = ../sandbox/wms2-job\n"
        'arguments = "run --manifest manifest.json --node $(node)"\n'
        "request_memory = 2000\n"
        "Output = $(node).out\n"
        "+CMS_NodeRole = \"Processing\"\n"
        "My.WMS2_Round = 3\n"
        "long = a \\\n   b\n"
        "fallback = $(missing:dflt) $ENV(WMS2_TEST_ENV_VALUE:none)\n"
        "include : $(node).override.sub\n"
        "queue 2\n"
        "after_queue = ignored\n"
    )
    desc = parse_submit(sub, prepend={"node": "proc_1", "request_memory": "99"}, append={"extra": "x"})
    assert desc.get("arguments") == '"run --manifest manifest.json --node proc_1"'
    assert desc.get("request_memory") == "3000"  # include came later and overrides
    assert desc.get("output") == "proc_1.out"
    assert desc.get("long") == "a b"
    assert desc.get("fallback") == "dflt none"
    assert desc.expanded_attrs() == {"CMS_NodeRole": '"Processing"', "WMS2_Round": "3", "DESIRED_Sites": '"T2_X"'}
    assert desc.queue_count == 2 and desc.get("after_queue") is None and desc.get("extra") == "x"


def test_prepended_vars_are_overridden_appended_ones_win(tmp_path: Path) -> None:
    sub = tmp_path / "a.sub"
    sub.write_text("x = file\nqueue\n")
    assert parse_submit(sub, prepend={"x": "var"}).get("x") == "file"
    assert parse_submit(sub, append={"x": "var"}).get("x") == "var"


def test_arguments_both_syntaxes() -> None:
    assert split_arguments("\"a 'b c' \"\"q\"\" d\"") == ["a", "b c", '"q"', "d"]
    assert split_arguments("a b\\\"c") == ["a", 'b"c']
    assert split_arguments('"one \'it\'\'s\' two"') == ["one", "it's", "two"]
    assert parse_environment('"A=1 B=\'x y\'"') == {"A": "1", "B": "x y"}
    assert parse_environment("A=1;B=2") == {"A": "1", "B": "2"}


def test_errors_name_the_file(tmp_path: Path) -> None:
    sub = tmp_path / "bad.sub"
    sub.write_text("executable = x\nthis line is wrong\n")
    with pytest.raises(SubmitError, match=r"bad\.sub:2"):
        parse_submit(sub)
    with pytest.raises(SubmitError, match="cannot read"):
        parse_submit(tmp_path / "missing.sub")
