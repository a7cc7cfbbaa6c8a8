"""``wms2-job`` reads well-formed command lines without argparse (test-speed.md, H7): whenever the quick
path answers, argparse would have answered the same; everything else goes to argparse."""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wms2.sandbox.cli import _parser, _quick_args


def _argparse(argv: list[str]) -> dict[str, str] | None:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return vars(_parser().parse_args(argv))
        except SystemExit:
            return None


@pytest.mark.parametrize("argv", [
    ["pre", "proc_000001"],
    ["post", "proc_000001", "0", "0", "3"],
    ["post", "proc_000001", "-9", "1", "3"],
    ["post", "landing", "-1002", "0", "3"],
    ["land"],
    ["run", "--manifest", "manifest.json", "--node", "proc_000000"],
    ["merge", "--manifest", "manifest.json"],
    ["cleanup", "--manifest", "/abs/manifest.json"],
    ["post", "merge", "", "0", "2"],
])
def test_the_dag_command_lines_take_the_quick_path(argv: list[str]) -> None:
    quick = _quick_args(argv)
    assert quick is not None and quick == _argparse(argv)


@pytest.mark.parametrize("argv", [
    [], ["-h"], ["pre"], ["pre", "-h"], ["pre", "a", "b"], ["land", "x"], ["post", "n", "0", "0"],
    ["run", "--node", "n", "--manifest", "m"], ["run", "--manifest=m", "--node", "n"],
    ["run", "--man", "m", "--node", "n"],
    ["merge", "--manifest", "--"], ["post", "n", "-x", "0", "3"], ["post", "n", "-", "0", "3"], ["bogus", "x"],
])
def test_anything_else_goes_to_argparse(argv: list[str]) -> None:
    assert _quick_args(argv) is None


TOKENS = st.one_of(
    st.sampled_from(["pre", "post", "land", "run", "merge", "cleanup", "--manifest", "--node", "--", "-", "-h",
                     "--help", "-9", "-1.5", "--man", "-x", "", "0", "proc_000001", "a b", "-²", "-٣"]),
    st.text(max_size=6),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(TOKENS, max_size=6))
def test_quick_path_agrees_with_argparse(argv: list[str]) -> None:
    quick = _quick_args(argv)
    if quick is not None:
        assert quick == _argparse(argv)
