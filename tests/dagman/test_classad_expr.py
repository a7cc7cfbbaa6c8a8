"""The ClassAd subset evaluator, checked against classad2 on generated expressions."""

from __future__ import annotations

import classad2
from hypothesis import given, settings
from hypothesis import strategies as st

from wms2.engines.local.classad_expr import UNDEFINED, ClassAd, evaluate


def test_requirements_clauses_wms2_writes() -> None:
    job = ClassAd({"DESIRED_Sites": '"T2_A,T1_B"', "Requirements":
                   '(TARGET.GLIDEIN_CMSSite =!= "T3_BANNED") && stringListMember(GLIDEIN_CMSSite, DESIRED_Sites)'
                   ' && !member(GLIDEIN_CMSSite, {"T2_X", "T2_Y"})'})
    assert job.eval("Requirements", ClassAd.from_literals({"GLIDEIN_CMSSite": "T2_A"})) is True
    assert job.eval("Requirements", ClassAd.from_literals({"GLIDEIN_CMSSite": "T2_X"})) is False
    assert job.eval("Requirements", ClassAd.from_literals({"GLIDEIN_CMSSite": "T3_C"})) is False
    assert job.eval("Requirements", ClassAd.from_literals({})) is UNDEFINED


def test_periodic_remove_clause() -> None:
    job = ClassAd({"JobStatus": "2", "EnteredCurrentStatus": "0", "MaxWallTimeMins": "10"})
    assert evaluate("(JobStatus == 2) && (time() - EnteredCurrentStatus > MaxWallTimeMins * 60)", job) is True
    assert evaluate("(JobStatus == 5) && (time() - EnteredCurrentStatus > 86400)", job) is False
    assert evaluate("undefined || true") is True and evaluate("undefined && false") is False
    assert evaluate("undefined =?= undefined") is True and evaluate('"a" == "A"') is True
    assert evaluate('"a" =?= "A"') is False and evaluate("x > 1") is UNDEFINED


def test_wms2_periodic_remove_with_reason() -> None:
    held = "(JobStatus == 5 && time() - EnteredCurrentStatus > 86400)"
    idle = "(JobStatus == 1 && time() - EnteredCurrentStatus > 259200)"
    disk = "(JobStatus == 2 && DiskUsage > 2.0 * RequestDisk)"
    wall = "(JobStatus == 2 && time() - JobCurrentStartDate > 3600)"
    reason = (f'ifThenElse({held}, "held", ifThenElse({idle}, "idle", ifThenElse({disk}, "disk", '
              f'ifThenElse({wall}, "wall time above 3600 s", "removed by periodic_remove"))))')
    job = ClassAd({"PeriodicRemove": f"{held} || {idle} || {disk} || {wall}", "PeriodicRemoveReason": reason,
                   "JobStatus": "2", "EnteredCurrentStatus": "0", "JobCurrentStartDate": "0",
                   "RequestDisk": "1000"})
    assert job.eval("PeriodicRemove") is True  # DiskUsage is undefined; the wall-time clause decides
    assert job.eval("PeriodicRemoveReason") is UNDEFINED  # as in HTCondor: ifThenElse(UNDEFINED, ...)
    job.set_value("DiskUsage", 10)  # the pool always sets it, like condor_submit
    assert job.eval("PeriodicRemoveReason") == "wall time above 3600 s"
    job.set_value("JobCurrentStartDate", 10**12)
    assert job.eval("PeriodicRemove") is not True


_leaf = st.one_of(st.integers(-20, 20).map(str), st.sampled_from(["true", "false", "undefined", "x", "y"]))


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    ops = ["&&", "||", "==", "!=", "=?=", "=!=", "<", ">=", "+", "-", "*"]
    return st.one_of(
        st.tuples(children, st.sampled_from(ops), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        children.map(lambda c: f"!({c})"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.recursive(_leaf, _combine, max_leaves=8))
def test_agrees_with_classad2(expr: str) -> None:
    ad = classad2.ClassAd({"x": 3, "y": True})
    theirs = classad2.ExprTree(expr).eval(ad)
    ours = evaluate(expr, ClassAd.from_literals({"x": 3, "y": True}))
    if isinstance(theirs, classad2.Value):  # UNDEFINED or ERROR: ours must not claim TRUE/FALSE/number
        if theirs == classad2.Value.Undefined:
            assert ours is UNDEFINED
        return
    if ours is UNDEFINED:
        raise AssertionError(f"{expr}: classad2 gives {theirs!r}, we give UNDEFINED")
    assert ours == theirs and isinstance(ours, bool) == isinstance(theirs, bool), expr
